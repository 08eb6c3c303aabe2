package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pgCluster is a throw-away PostgreSQL server of the test's own, which the
// test may stop and start (the shared test server must not be: other
// packages' tests use it at the same time).
type pgCluster struct {
	t     *testing.T
	bin   string // directory of initdb, pg_ctl
	data  string
	port  int
	owner *user.User // the postgres user when running as root, else nil
}

func startPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	bin := ""
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		bin = filepath.Dir(p)
	} else if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl"); len(m) > 0 {
		bin = filepath.Dir(m[len(m)-1])
	}
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("pg_ctl is not installed; .ci/run installs postgresql")
		}
		t.Skip("pg_ctl is not installed")
	}
	c := &pgCluster{t: t, bin: bin}
	dir, err := os.MkdirTemp("", "gatehouse-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		// initdb refuses to run as root: the server runs as postgres.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root without a postgres user")
		}
		c.owner = u
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	c.data = filepath.Join(dir, "data")
	_, port, _ := strings.Cut(FreePort(t), ":")
	c.port, _ = strconv.Atoi(port)
	c.run("initdb", "-D", c.data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
	conf := fmt.Sprintf("\nport = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nfsync = on\nsynchronous_commit = on\n", c.port, dir)
	f, err := os.OpenFile(filepath.Join(c.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(conf)
	f.Close()
	c.Start()
	t.Cleanup(func() { c.run("pg_ctl", "-D", c.data, "-m", "immediate", "stop") })
	return c
}

// run runs a PostgreSQL tool (as the postgres user when we are root).
func (c *pgCluster) run(tool string, args ...string) {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(c.bin, tool), args...)
	if c.owner != nil {
		quoted := make([]string, 0, len(args)+1)
		quoted = append(quoted, filepath.Join(c.bin, tool))
		for _, a := range args {
			quoted = append(quoted, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
		}
		cmd = exec.Command("su", c.owner.Username, "-s", "/bin/sh", "-c", strings.Join(quoted, " "))
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
}

// Start starts the server and waits until it accepts connections.
func (c *pgCluster) Start() {
	c.t.Helper()
	c.run("pg_ctl", "-D", c.data, "-l", filepath.Join(filepath.Dir(c.data), "server.log"), "-w", "start")
}

// Stop stops it (fast: connections are closed, clients see refusals).
func (c *pgCluster) Stop() {
	c.t.Helper()
	c.run("pg_ctl", "-D", c.data, "-m", "fast", "-w", "stop")
}

func (c *pgCluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// probe is one sign-in attempt's outcome as a client saw it.
type probe struct {
	status int
	took   time.Duration
}

// signInProbe posts a fresh token to base and times the answer.
func signInProbe(c *http.Client, base string, sg *signer, email string) probe {
	start := time.Now()
	resp, _ := postTokenQuiet(c, base, "/sso/jwt", sg.tokenQuiet("t1", email, "readOnly"))
	p := probe{took: time.Since(start)}
	if resp != nil {
		p.status = resp.StatusCode
	}
	return p
}

func readyz(c *http.Client, base string) int {
	resp, err := c.Get(base + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDatabaseRestartUnderLoad: a real PostgreSQL server is stopped while
// sign-ins run against two instances, then started again. While it is down
// every sign-in answers 503 ServiceUnavailable within 5 seconds and /readyz
// 503; within 10 seconds of it being back both instances sign users in
// again without a restart; and every sign-in acknowledged with a 302,
// before or after, is in the database.
func TestDatabaseRestartUnderLoad(t *testing.T) {
	pg := startPGCluster(t)
	c := startCluster(t, 2, pg.URL(), "", "[log]\nlevel = \"warn\"\n")
	a, b := c.nodes[0], c.nodes[1]
	w := a.Seed()
	sg := newSigner(t, w)
	client := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	var (
		mu     sync.Mutex
		acked  []string
		stop   atomic.Bool
		seq    atomic.Int64
		slow   atomic.Int64 // answers slower than 5 s while down
		phase  atomic.Int32 // 0 up, 1 down, 2 back
		down   = map[int]int{}
		maxTok time.Duration
	)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			node := c.nodes[i%2]
			for !stop.Load() {
				ph := phase.Load()
				email := fmt.Sprintf("r-%d@example.com", seq.Add(1))
				p := signInProbe(client, node.Base, sg, email)
				mu.Lock()
				if p.status == http.StatusFound {
					acked = append(acked, email)
				}
				if ph == 1 {
					down[p.status]++
					if p.took > maxTok {
						maxTok = p.took
					}
					if p.took > 5*time.Second {
						slow.Add(1)
					}
				}
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}(i)
	}
	time.Sleep(time.Second)
	pg.Stop()
	phase.Store(1)
	time.Sleep(3 * time.Second)
	for _, n := range c.nodes {
		if code := readyz(client, n.Base); code != http.StatusServiceUnavailable {
			t.Errorf("%s /readyz with the database down: %d, want 503", n.Base, code)
		}
	}
	pg.Start()
	back := time.Now()
	phase.Store(2)
	// Recovery: each instance signs in again within 10 s, with no restart.
	for _, n := range []*Server{a, b} {
		for {
			if p := signInProbe(client, n.Base, sg, fmt.Sprintf("back-%d@example.com", seq.Add(1))); p.status == http.StatusFound {
				break
			}
			if time.Since(back) > 10*time.Second {
				t.Fatalf("%s did not recover within 10 s of the database coming back:\n%s", n.Base, n.Output())
			}
			time.Sleep(100 * time.Millisecond)
		}
		if code := readyz(client, n.Base); code != http.StatusOK {
			t.Errorf("%s /readyz after recovery: %d", n.Base, code)
		}
	}
	t.Logf("recovered %v after the database came back", time.Since(back).Round(10*time.Millisecond))
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("while down: answers by status %v, slowest %v; %d sign-ins acknowledged in all", down, maxTok.Round(time.Millisecond), len(acked))
	for status, n := range down {
		if status != http.StatusServiceUnavailable && status != http.StatusFound {
			t.Errorf("%d sign-ins answered %d while the database was down; want 503", n, status)
		}
	}
	if down[http.StatusServiceUnavailable] == 0 {
		t.Error("no sign-in was answered 503 while the database was down")
	}
	if slow.Load() > 0 {
		t.Errorf("%d sign-ins took longer than 5 s to answer while the database refused connections", slow.Load())
	}
	for _, email := range acked {
		var users struct {
			Users []struct{ Email string } `json:"users"`
		}
		a.MustAPI("GET", "/api/v1/orgs/acme/users?q="+email, nil, 200, &users)
		if len(users.Users) != 1 {
			t.Errorf("acknowledged sign-in of %s is not in the database", email)
		}
	}
	if out := Run(t, "audit", "verify", "--config", a.Config); !strings.HasPrefix(out, "audit chain OK") {
		t.Errorf("audit verify: %s", out)
	}
}

// TestDatabaseStopsAnswering: the database is reached through a TCP proxy
// that is paused (connections stay open, nothing comes back: a hung server
// or a network partition). Sign-ins answer 503 within 10 seconds, /readyz
// 503, the admin API 503 unavailable; after the proxy resumes the instance
// recovers within 10 seconds without a restart.
func TestDatabaseStopsAnswering(t *testing.T) {
	pg := startPGCluster(t)
	proxy := startTCPProxy(t, fmt.Sprintf("127.0.0.1:%d", pg.port))
	url := fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", proxy.Addr())
	c := startCluster(t, 1, url, "", "")
	s := c.nodes[0]
	w := s.Seed()
	sg := newSigner(t, w)
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, cookie := postTokenQuiet(client, s.Base, "/sso/jwt", sg.tokenQuiet("t1", "before@example.com", "readOnly"))
	if resp == nil || resp.StatusCode != http.StatusFound || cookie == nil {
		t.Fatalf("sign-in before the pause: %v", resp)
	}

	proxy.Pause()
	// Forward-auth of a valid session: 503, never 401 (which would send a
	// signed-in user to sign in again).
	start := time.Now()
	if code := verifyStatus(t, s.Base, client, cookie); code != http.StatusServiceUnavailable || time.Since(start) > 10*time.Second {
		t.Errorf("forward-auth with the database silent: %d after %v, want 503 within 10 s", code, time.Since(start))
	}
	p := signInProbe(client, s.Base, sg, "paused@example.com")
	if p.status != http.StatusServiceUnavailable || p.took > 10*time.Second {
		t.Errorf("sign-in with the database silent: %d after %v, want 503 within 10 s", p.status, p.took)
	}
	t.Logf("sign-in answered %d after %v with the database silent", p.status, p.took.Round(time.Millisecond))
	start = time.Now()
	if code := readyz(client, s.Base); code != http.StatusServiceUnavailable || time.Since(start) > 10*time.Second {
		t.Errorf("/readyz with the database silent: %d after %v", code, time.Since(start))
	}
	start = time.Now()
	code, body := s.API("POST", "/api/v1/orgs/acme/tenants", map[string]any{"id": "t9", "name": "Nine"})
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), `"unavailable"`) || time.Since(start) > 10*time.Second {
		t.Errorf("admin write with the database silent: %d %s after %v", code, body, time.Since(start))
	}

	proxy.Resume()
	back := time.Now()
	for {
		if p := signInProbe(client, s.Base, sg, fmt.Sprintf("after-%d@example.com", time.Now().UnixNano())); p.status == http.StatusFound {
			break
		}
		if time.Since(back) > 10*time.Second {
			t.Fatalf("no recovery within 10 s of the database answering again:\n%s", s.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("recovered %v after the database answered again", time.Since(back).Round(10*time.Millisecond))
	if code := verifyStatus(t, s.Base, client, cookie); code != http.StatusOK {
		t.Errorf("the session after recovery: forward-auth %d, want 200", code)
	}
	// Nothing half-written: the refused tenant create left nothing.
	if code, _ := s.API("GET", "/api/v1/orgs/acme/tenants/t9", nil); code != http.StatusNotFound {
		t.Errorf("the tenant create refused with 503 exists afterwards: %d", code)
	}
}

// TestDatabaseUnreachableAtStart: `gatehouse serve` on a PostgreSQL URL
// nobody answers exits at once with one line naming storage.postgres_url,
// its password redacted.
func TestDatabaseUnreachableAtStart(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	body := fmt.Sprintf("[server]\nlisten = %q\n[storage]\ndriver = \"postgres\"\ndir = %q\npostgres_url = \"postgres://gatehouse:s3cret@%s/gatehouse\"\n[crypto]\nencryption_keys = { 1 = %q }\n",
		FreePort(t), filepath.Join(dir, "data"), FreePort(t), clusterKey)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := runCmd(t, "serve", "--config", cfg)
	if err == nil {
		t.Fatalf("serve started without its database:\n%s", out)
	}
	line := strings.TrimSpace(out)
	if strings.Count(line, "\n") > 0 || !strings.Contains(line, "storage.postgres_url") || strings.Contains(line, "s3cret") {
		t.Errorf("want one line naming storage.postgres_url without the password, got:\n%s", out)
	}
	t.Logf("exited after %v: %s", time.Since(start).Round(time.Millisecond), line)
}
