package e2e

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestSystemdUnitVerifies checks docs/gatehouse.service with
// `systemd-analyze verify` (ExecStart pointed at the freshly built binary).
func TestSystemdUnitVerifies(t *testing.T) {
	sa := RequireTool(t, "systemd-analyze")
	unit, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "gatehouse.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"User=gatehouse", "StateDirectory=gatehouse", "ProtectSystem=strict", "NoNewPrivileges=yes",
		"Restart=on-failure", "GATEHOUSE_ADMIN__SOCKET_GROUP=gatehouse-admin", "SupplementaryGroups=gatehouse-admin"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %s", want)
		}
	}
	verifyUnit(t, sa, t.TempDir(), strings.ReplaceAll(string(unit), "/usr/local/bin/gatehouse", Binary(t)))
}

// verifyUnit writes text as dir/gatehouse.service and holds it to
// `systemd-analyze verify`: it must pass, and warn about nothing in the unit.
func verifyUnit(t *testing.T, sa, dir, text string) {
	t.Helper()
	path := filepath.Join(dir, "gatehouse.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sa, "verify", path)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=warning")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// Warnings about the unit itself (unknown keys, bad values) name it.
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "gatehouse.service") {
			t.Errorf("systemd-analyze: %s", line)
		}
	}
}

// TestAdminSocketGroup: with admin.socket_group the socket is 0660 and owned
// by that group, so its members can run `gatehouse console`.
func TestAdminSocketGroup(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Skipf("primary group: %v", err)
	}
	t.Setenv("GATEHOUSE_ADMIN__SOCKET_GROUP", g.Name)
	s := Start(t, "")
	fi, err := os.Stat(s.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v, want 0660", fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && strconv.Itoa(int(st.Gid)) != g.Gid {
		t.Errorf("socket group %d, want %s", st.Gid, g.Gid)
	}
	// The socket answers as before, and a client that knows only the
	// socket's path (as docs/deploy.md has admins do) reaches the server.
	s.MustAPI("GET", "/api/v1/orgs", nil, 200, nil)
	out := filepath.Join(t.TempDir(), "backup.db")
	cmd := exec.Command(Binary(t), "backup", "--out", out)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GATEHOUSE_CONFIG=", "GATEHOUSE_ADMIN__SOCKET="+s.Socket)
	b, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "running server") {
		t.Fatalf("backup over the socket: %v\n%s", err, b)
	}
}
