package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/storage/postgres/pgtest"
)

// sessionCookieAt signs email in over RS256 and returns its session cookie.
func sessionCookieAt(t *testing.T, base string, c *http.Client, token string) *http.Cookie {
	t.Helper()
	resp, err := c.PostForm(base+"/sso/jwt", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("sign-in: status %d", resp.StatusCode)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "gatehouse_session" {
			return ck
		}
	}
	t.Fatal("no session cookie")
	return nil
}

// verifyStatus is forward-auth's answer for a cookie.
func verifyStatus(t *testing.T, base string, c *http.Client, ck *http.Cookie) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/auth/verify", nil)
	req.AddCookie(ck)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestMigrateBoltToBolt: `gatehouse migrate` from a server's database into a
// new file, then the server runs on the copy: the session made before is
// still valid, the sealed HMAC secret still opens, a used jti is still
// refused, and `gatehouse audit verify` passes. The counts are printed one
// line per record type.
func TestMigrateBoltToBolt(t *testing.T) {
	s := Start(t, "")
	w := s.Seed()
	used := w.Sign(t, w.Tenant, "carol@example.com", "admin", "--ttl", "30m")
	cookie := sessionCookieAt(t, s.Base, s.Browser, used)
	hmacBefore := hmacLoginURL(t, s, w, w.Tenant, "dave@example.com", "readOnly")
	if r, err := s.Browser.Get(hmacBefore); err != nil || r.StatusCode != http.StatusFound {
		t.Fatalf("HMAC sign-in before the migration: %v %v", r, err)
	}
	s.Stop()

	db := filepath.Join(s.Dir, "gatehouse.db")
	copyPath := filepath.Join(t.TempDir(), "moved", "gatehouse.db")
	out, err := runCmd(t, "migrate", "--from", db, "--to", copyPath)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	for _, line := range []string{"orgs 1\n", "tenants 2\n", "partners 1\n", "keys 1\n", "users 2\n", "sessions 2\n", "admin_tokens 0\n", "audit chain verified on the destination:"} {
		if !strings.Contains(out, line) {
			t.Errorf("migrate output lacks %q:\n%s", line, out)
		}
	}
	if out, err := runCmd(t, "migrate", "--from", db, "--to", copyPath); err == nil || !strings.Contains(out, "already exists") {
		t.Errorf("migrate into an existing file must fail naming it: %v\n%s", err, out)
	}
	if out, err := runCmd(t, "migrate", "--from", filepath.Join(s.Dir, "missing.db"), "--to", filepath.Join(t.TempDir(), "x.db")); err == nil {
		t.Errorf("migrate from a missing file must fail:\n%s", out)
	}

	// Run the server on the copy: same config (so the same secret.key).
	if err := os.Rename(db, db+".orig"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(copyPath, db); err != nil {
		t.Fatal(err)
	}
	s.StartProcess()
	if code := verifyStatus(t, s.Base, s.Browser, cookie); code != http.StatusOK {
		t.Errorf("a session made before the migration: forward-auth %d, want 200", code)
	}
	resp, err := s.Browser.PostForm(s.Base+"/sso/jwt", url.Values{"token": {used}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a jti used before the migration: %d, want 401", resp.StatusCode)
	}
	if r, err := s.Browser.Get(hmacLoginURL(t, s, w, w.Tenant, "erin@example.com", "readOnly")); err != nil || r.StatusCode != http.StatusFound {
		t.Errorf("HMAC sign-in on the copy (sealed secret must open): %v %v", r, err)
	}
	if out := Run(t, "audit", "verify", "--config", s.Config); !strings.HasPrefix(out, "audit chain OK") {
		t.Errorf("audit verify on the copy: %s", out)
	}
}

// TestMigrateBoltToPostgresAndBack is issue 11's move between backends:
// a bbolt appliance is migrated into PostgreSQL, a postgres instance serves
// it (a session made before still valid, a used jti still refused, the
// sealed HMAC secret still opens, the audit chain verifies), `gatehouse
// backup` on PostgreSQL writes a checked bbolt copy, and migrating back to
// a bbolt file gives a server on which the session is still valid.
func TestMigrateBoltToPostgresAndBack(t *testing.T) {
	keys := fmt.Sprintf("[crypto]\nencryption_keys = { 1 = %q }\n", clusterKey)
	s := Start(t, keys)
	w := s.Seed()
	used := w.Sign(t, w.Tenant, "carol@example.com", "admin", "--ttl", "30m")
	cookie := sessionCookieAt(t, s.Base, s.Browser, used)
	if r, err := s.Browser.Get(hmacLoginURL(t, s, w, w.Tenant, "dave@example.com", "readOnly")); err != nil || r.StatusCode != http.StatusFound {
		t.Fatalf("HMAC sign-in before the migration: %v %v", r, err)
	}
	s.Stop()

	db := pgtest.NewDatabase(t)
	out, err := runCmd(t, "migrate", "--from", filepath.Join(s.Dir, "gatehouse.db"), "--to", db)
	if err != nil {
		t.Fatalf("migrate to postgres: %v\n%s", err, out)
	}
	for _, line := range []string{"orgs 1\n", "tenants 2\n", "partners 1\n", "keys 1\n", "users 2\n", "sessions 2\n", "audit chain verified on the destination:"} {
		if !strings.Contains(out, line) {
			t.Errorf("migrate output lacks %q:\n%s", line, out)
		}
	}
	if out, err := runCmd(t, "migrate", "--from", filepath.Join(s.Dir, "gatehouse.db"), "--to", db); err == nil || !strings.Contains(out, "not empty") {
		t.Errorf("a second migrate into the same database must refuse it as not empty: %v\n%s", err, out)
	}

	pg := startNode(t, db, FreePort(t), "", "")
	if code := verifyStatus(t, pg.Base, pg.Browser, cookie); code != http.StatusOK {
		t.Errorf("a bbolt session on PostgreSQL: forward-auth %d, want 200", code)
	}
	if r, _ := postToken(t, pg.Browser, pg.Base, "/sso/jwt", used); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("a jti used on bbolt, replayed on PostgreSQL: %d, want 401", r.StatusCode)
	}
	if r, err := pg.Browser.Get(hmacLoginURL(t, pg, w, w.Tenant, "erin@example.com", "readOnly")); err != nil || r.StatusCode != http.StatusFound {
		t.Errorf("HMAC sign-in on PostgreSQL (the sealed secret must open): %v %v", r, err)
	}
	if out := Run(t, "audit", "verify", "--config", pg.Config); !strings.HasPrefix(out, "audit chain OK") {
		t.Errorf("audit verify on PostgreSQL: %s", out)
	}

	// A backup of the PostgreSQL database is a bbolt file, checked.
	backup := filepath.Join(t.TempDir(), "pg-backup.db")
	if out := Run(t, "backup", "--out", backup, "--config", pg.Config); !strings.Contains(out, "consistency check passed") {
		t.Errorf("backup on PostgreSQL: %s", out)
	}
	pg.Stop()

	// And back: from PostgreSQL (or from that backup) to a new bbolt file.
	for name, from := range map[string]string{"database": db, "backup": backup} {
		back := filepath.Join(t.TempDir(), "gatehouse.db")
		if out, err := runCmd(t, "migrate", "--from", from, "--to", back); err != nil {
			t.Fatalf("migrate %s back to bbolt: %v\n%s", name, err, out)
		}
		s2 := Start(t, keys)
		s2.Stop()
		if err := os.Rename(back, filepath.Join(s2.Dir, "gatehouse.db")); err != nil {
			t.Fatal(err)
		}
		s2.StartProcess()
		if code := verifyStatus(t, s2.Base, s2.Browser, cookie); code != http.StatusOK {
			t.Errorf("from the %s back on bbolt: the session answers %d, want 200", name, code)
		}
		if r, err := s2.Browser.Get(hmacLoginURL(t, s2, w, w.Tenant, fmt.Sprintf("frank-%s@example.com", name), "readOnly")); err != nil || r.StatusCode != http.StatusFound {
			t.Errorf("from the %s back on bbolt: HMAC sign-in %v %v", name, r, err)
		}
		s2.Stop()
	}
}
