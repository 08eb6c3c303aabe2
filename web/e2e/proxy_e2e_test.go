package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// signInCookie posts a token to /sso/jwt and returns the session cookie.
func signInCookie(t *testing.T, s *Server, token string) *http.Cookie {
	t.Helper()
	resp, err := s.Browser.PostForm(s.Base+"/sso/jwt", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("sign-in: status %d: %s", resp.StatusCode, b)
	}
	for _, c := range resp.Cookies() {
		if c.Value != "" {
			return c
		}
	}
	t.Fatal("sign-in set no cookie")
	return nil
}

// forgedAssertion is what a client sends hoping the dashboard trusts it.
const forgedAssertion = "eyJhbGciOiJub25lIn0.eyJyb2xlIjoiYWRtaW4iLCJ0ZW5hbnQiOiJ0MiJ9."

// verifiedAssertion checks an assertion as a dashboard would
// (docs/assertion.md): ES256, the kid's key from the server's JWKS, issuer
// and expiry; it returns the claims.
func verifiedAssertion(t *testing.T, s *Server, token string) map[string]any {
	t.Helper()
	resp, err := http.Get(s.Base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(parsed.Headers) != 1 {
		t.Fatalf("assertion %q: %v", token, err)
	}
	keys := set.Key(parsed.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("assertion kid %q not published", parsed.Headers[0].KeyID)
	}
	var std jwt.Claims
	claims := map[string]any{}
	if err := parsed.Claims(keys[0].Key, &std, &claims); err != nil {
		t.Fatalf("assertion does not verify: %v", err)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: s.Base, Time: time.Now()}, 5*time.Second); err != nil {
		t.Fatalf("assertion claims: %v", err)
	}
	return claims
}

// TestForwardAuthProxies runs the documented nginx and Caddy configurations
// (docs/forward-auth.md) against a real `gatehouse serve`.
func TestForwardAuthProxies(t *testing.T) {
	for _, proxy := range []string{"nginx", "caddy"} {
		t.Run(proxy, func(t *testing.T) {
			t.Parallel()
			s := Start(t, "")
			w := s.Seed()
			signIn := s.Base + "/"
			d1 := startDashboard(t, "Tenant One dashboard", s.Base)
			d2 := startDashboard(t, "Tenant Two dashboard", s.Base)
			gh := strings.TrimPrefix(s.Base, "http://")
			sites := []proxySite{
				{Host: "t1.dash.localhost", Tenant: "t1", Upstream: upstreamAddr(d1.Server)},
				{Host: "t2.dash.localhost", Tenant: "t2", Upstream: upstreamAddr(d2.Server)},
			}
			var listen string
			if proxy == "nginx" {
				listen = startNginx(t, gh, signIn, sites)
			} else {
				listen = startCaddy(t, gh, signIn, sites)
			}
			get := func(host string, cookie *http.Cookie, spoof bool) (*http.Response, string) {
				t.Helper()
				req, _ := http.NewRequest("GET", "http://"+listen+"/reports?x=1", nil)
				req.Host = host
				if cookie != nil {
					req.AddCookie(cookie)
				}
				if spoof {
					req.Header.Set("X-Gatehouse-Role", "admin")
					req.Header.Set("X-Gatehouse-Tenant", "t2")
					req.Header.Set("X-Gatehouse-Extra", "spoofed")
					req.Header.Set("X-Gatehouse-Assertion", forgedAssertion)
				}
				resp, err := s.Browser.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp, string(b)
			}

			// No session: sent to sign in, the dashboard never sees the request.
			resp, _ := get("t1.dash.localhost", nil, true)
			if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != signIn {
				t.Fatalf("no session: %d Location %q, want 302 to %s", resp.StatusCode, resp.Header.Get("Location"), signIn)
			}
			if d1.count() != 0 {
				t.Fatal("dashboard reached without a session")
			}

			cookie := signInCookie(t, s, w.Sign(t, "t1", "Ann.Reader@Example.com", "readOnly", "--name", "Ann Reader"))
			resp, body := get("t1.dash.localhost", cookie, true)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Tenant One dashboard") {
				t.Fatalf("signed in: %d %s", resp.StatusCode, body)
			}
			h := d1.last()
			want := map[string]string{"Email": "ann.reader@example.com", "Name": "Ann Reader", "Org": "acme", "Tenant": "t1", "Role": "readOnly"}
			for k, v := range want {
				if got := h.Get("X-Gatehouse-" + k); got != v {
					t.Errorf("X-Gatehouse-%s = %q, want %q (client spoofed role/tenant)", k, got, v)
				}
			}
			if h.Get("X-Gatehouse-User") == "" {
				t.Error("X-Gatehouse-User missing")
			}
			// The dashboard got Gatehouse's signed assertion, not the client's,
			// and it verifies against the published keys with the same identity.
			if a := h.Get("X-Gatehouse-Assertion"); a == forgedAssertion || a == "" {
				t.Errorf("X-Gatehouse-Assertion %q: the proxy passed the client's (or none)", a)
			} else if id := verifiedAssertion(t, s, a); id["email"] != "ann.reader@example.com" || id["tenant"] != "t1" || id["role"] != "readOnly" {
				t.Errorf("assertion claims %v", id)
			}
			if proxy == "caddy" && h.Get("X-Gatehouse-Extra") != "" {
				t.Error("caddy passed a client-sent X-Gatehouse-* header")
			}

			// The other tenant's dashboard refuses this user.
			n2 := d2.count()
			resp, _ = get("t2.dash.localhost", cookie, false)
			if resp.StatusCode != http.StatusForbidden || d2.count() != n2 {
				t.Fatalf("other tenant: status %d, want 403 without reaching the upstream", resp.StatusCode)
			}

			// Logout ends access through the proxy at once.
			req, _ := http.NewRequest("POST", s.Base+"/logout", nil)
			req.AddCookie(cookie)
			lr, err := s.Browser.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			lr.Body.Close()
			resp, _ = get("t1.dash.localhost", cookie, false)
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("after logout: status %d, want 302 to sign in", resp.StatusCode)
			}
		})
	}
}
