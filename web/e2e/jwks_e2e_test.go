package e2e

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// jwksHost is a partner's key set endpoint on loopback (plain http: the
// server under test runs with sso.allow_insecure_jwks).
type jwksHost struct {
	mu   sync.Mutex
	body []byte
	down bool
	srv  *httptest.Server
}

func newJWKSHost(t *testing.T) *jwksHost {
	h := &jwksHost{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.down {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(h.body)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *jwksHost) set(body string, down bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.body, h.down = []byte(body), down
}

// runDocScript runs a docs/examples/jwks script with the built binary first
// on PATH, as an operator or partner would run it.
func runDocScript(t *testing.T, s *Server, script string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(repoRoot(t), "docs", "examples", "jwks", script)}, args...)...)
	cmd.Env = append(os.Environ(), append(env, "PATH="+filepath.Dir(Binary(t))+":"+os.Getenv("PATH"), "GATEHOUSE_CONFIG="+s.Config)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return string(out)
}

// TestJWKSPartnerEndToEnd runs docs/partners.md's JWKS example against the
// binary: a key pair from `gatehouse keygen`, its JWKS made by
// jwks-from-pem.sh and served on loopback, the partner registered by
// register-partner.sh; then sign-in, rotation to a new kid (fetched at once),
// an outage (the last good set keeps working, the failure is counted and
// audited) and a restart with the partner's server still down.
func TestJWKSPartnerEndToEnd(t *testing.T) {
	RequireTool(t, "jq")
	RequireTool(t, "xxd")
	s := Start(t, "[sso]\nallow_insecure_jwks = true\njwks_min_interval = \"1s\"\n")
	w := s.Seed()
	dir := t.TempDir()
	host := newJWKSHost(t)
	keygen := func(name string) string {
		stem := filepath.Join(dir, name)
		Run(t, "keygen", "--out", stem)
		return stem
	}
	jwksOf := func(stem, kid string) string {
		return runDocScript(t, s, "jwks-from-pem.sh", nil, stem+".pub", kid)
	}
	sign := func(stem, kid, email string) string {
		return Run(t, "sign", "--key", stem+".key", "--org", w.Org, "--tenant", w.Tenant, "--email", email, "--role", "admin", "--kid", kid)
	}

	one := keygen("idp-one")
	host.set(jwksOf(one, "idp-2026-01"), false)
	url := host.srv.URL + "/.well-known/jwks.json"
	out := runDocScript(t, s, "register-partner.sh", []string{"ORG=" + w.Org}, "Acme IdP", url)
	for _, want := range []string{`"jwks_url": "` + url + `"`, `"jwks_fetched_at": "20`, "idp-2026-01 jwks 3072 bits"} {
		if !strings.Contains(out, want) {
			t.Fatalf("register-partner.sh output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "cs_") {
		t.Errorf("the example prints the consumer secret:\n%s", out)
	}
	if ok, err := signInOK(s, sign(one, "idp-2026-01", "ida@example.com")); err != nil || !ok {
		t.Fatalf("sign-in with the published key: %v %v\n%s", ok, err, s.Output())
	}

	// Rotation: the partner publishes a new key only; the first token naming
	// it makes Gatehouse fetch the set at once.
	two := keygen("idp-two")
	host.set(jwksOf(two, "idp-2026-02"), false)
	time.Sleep(1100 * time.Millisecond) // jwks_min_interval since the registration's fetch
	if ok, err := signInOK(s, sign(two, "idp-2026-02", "ida@example.com")); err != nil || !ok {
		t.Fatalf("sign-in with the rotated key: %v %v\n%s", ok, err, s.Output())
	}
	if ok, _ := signInOK(s, sign(one, "idp-2026-01", "ida@example.com")); ok {
		t.Fatal("the key that left the set still signs in")
	}

	// Outage: an unknown kid's fetch fails; the last good set keeps working.
	host.set("", true)
	time.Sleep(1100 * time.Millisecond)
	if ok, _ := signInOK(s, sign(two, "idp-2026-03", "ida@example.com")); ok {
		t.Fatal("an unknown kid signed in during the outage")
	}
	if ok, err := signInOK(s, sign(two, "idp-2026-02", "ida@example.com")); err != nil || !ok {
		t.Fatalf("last good set during the outage: %v %v", ok, err)
	}
	if m := scrapeMetrics(t, s); !strings.Contains(m, "gatehouse_jwks_refresh_failures_total{partner=") {
		t.Errorf("failure metric missing:\n%s", m)
	}
	code, audit := s.API("GET", "/api/v1/orgs/acme/audit?type=partner.jwks_refresh_failed", nil)
	if code != 200 || !strings.Contains(string(audit), "HTTP 503") {
		t.Errorf("failure audit: %d %s", code, audit)
	}
	code, partners := s.API("GET", "/api/v1/orgs/acme/partners", nil)
	if code != 200 || !strings.Contains(string(partners), `"jwks_last_error":"the server answered HTTP 503`) {
		t.Errorf("partner shows no last error: %s", partners)
	}

	// The set is in the database: a restart verifies with it while the
	// partner's server is still down.
	s.Stop()
	s.StartProcess()
	if ok, err := signInOK(s, sign(two, "idp-2026-02", "ida@example.com")); err != nil || !ok {
		t.Fatalf("stored set after restart: %v %v\n%s", ok, err, s.Output())
	}
}

// scrapeMetrics reads /metrics from the admin socket, where SPEC §4.4 always
// serves it, or else from the public listener.
func scrapeMetrics(t *testing.T, s *Server) string {
	t.Helper()
	if code, b := s.API("GET", "/metrics", nil); code == 200 {
		return string(b)
	}
	resp, err := s.Browser.Get(s.Base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return readAll(resp)
}
