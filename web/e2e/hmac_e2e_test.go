package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestHMACSignInWithOpenSSL registers a partner over the admin socket, runs
// the README's openssl + curl script as a partner server would, follows the
// login_url as the browser, and reaches forward-auth with the session.
func TestHMACSignInWithOpenSSL(t *testing.T) {
	for _, tool := range []string{"openssl", "curl", "jq", "bash"} {
		RequireTool(t, tool)
	}
	s := Start(t, "")
	w := s.Seed()
	loginURL := hmacLoginURL(t, s, w, "t1", "dave@example.com", "readOnly", "Dave")
	resp, err := s.Browser.Get(loginURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://dash.example.test/t1" {
		t.Fatalf("login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	cookie := resp.Cookies()[0]
	req, _ := http.NewRequest(http.MethodGet, s.Base+"/auth/verify?org=acme&tenant=t1", nil)
	req.AddCookie(cookie)
	v, err := s.Browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	v.Body.Close()
	if v.StatusCode != 200 || v.Header.Get("X-Gatehouse-Email") != "dave@example.com" || v.Header.Get("X-Gatehouse-Role") != "readOnly" {
		t.Fatalf("verify: %d %v", v.StatusCode, v.Header)
	}
	// The one-time token is spent.
	again, err := s.Browser.Get(loginURL)
	if err != nil {
		t.Fatal(err)
	}
	if code := errorCode(t, again); again.StatusCode != 401 || code != "invalid_login_token" {
		t.Fatalf("second use: %d %s", again.StatusCode, code)
	}
	again.Body.Close()
	if strings.Contains(s.Output(), w.ConsumerSecret) {
		t.Error("the consumer secret reached the server log")
	}
}

// hmacLoginURL runs the README's openssl + curl script as a partner server
// and returns the login_url it printed.
func hmacLoginURL(t *testing.T, s *Server, w World, tenant, email, role string, name ...string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "docs", "examples", "hmac-sign-in.sh")
	cmd := exec.Command("bash", append([]string{script, tenant, email, role}, name...)...)
	cmd.Env = append(os.Environ(), "GATEHOUSE="+s.Base, "CONSUMER_KEY="+w.ConsumerKey, "CONSUMER_SECRET="+w.ConsumerSecret)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("script: %v\n%s", err, out)
	}
	loginURL := strings.TrimSpace(string(out))
	if !strings.HasPrefix(loginURL, s.Base+"/sso/hmac/login?token=") {
		t.Fatalf("login_url %q", loginURL)
	}
	return loginURL
}
