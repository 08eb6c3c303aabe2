package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse/app"
)

func (f *fixture) withCookie(req *http.Request, c *http.Cookie) *httptest.ResponseRecorder {
	if c != nil {
		req.AddCookie(c)
	}
	return f.do(req)
}

func TestSessionRoutes(t *testing.T) {
	f := newFixture(t)
	rec := f.signIn(f.token(f.claims()))
	cookie := sessionCookie(rec, f.srv.CookieName())

	got := f.withCookie(httptest.NewRequest(http.MethodGet, "/session", nil), cookie)
	var body struct {
		User      app.UserView `json:"user"`
		ExpiresAt time.Time    `json:"expires_at"`
	}
	if err := json.Unmarshal(got.Body.Bytes(), &body); err != nil || got.Code != 200 {
		t.Fatalf("%d %s", got.Code, got.Body)
	}
	if body.User.Email != "alice@example.com" || !body.User.PartnerSSO || !body.ExpiresAt.Equal(f.clock.Now().Add(8*time.Hour)) {
		t.Errorf("session %+v", body)
	}
	if got.Header().Get("Cache-Control") != "no-store" {
		t.Error("/session must not be cached")
	}
	if rec := f.do(httptest.NewRequest(http.MethodGet, "/session", nil)); rec.Code != 401 {
		t.Errorf("no cookie: %d", rec.Code)
	}
	home := f.withCookie(httptest.NewRequest(http.MethodGet, "/", nil), cookie)
	if home.Code != 200 || !strings.Contains(home.Body.String(), "alice@example.com") || !strings.Contains(home.Body.String(), "t1") {
		t.Errorf("home page for a signed-in user: %d", home.Code)
	}
	anon := f.do(httptest.NewRequest(http.MethodGet, "/", nil))
	if !strings.Contains(anon.Body.String(), "partner portal") {
		t.Error("the anonymous home page must say how to sign in")
	}

	out := f.withCookie(httptest.NewRequest(http.MethodPost, "/logout", nil), cookie)
	if out.Code != http.StatusSeeOther || out.Header().Get("Location") != "https://sso.example.test/" {
		t.Fatalf("logout: %d %q", out.Code, out.Header().Get("Location"))
	}
	if c := sessionCookie(out, f.srv.CookieName()); c == nil || c.MaxAge >= 0 {
		t.Errorf("logout must clear the cookie: %+v", c)
	}
	if rec := f.withCookie(httptest.NewRequest(http.MethodGet, "/auth/verify", nil), cookie); rec.Code != 401 {
		t.Errorf("after logout: %d", rec.Code)
	}
}

func TestSessionExpiryAndSweep(t *testing.T) {
	f := newFixture(t)
	cookie := sessionCookie(f.signIn(f.token(f.claims())), f.srv.CookieName())
	f.clock.Advance(8*time.Hour - time.Second)
	if rec := f.withCookie(httptest.NewRequest(http.MethodGet, "/auth/verify", nil), cookie); rec.Code != 200 {
		t.Fatalf("before ttl: %d", rec.Code)
	}
	f.clock.Advance(2 * time.Second)
	if rec := f.withCookie(httptest.NewRequest(http.MethodGet, "/auth/verify", nil), cookie); rec.Code != 401 {
		t.Fatalf("after ttl: %d", rec.Code)
	}
	res, _, err := f.svc.Sweep(context.Background())
	if err != nil || res.Sessions != 1 {
		t.Fatalf("sweep: %+v %v", res, err)
	}
}

func TestForgedCookiesRefused(t *testing.T) {
	f := newFixture(t)
	f.signIn(f.token(f.claims()))
	for _, v := range []string{"x", strings.Repeat("A", 54), strings.Repeat("A", 5000), "../../etc/passwd"} {
		rec := f.withCookie(httptest.NewRequest(http.MethodGet, "/auth/verify", nil), &http.Cookie{Name: f.srv.CookieName(), Value: v})
		if rec.Code != 401 {
			t.Errorf("cookie %q: %d", v[:min(len(v), 20)], rec.Code)
		}
	}
}

func TestHealth(t *testing.T) {
	f := newFixture(t)
	if rec := f.do(httptest.NewRequest(http.MethodGet, "/healthz", nil)); rec.Code != 200 {
		t.Errorf("healthz %d", rec.Code)
	}
	rec := f.do(httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"encryption_keys":"ok"`) {
		t.Errorf("readyz %d %s", rec.Code, rec.Body)
	}
	if err := f.store.Close(); err != nil {
		t.Fatal(err)
	}
	if rec := f.do(httptest.NewRequest(http.MethodGet, "/readyz", nil)); rec.Code != 503 {
		t.Errorf("readyz with a closed store: %d", rec.Code)
	}
}
