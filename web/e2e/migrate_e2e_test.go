package e2e

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
