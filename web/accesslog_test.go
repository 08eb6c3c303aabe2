package web

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAccessLogForwardAuthAtDebug: a proxy calls /auth/verify on every page
// load, so its checks log at debug; sign-ins, other routes and forward-auth
// failures of the server itself stay at info.
func TestAccessLogForwardAuthAtDebug(t *testing.T) {
	f := newFixture(t)
	handler := func(level slog.Level) (http.Handler, *strings.Builder) {
		logs := &strings.Builder{}
		srv, err := New(Options{Service: f.svc, Logger: slog.New(slog.NewTextHandler(&syncBuilder{Builder: logs}, &slog.HandlerOptions{Level: level}))})
		if err != nil {
			t.Fatal(err)
		}
		h, err := srv.PublicHandler()
		if err != nil {
			t.Fatal(err)
		}
		return h, logs
	}
	for _, tc := range []struct {
		level       slog.Level
		wantVerify  bool
		description string
	}{
		{slog.LevelInfo, false, "info (the default)"},
		{slog.LevelDebug, true, "debug"},
	} {
		t.Run(tc.description, func(t *testing.T) {
			h, logs := handler(tc.level)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tokenRequest(f.token(f.claims())))
			if rec.Code != http.StatusFound {
				t.Fatalf("sign-in %d %s", rec.Code, rec.Body)
			}
			cookie := sessionCookie(rec, f.srv.CookieName())
			for _, c := range []*http.Cookie{cookie, {Name: f.srv.CookieName(), Value: "not-a-session"}} {
				req := httptest.NewRequest(http.MethodGet, "/auth/verify", nil)
				req.AddCookie(c)
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/healthz", nil))
			out := logs.String()
			if !strings.Contains(out, "path=/sso/jwt status=302") || !strings.Contains(out, "path=/healthz") {
				t.Errorf("sign-in or health check not logged at %s:\n%s", tc.description, out)
			}
			for _, status := range []string{"200", "401"} {
				if got := strings.Contains(out, "path=/auth/verify status="+status); got != tc.wantVerify {
					t.Errorf("forward-auth %s logged = %v at %s, want %v:\n%s", status, got, tc.description, tc.wantVerify, out)
				}
			}
		})
	}
}
