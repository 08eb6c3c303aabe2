package e2e

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// failsWithOneLine checks that a failed command exited 1 with nothing on stdout and
// exactly one line on stderr holding every want.
func failsWithOneLine(t *testing.T, what string, code int, stdout, stderr string, want ...string) {
	t.Helper()
	if code != 1 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "gatehouse: ") {
		t.Errorf("%s: exit %d, stdout %q, stderr %q: want exit 1 and one line on stderr", what, code, stdout, stderr)
		return
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("%s: stderr %q does not name %q", what, stderr, w)
		}
	}
}

// dirEntries lists a directory ("" when it does not exist).
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestServePortTakenWritesNothing: with a port already taken (held by this
// test), `gatehouse serve` on an empty storage.dir exits 1 with one line
// naming the key and the address, and writes nothing: no data directory, so
// no gatehouse.db, secret.key or admin.sock. The listeners are bound before
// the database is opened and handed to the server, not probed and closed.
func TestServePortTakenWritesNothing(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	for _, key := range []string{"server.listen", "server.metrics_listen", "admin.listen"} {
		t.Run(key, func(t *testing.T) {
			root := t.TempDir()
			data := filepath.Join(root, "data")
			env := []string{"GATEHOUSE_STORAGE__DIR=" + data, "GATEHOUSE_SERVER__LISTEN=" + FreePort(t)}
			env = append(env, "GATEHOUSE_"+strings.ToUpper(strings.ReplaceAll(key, ".", "__"))+"="+addr)
			code, out, errOut := runExit(t, env, "serve")
			failsWithOneLine(t, "serve with "+key+" taken", code, out, errOut, key+" "+addr+": address already in use")
			if got := dirEntries(t, root); len(got) != 0 {
				t.Errorf("serve with %s taken wrote %v", key, got)
			}
		})
	}
}

// TestServeStartupFailuresNameTheFile: each file or socket `gatehouse serve`
// cannot use stops it with one line naming it; what can be checked without
// writing (certificate, key file, socket path) is checked before the
// database is created.
func TestServeStartupFailuresNameTheFile(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(t.TempDir(), strings.Repeat("s", 110), "admin.sock")
	for _, tc := range []struct {
		name    string
		env     func(root, data string) []string
		prepare func(t *testing.T, data string)
		want    func(root, data string) []string
		leaves  []string // what the data directory may hold afterwards
	}{
		{name: "missing config file",
			env: func(root, _ string) []string { return []string{"GATEHOUSE_CONFIG=" + filepath.Join(root, "nope.toml")} },
			want: func(root, _ string) []string {
				return []string{"config " + filepath.Join(root, "nope.toml") + ": ", "no such file"}
			}},
		{name: "broken TOML",
			prepare: func(t *testing.T, data string) {
				mustWrite(t, filepath.Join(filepath.Dir(data), "bad.toml"), "[session]\nttl = 8h\n")
			},
			env: func(root, _ string) []string { return []string{"GATEHOUSE_CONFIG=" + filepath.Join(root, "bad.toml")} },
			want: func(root, _ string) []string {
				return []string{"config " + filepath.Join(root, "bad.toml") + ":2:8: toml: "}
			},
			leaves: []string{"bad.toml"}},
		{name: "missing certificate",
			env: func(root, _ string) []string {
				return []string{"GATEHOUSE_SERVER__TLS_CERT=" + filepath.Join(root, "tls.crt"), "GATEHOUSE_SERVER__TLS_KEY=" + garbage}
			},
			want: func(root, _ string) []string {
				return []string{"server.tls_cert " + filepath.Join(root, "tls.crt") + ": no such file or directory"}
			}},
		{name: "certificate not PEM",
			env: func(string, string) []string {
				return []string{"GATEHOUSE_SERVER__TLS_CERT=" + garbage, "GATEHOUSE_SERVER__TLS_KEY=" + garbage}
			},
			want: func(string, string) []string {
				return []string{"server.tls_cert " + garbage, "server.tls_key " + garbage, "PEM"}
			}},
		{name: "socket path too long",
			env: func(string, string) []string { return []string{"GATEHOUSE_ADMIN__SOCKET=" + long} },
			want: func(string, string) []string {
				return []string{"admin.socket " + long + ": the path is", "longer than"}
			}},
		{name: "socket directory is a file",
			prepare: func(t *testing.T, data string) { mustWrite(t, filepath.Join(filepath.Dir(data), "file"), "") },
			env: func(root, _ string) []string {
				return []string{"GATEHOUSE_ADMIN__SOCKET=" + filepath.Join(root, "file", "admin.sock")}
			},
			want: func(root, _ string) []string {
				return []string{"admin.socket " + filepath.Join(root, "file", "admin.sock"), "is not a directory"}
			},
			leaves: []string{"file"}},
		{name: "damaged secret.key",
			prepare: func(t *testing.T, data string) { mustWrite(t, filepath.Join(data, "secret.key"), "short\n") },
			want: func(_, data string) []string {
				return []string{"encryption key file " + filepath.Join(data, "secret.key")}
			},
			leaves: []string{"data", "data/secret.key"}},
		{name: "secret.key is a directory",
			prepare: func(t *testing.T, data string) { mustMkdir(t, filepath.Join(data, "secret.key")) },
			want: func(_, data string) []string {
				return []string{"encryption key file " + filepath.Join(data, "secret.key") + ": cannot read it: is a directory"}
			},
			leaves: []string{"data", "data/secret.key"}},
		{name: "corrupt database",
			prepare: func(t *testing.T, data string) {
				mustWrite(t, filepath.Join(data, "gatehouse.db"), strings.Repeat("\xa5", 4096))
			},
			want: func(_, data string) []string {
				return []string{"open database " + filepath.Join(data, "gatehouse.db"), "not a bbolt database"}
			},
			leaves: []string{"data", "data/gatehouse.db"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			data := filepath.Join(root, "data")
			if tc.prepare != nil {
				tc.prepare(t, data)
			}
			env := []string{"GATEHOUSE_STORAGE__DIR=" + data, "GATEHOUSE_SERVER__LISTEN=" + FreePort(t)}
			if tc.env != nil {
				env = append(env, tc.env(root, data)...)
			}
			code, out, errOut := runExit(t, env, "serve")
			failsWithOneLine(t, tc.name, code, out, errOut, tc.want(root, data)...)
			if got, want := dirTree(t, root), strings.Join(tc.leaves, " "); got != want {
				t.Errorf("%s: the directory holds [%s] afterwards, want [%s]", tc.name, got, want)
			}
		})
	}
}

// TestServeDatabaseInUse: a second `gatehouse serve` on the data directory
// of a running one (other port, same database) stops within seconds, saying
// the database file is in use and naming it, and leaves the running
// server's admin socket alone.
func TestServeDatabaseInUse(t *testing.T) {
	s := Start(t, "")
	start := time.Now()
	code, out, errOut := runExit(t, []string{"GATEHOUSE_SERVER__LISTEN=" + FreePort(t)}, "serve", "--config", s.Config)
	failsWithOneLine(t, "second serve", code, out, errOut,
		"open database "+filepath.Join(s.Dir, "gatehouse.db")+": in use by another process", "gatehouse serve")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the second serve took %s: the lock wait must be bounded", d)
	}
	if code, _ := s.API("GET", "/api/v1/health", nil); code != 200 {
		t.Errorf("the running server's socket: health %d after the second serve", code)
	}
}

// TestCLINamesTheAdminSocket: every command that needs the admin socket,
// run when no server answers on it, exits 1 with one line naming the socket
// and what is wrong with it: missing, not a socket, refused (left by a
// server that died), permission denied.
func TestCLINamesTheAdminSocket(t *testing.T) {
	commands := [][]string{
		{"api", "GET", "/api/v1/orgs"},
		{"orgs", "list"},
		{"tenants", "list", "--org", "acme"},
		{"partners", "list", "--org", "acme"},
		{"users", "list", "--org", "acme"},
		{"keys", "list", "--org", "acme", "--partner", "p1"},
		{"admin-tokens", "list", "--org", "acme"},
	}
	dir := socketDir(t)
	missing := filepath.Join(dir, "missing.sock")
	file := filepath.Join(dir, "file.sock")
	mustWrite(t, file, "")
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false) // what a killed server leaves behind
	ln.Close()
	cases := []struct{ name, socket, want string }{
		{"missing", missing, "no such socket"},
		{"not a socket", file, "not a socket"},
		{"stale", stale, "connection refused"},
	}
	for _, tc := range cases {
		for _, args := range commands {
			code, out, errOut := runExit(t, []string{"GATEHOUSE_ADMIN__SOCKET=" + tc.socket}, args...)
			failsWithOneLine(t, tc.name+": "+strings.Join(args, " "), code, out, errOut, "admin socket "+tc.socket+": "+tc.want)
		}
	}

	// Permission denied: a live socket of another user (root's 0600 socket
	// run as nobody), or with no permission at all for a non-root run.
	denied := filepath.Join(dir, "denied.sock")
	live, err := net.Listen("unix", denied)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	go func() {
		for {
			c, err := live.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	mode := os.FileMode(0o600)
	if os.Geteuid() != 0 {
		mode = 0
	}
	if err := os.Chmod(denied, mode); err != nil {
		t.Fatal(err)
	}
	for _, args := range commands {
		code, out, errOut := runAsOther(t, dir, []string{"GATEHOUSE_ADMIN__SOCKET=" + denied}, args...)
		failsWithOneLine(t, "permission denied: "+strings.Join(args, " "), code, out, errOut, "admin socket "+denied+": permission denied")
	}

	// The TCP admin listener: the URL and that nothing listens there.
	url := "http://" + FreePort(t)
	code, out, errOut := runExit(t, []string{"GATEHOUSE_ADMIN_TOKEN=gha_x"}, "orgs", "list", "--url", url)
	failsWithOneLine(t, "--url refused", code, out, errOut, "admin API "+url+": connection refused")
}

// TestDirectCommandsNameSocketAndDatabase: the commands that fall back to
// opening the database when no server answers on the socket (console,
// backup, audit, rekey, signing-key rotate), run with a socket nobody
// answers on while a server holds the database, name both: the socket and
// why, and the database file in use.
func TestDirectCommandsNameSocketAndDatabase(t *testing.T) {
	s := Start(t, "")
	s.MustAPI("POST", "/api/v1/orgs", map[string]any{"id": "acme", "name": "Acme MSSP"}, 201, nil)
	nobody := filepath.Join(t.TempDir(), "nobody.sock")
	db := filepath.Join(s.Dir, "gatehouse.db")
	for _, args := range append([][]string{{"console"}}, directCommands(filepath.Join(t.TempDir(), "copy.db"))...) {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel() // each waits out the lock timeout
			code, out, errOut := runExit(t, []string{"GATEHOUSE_ADMIN__SOCKET=" + nobody}, append(args, "--config", s.Config)...)
			failsWithOneLine(t, strings.Join(args, " "), code, out, errOut,
				"admin socket "+nobody+": no such socket", "opening the database directly failed: open database "+db+": in use by another process")
		})
	}
}

// directCommands are the operator commands that open the database
// themselves when no server answers (the console aside); backup writes to out.
func directCommands(out string) [][]string {
	return [][]string{
		{"backup", "--out", out},
		{"audit", "export"},
		{"audit", "list", "--org", "acme"},
		{"audit", "verify"},
		{"rekey"},
		{"signing-key", "rotate"},
	}
}

// TestOperatorCommandsNeverCreateADatabase: with no server and no
// database (a wrong --config or storage.dir), the commands that act on an
// existing database say there is none, naming the file, and write nothing:
// a read such as `audit list` must not leave an empty gatehouse.db and a
// new secret.key behind. The console may create one (it is how an operator
// sets up before the first start), so it is not in the list.
func TestOperatorCommandsNeverCreateADatabase(t *testing.T) {
	for _, args := range directCommands("copy.db") {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			root := t.TempDir()
			data := filepath.Join(root, "data")
			cfg := filepath.Join(root, "config.toml")
			if err := os.WriteFile(cfg, []byte("[storage]\ndir = \""+data+"\"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runExit(t, nil, append(args, "--config", cfg)...)
			failsWithOneLine(t, strings.Join(args, " "), code, out, errOut, "no database at "+filepath.Join(data, "gatehouse.db"))
			if got := dirEntries(t, root); len(got) != 1 || got[0] != "config.toml" {
				t.Errorf("%s wrote %v next to its config", strings.Join(args, " "), got)
			}
		})
	}
}

// socketDir is a directory for sockets with a short path (a Unix socket
// path is at most 107 bytes, and t.TempDir's can be longer), that another
// user may enter.
func socketDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "gh-sock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runAsOther runs the binary as user nobody when the test runs as root (a
// copy of it in dir, which nobody can reach), else as this user.
func runAsOther(t *testing.T, dir string, env []string, args ...string) (int, string, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return runExit(t, env, args...)
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("running as root without a nobody user")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	bin := filepath.Join(dir, "gatehouse")
	if _, err := os.Stat(bin); err != nil {
		copyExecutable(t, Binary(t), bin, 0o755)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"GATEHOUSE_CONFIG=", "HOME=" + dir}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	return runCommand(t, cmd, strings.Join(args, " ")+" as nobody")
}

func copyExecutable(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, path, body string) {
	t.Helper()
	mustMkdir(t, filepath.Dir(path))
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
}

// dirTree lists every path under root, space-separated, sorted.
func dirTree(t *testing.T, root string) string {
	t.Helper()
	var paths []string
	err := filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			rel, _ := filepath.Rel(root, p)
			paths = append(paths, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(paths, " ")
}
