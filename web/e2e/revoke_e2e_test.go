package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// signInSession signs email in to w's tenant as an admin with `gatehouse
// sign` and returns the session cookie.
func signInSession(t *testing.T, s *Server, w World, email string) *http.Cookie {
	t.Helper()
	return sessionCookieAt(t, s.Base, s.Browser, w.Sign(t, w.Tenant, email, "admin"))
}

// TestRevocationExamples runs every revocation example of docs/partners.md
// against a real `gatehouse serve`: each ends a signed-in person's session
// (the very next /auth/verify is 401) or deprovisions them.
func TestRevocationExamples(t *testing.T) {
	s := Start(t, "")
	w := s.Seed()
	root := repoRoot(t)
	examples := filepath.Join(root, "docs", "examples")
	jwtEnv := func(email, action string) []string {
		return []string{"GATEHOUSE_URL=" + s.Base, "PARTNER_KEY=" + w.KeyFile, "ORG_ID=" + w.Org,
			"USER_EMAIL=" + email, "ACTION=" + action}
	}
	// check signs email in, runs the example, and checks its output and effect.
	check := func(t *testing.T, email, action string, run func(env []string) string) {
		c := signInSession(t, s, w, email)
		if verifyStatus(t, s.Base, s.Browser, c) != 200 {
			t.Fatal("session not valid before the revoke")
		}
		out := strings.TrimSpace(run(jwtEnv(email, action)))
		want1 := action + ": user_found=true sessions_revoked=1"
		want2 := `{"action":"` + action + `","user_found":true,"sessions_revoked":1}`
		if out != want1 && out != want2 {
			t.Fatalf("example printed %q, want %q", out, want1)
		}
		if code := verifyStatus(t, s.Base, s.Browser, c); code != http.StatusUnauthorized {
			t.Fatalf("/auth/verify after %s: %d, want 401", action, code)
		}
		status, body := s.API("GET", "/api/v1/orgs/acme/users?q="+url.QueryEscape(email), nil)
		var list struct{ Users []any }
		_ = json.Unmarshal(body, &list)
		if status != 200 || (action == "deprovision") != (len(list.Users) == 0) {
			t.Fatalf("after %s the user list is %d %s", action, status, body)
		}
	}

	t.Run("go", func(t *testing.T) {
		t.Parallel()
		check(t, "go.leaver@example.com", "deprovision", func(env []string) string {
			return runExample(t, root, env, "go", "run", "./docs/examples/go/revoke.go")
		})
	})
	t.Run("node", func(t *testing.T) {
		t.Parallel()
		dir := nodeExample(t, examples, "revoke.js")
		check(t, "node.leaver@example.com", "logout", func(env []string) string {
			return runExample(t, dir, env, "node", "revoke.js")
		})
	})
	t.Run("python", func(t *testing.T) {
		t.Parallel()
		py := pythonWithJWT(t)
		check(t, "python.leaver@example.com", "deprovision", func(env []string) string {
			return runExample(t, filepath.Join(examples, "python"), env, py, "revoke.py")
		})
	})
	t.Run("shell-jwt", func(t *testing.T) {
		t.Parallel()
		RequireTool(t, "openssl")
		RequireTool(t, "curl")
		check(t, "shell.leaver@example.com", "logout", func(env []string) string {
			return runExample(t, filepath.Join(examples, "revoke"), env, "bash", "revoke-jwt.sh")
		})
	})
	t.Run("shell-hmac", func(t *testing.T) {
		t.Parallel()
		RequireTool(t, "openssl")
		RequireTool(t, "curl")
		check(t, "hmac.leaver@example.com", "deprovision", func(env []string) string {
			env = append(env, "CONSUMER_KEY="+w.ConsumerKey, "CONSUMER_SECRET="+w.ConsumerSecret)
			return runExample(t, filepath.Join(examples, "revoke"), env, "bash", "revoke-hmac.sh")
		})
	})
	t.Run("gatehouse-sign", func(t *testing.T) {
		t.Parallel()
		check(t, "cli.leaver@example.com", "logout", func([]string) string {
			token := Run(t, "sign", "--key", w.KeyFile, "--org", w.Org, "--email", "cli.leaver@example.com", "--action", "logout")
			resp, err := http.PostForm(s.Base+"/sso/jwt/revoke", url.Values{"token": {token}})
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&out)
			// a revoke token must never sign anyone in
			again, err := http.PostForm(s.Base+"/sso/jwt", url.Values{"token": {token}})
			if err != nil {
				t.Fatal(err)
			}
			again.Body.Close()
			if again.StatusCode != http.StatusUnauthorized {
				t.Errorf("a revoke token at /sso/jwt: %d, want 401", again.StatusCode)
			}
			return fmt.Sprintf("%v: user_found=%v sessions_revoked=%v", out["action"], out["user_found"], out["sessions_revoked"])
		})
	})
}
