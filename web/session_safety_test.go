package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/app"
	"gatehouse/storage"
	"gatehouse/storage/bolt"
	"gatehouse/storage/memory"
)

// verifyWith calls GET /auth/verify (with query q) presenting cookie value v.
func (f *fixture) verifyWith(v, q string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/auth/verify"+q, nil)
	if v != "" {
		req.AddCookie(&http.Cookie{Name: f.srv.CookieName(), Value: v})
	}
	return f.do(req)
}

// signInCookie signs claims in and returns the new session cookie's value.
func (f *fixture) signInCookie(t *testing.T, claims map[string]any, planted string) string {
	t.Helper()
	req := tokenRequest(f.token(claims))
	if planted != "" {
		req.AddCookie(&http.Cookie{Name: f.srv.CookieName(), Value: planted})
	}
	rec := f.do(req)
	if rec.Code != http.StatusFound {
		t.Fatalf("sign-in: %d %s", rec.Code, rec.Body)
	}
	c := sessionCookie(rec, f.srv.CookieName())
	if c == nil || c.Value == "" {
		t.Fatal("no session cookie")
	}
	return c.Value
}

func TestSessionPlantedCookieNeverAdopted(t *testing.T) {
	f := newFixture(t)
	t.Run("unknown planted value", func(t *testing.T) {
		planted := strings.Repeat("A", 54) // the shape of a real session token
		got := f.signInCookie(t, f.claims(), planted)
		if got == planted {
			t.Fatal("the planted session id was adopted")
		}
		if rec := f.verifyWith(planted, ""); rec.Code != http.StatusUnauthorized {
			t.Fatalf("planted id authenticates: %d", rec.Code)
		}
		if rec := f.verifyWith(got, ""); rec.Code != http.StatusOK {
			t.Fatalf("fresh id does not authenticate: %d", rec.Code)
		}
	})
	t.Run("attacker's own live session", func(t *testing.T) {
		mallory := f.claims()
		mallory["email"] = "mallory@example.com"
		attacker := f.signInCookie(t, mallory, "")
		victim := f.signInCookie(t, f.claims(), attacker)
		if victim == attacker {
			t.Fatal("the victim's sign-in reused the attacker's session id")
		}
		if rec := f.verifyWith(attacker, ""); rec.Header().Get("X-Gatehouse-Email") != "mallory@example.com" {
			t.Fatalf("the attacker's session now says %q", rec.Header().Get("X-Gatehouse-Email"))
		}
		if rec := f.verifyWith(victim, ""); rec.Header().Get("X-Gatehouse-Email") != "alice@example.com" {
			t.Fatalf("the victim's session says %q", rec.Header().Get("X-Gatehouse-Email"))
		}
	})
	t.Run("every sign-in gets a new id", func(t *testing.T) {
		seen := map[string]bool{}
		for i := 0; i < 20; i++ {
			v := f.signInCookie(t, f.claims(), "")
			if seen[v] {
				t.Fatal("a session id was issued twice")
			}
			seen[v] = true
		}
	})
	t.Run("HMAC login ignores a planted cookie", func(t *testing.T) {
		lt := issueLoginToken(t, f, "planted-nonce-0123456789")
		planted := strings.Repeat("B", 54)
		req := httptest.NewRequest(http.MethodGet, "/sso/hmac/login?token="+url.QueryEscape(lt), nil)
		req.AddCookie(&http.Cookie{Name: f.srv.CookieName(), Value: planted})
		rec := f.do(req)
		c := sessionCookie(rec, f.srv.CookieName())
		if rec.Code != http.StatusFound || c == nil || c.Value == planted {
			t.Fatalf("%d %+v", rec.Code, c)
		}
	})
}

func TestSessionCookieAttributes(t *testing.T) {
	cases := []struct {
		name       string
		cfg        func(*app.Config)
		cookieName string
		secure     bool
		domain     string
	}{
		{"https without cookie_domain", nil, "__Host-gatehouse_session", true, ""},
		{"https with cookie_domain", func(c *app.Config) { c.Session.CookieDomain = ".example.test" },
			"gatehouse_session", true, "example.test"},
		{"plain http", func(c *app.Config) { c.Server.PublicURL = "http://sso.example.test" }, "gatehouse_session", false, ""},
		{"http forced secure", func(c *app.Config) {
			c.Server.PublicURL = "http://sso.example.test"
			c.Session.Secure = "true"
		}, "__Host-gatehouse_session", true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var mut []func(*app.Config)
			if c.cfg != nil {
				mut = append(mut, c.cfg)
			}
			f := newFixture(t, mut...)
			rec := f.signIn(f.token(f.claims()))
			ck := sessionCookie(rec, c.cookieName)
			if ck == nil {
				t.Fatalf("no cookie %s in %v", c.cookieName, rec.Header()["Set-Cookie"])
			}
			if ck.Secure != c.secure || ck.Domain != c.domain || ck.Path != "/" || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
				t.Fatalf("cookie %+v", ck)
			}
			if strings.HasPrefix(ck.Name, "__Host-") && (ck.Domain != "" || !ck.Secure || ck.Path != "/") {
				t.Fatal("a __Host- cookie must be Secure, Path=/ and carry no Domain")
			}
			hsts := rec.Header().Get("Strict-Transport-Security")
			if https := !strings.HasPrefix(f.srv.publicBase, "http://"); https != (hsts != "") {
				t.Errorf("HSTS %q with public URL %s", hsts, f.srv.publicBase)
			}
		})
	}
}

func TestSessionRoleDowngradeAtOnce(t *testing.T) {
	for _, backend := range []string{"memory", "bolt"} {
		t.Run(backend, func(t *testing.T) { testSessionRoleDowngradeAtOnce(t, backend) })
	}
}

func testSessionRoleDowngradeAtOnce(t *testing.T, backend string) {
	f := newFixtureWithStore(t, testStore(t, backend))
	admin := f.signInCookie(t, f.claims(), "")
	if rec := f.verifyWith(admin, "?role=admin"); rec.Code != 200 || rec.Header().Get("X-Gatehouse-Role") != "admin" {
		t.Fatalf("admin session: %d %q", rec.Code, rec.Header().Get("X-Gatehouse-Role"))
	}
	c := f.claims()
	c["role"] = "readOnly"
	f.signInCookie(t, c, "") // a later sign-in (another browser) downgrades the user
	if rec := f.verifyWith(admin, ""); rec.Code != 200 || rec.Header().Get("X-Gatehouse-Role") != "readOnly" {
		t.Fatalf("the old session still reports %q (%d)", rec.Header().Get("X-Gatehouse-Role"), rec.Code)
	}
	if rec := f.verifyWith(admin, "?role=admin"); rec.Code != http.StatusForbidden {
		t.Fatalf("role=admin after the downgrade: %d", rec.Code)
	}
	if rec := f.verifyWith(admin, "?org=acme&tenant=t2"); rec.Code != http.StatusForbidden {
		t.Fatalf("tenant=t2: %d", rec.Code)
	}
}

func TestSessionsDie(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		kill func(f *fixture, cookie string) error
	}{
		{"user deleted", func(f *fixture, _ string) error {
			u, err := f.store.GetUserByEmail(ctx, "acme", "alice@example.com")
			if err != nil {
				return err
			}
			return f.svc.DeleteUser(ctx, app.Operator, "acme", u.ID)
		}},
		{"partner deactivated", func(f *fixture, _ string) error {
			_, err := f.svc.DeactivatePartner(ctx, app.Operator, "acme", f.partner.ID)
			return err
		}},
		{"partner deactivated and reactivated", func(f *fixture, _ string) error {
			if _, err := f.svc.DeactivatePartner(ctx, app.Operator, "acme", f.partner.ID); err != nil {
				return err
			}
			_, err := f.svc.ReactivatePartner(ctx, app.Operator, "acme", f.partner.ID)
			return err
		}},
		{"partner deleted", func(f *fixture, _ string) error { return f.svc.DeletePartner(ctx, app.Operator, "acme", f.partner.ID) }},
		{"session expired", func(f *fixture, _ string) error { f.clock.Advance(8*time.Hour + time.Second); return nil }},
		{"logged out", func(f *fixture, v string) error { return f.svc.Logout(ctx, v) }},
	}
	// bbolt reads the session and its user in one transaction
	// (GetSessionUser), the in-memory store one at a time: both must die alike.
	for _, c := range cases {
		for _, backend := range []string{"memory", "bolt"} {
			t.Run(c.name+"/"+backend, func(t *testing.T) {
				f := newFixtureWithStore(t, testStore(t, backend))
				v := f.signInCookie(t, f.claims(), "")
				if rec := f.verifyWith(v, ""); rec.Code != 200 {
					t.Fatalf("fresh session: %d", rec.Code)
				}
				must(t, func() error { return c.kill(f, v) })
				if rec := f.verifyWith(v, ""); rec.Code != http.StatusUnauthorized {
					t.Fatalf("/auth/verify after %s: %d", c.name, rec.Code)
				}
				req := httptest.NewRequest(http.MethodGet, "/session", nil)
				req.AddCookie(&http.Cookie{Name: f.srv.CookieName(), Value: v})
				if rec := f.do(req); rec.Code != http.StatusUnauthorized {
					t.Fatalf("/session after %s: %d", c.name, rec.Code)
				}
			})
		}
	}
}

// testStore is a fresh store of the named backend: in-memory, or bbolt in
// the test's temporary directory.
func testStore(t *testing.T, backend string) storage.Store {
	if backend == "memory" {
		return memory.New()
	}
	store, err := bolt.Open(filepath.Join(t.TempDir(), "gatehouse.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

func TestSessionLogoutClearsCookie(t *testing.T) {
	f := newFixture(t)
	v := f.signInCookie(t, f.claims(), "")
	req := httptest.NewRequest(http.MethodPost, "/logout", nil)
	req.AddCookie(&http.Cookie{Name: f.srv.CookieName(), Value: v})
	rec := f.do(req)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "https://sso.example.test/" {
		t.Fatalf("logout: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	c := sessionCookie(rec, f.srv.CookieName())
	if c == nil || c.MaxAge >= 0 || c.Value != "" {
		t.Fatalf("logout must clear the cookie: %+v", c)
	}
	if rec := f.verifyWith(v, ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("session alive after logout: %d", rec.Code)
	}
}

func TestSessionHostileCookies(t *testing.T) {
	f := newFixture(t)
	for _, v := range []string{"x", strings.Repeat("A", 54), strings.Repeat("A", 53) + "=", strings.Repeat("/", 54),
		strings.Repeat("A", 4000), "' OR 1=1 --", "%00"} {
		if rec := f.verifyWith(v, ""); rec.Code != http.StatusUnauthorized {
			t.Errorf("cookie %.20q: %d", v, rec.Code)
		}
	}
}

// TestKeyRemovalTakesEffectAtOnce: a removed key stops verifying on the very
// next request, even right after it verified (no stale key cache).
func TestKeyRemovalTakesEffectAtOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	_, keyB := keys(t)
	var kidB string
	must(t, func() error {
		k, err := f.svc.AddKey(ctx, app.Operator, "acme", f.partner.ID, app.KeyInput{PEM: pubPEM(t, keyB)})
		kidB = k.Kid
		return err
	})
	tokB := func() string { return signAlg(t, "RS256", keyB, `{"alg":"RS256"}`, f.claimsJSON(nil)) }
	if rec := f.signIn(tokB()); rec.Code != http.StatusFound {
		t.Fatalf("key B: %d %s", rec.Code, rec.Body)
	}
	must(t, func() error { return f.svc.DeleteKey(ctx, app.Operator, "acme", f.partner.ID, kidB) })
	if rec := f.signIn(tokB()); rec.Code != http.StatusUnauthorized {
		t.Fatalf("removed key B still verifies: %d", rec.Code)
	}
	if rec := f.signIn(f.token(f.claims())); rec.Code != http.StatusFound {
		t.Fatalf("key A after removing B: %d %s", rec.Code, rec.Body)
	}
	must(t, func() error { return f.svc.DeleteKey(ctx, app.Operator, "acme", f.partner.ID, f.kid) })
	if rec := f.signIn(f.token(f.claims())); rec.Code != http.StatusForbidden {
		t.Fatalf("no keys left: %d", rec.Code)
	}
}
