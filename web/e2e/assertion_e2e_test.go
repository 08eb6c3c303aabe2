package e2e

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// publishedKids is GET /.well-known/jwks.json, the kids in order.
func publishedKids(t *testing.T, s *Server) []string {
	t.Helper()
	resp, err := http.Get(s.Base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Cache-Control"), "public, max-age=") {
		t.Fatalf("jwks: %d %q %s", resp.StatusCode, resp.Header.Get("Cache-Control"), body)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		if k.D != "" {
			t.Fatal("a private key is published")
		}
		kids = append(kids, k.Kid)
	}
	return kids
}

// TestSigningKeyRotateCommand: the key is made once and kept in the
// database across restarts; `gatehouse signing-key rotate` goes through the
// socket while the server runs and opens the database when none does.
func TestSigningKeyRotateCommand(t *testing.T) {
	s := Start(t, "")
	first := publishedKids(t, s)
	if len(first) != 1 {
		t.Fatalf("kids %v", first)
	}
	viaSocket := Run(t, "signing-key", "rotate", "--config", s.Config)
	if got := publishedKids(t, s); len(got) != 2 || got[0] != viaSocket || got[1] != first[0] {
		t.Fatalf("after a rotation through the socket: %v (printed %q)", got, viaSocket)
	}
	s.Stop()
	onDisk := Run(t, "signing-key", "rotate", "--config", s.Config)
	if onDisk == viaSocket || onDisk == "" {
		t.Fatalf("rotation on the database printed %q", onDisk)
	}
	s.StartProcess()
	if got := publishedKids(t, s); len(got) != 2 || got[0] != onDisk || got[1] != viaSocket {
		t.Fatalf("after a rotation on the database and a restart: %v", got)
	}
	s.Stop()
	s.StartProcess()
	if got := publishedKids(t, s); got[0] != onDisk {
		t.Fatalf("a restart changed the key: %v", got)
	}
}

// assertionOf signs email in and returns the X-Gatehouse-Assertion of
// /auth/verify (with query q).
func assertionOf(t *testing.T, s *Server, w World, email, q string) string {
	t.Helper()
	c := signInSession(t, s, w, email)
	req, _ := http.NewRequest(http.MethodGet, s.Base+"/auth/verify"+q, nil)
	req.AddCookie(c)
	resp, err := s.Browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	a := resp.Header.Get("X-Gatehouse-Assertion")
	if resp.StatusCode != 200 || a == "" {
		t.Fatalf("/auth/verify: %d, assertion %q", resp.StatusCode, a)
	}
	return a
}

// refused runs an example that must fail (exit non-zero) on a bad assertion.
func refused(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("%s accepted a bad assertion:\n%s", name, out)
	}
	if !strings.Contains(string(out), "assertion refused") {
		t.Fatalf("%s failed without saying why:\n%s", name, out)
	}
}

// TestAssertionExamples runs every verification example of docs/assertion.md
// on a real assertion from `gatehouse serve`, and on a tampered one, one for
// another audience, each of which must be refused.
func TestAssertionExamples(t *testing.T) {
	s := Start(t, "")
	w := s.Seed()
	root := repoRoot(t)
	examples := filepath.Join(root, "docs", "examples")
	const aud = "https://dash.example.test"
	envFor := func(token string) []string {
		return []string{"JWKS_URL=" + s.Base + "/.well-known/jwks.json", "ISSUER=" + s.Base, "AUDIENCE=" + aud, "ASSERTION=" + token}
	}
	tamper := func(token string) string {
		p := strings.Split(token, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(p[1])
		raw = []byte(strings.Replace(string(raw), `"role":"admin"`, `"role":"root!"`, 1))
		return p[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + p[2]
	}
	check := func(t *testing.T, email string, dir string, name string, args ...string) {
		token := assertionOf(t, s, w, email, "?aud="+url.QueryEscape(aud))
		out := strings.TrimSpace(runExample(t, dir, envFor(token), name, args...))
		if want := "verified: " + email + " admin acme/t1"; out != want {
			t.Fatalf("printed %q, want %q", out, want)
		}
		refused(t, dir, envFor(tamper(token)), name, args...)
		other := assertionOf(t, s, w, email, "?aud=https://other.example.test")
		refused(t, dir, envFor(other), name, args...)
	}
	t.Run("go", func(t *testing.T) {
		t.Parallel()
		check(t, "go.dash@example.com", root, "go", "run", "./docs/examples/assertion/verify.go")
	})
	t.Run("node", func(t *testing.T) {
		t.Parallel()
		dir := nodeExample(t, examples, "verify-assertion.js")
		check(t, "node.dash@example.com", dir, "node", "verify-assertion.js")
	})
	t.Run("python", func(t *testing.T) {
		t.Parallel()
		py := pythonWithJWT(t)
		check(t, "python.dash@example.com", filepath.Join(examples, "python"), py, "verify_assertion.py")
	})
}
