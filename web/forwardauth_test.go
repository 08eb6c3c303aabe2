package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gatehouse/app"
)

// betaT1Cookie signs in an admin of organization "beta" whose tenant is also
// called "t1" (tenant IDs are unique only within an organization).
func (f *fixture) betaT1Cookie(t *testing.T) string {
	t.Helper()
	f.beta()
	must(t, func() error {
		_, err := f.svc.CreateTenant(context.Background(), app.Operator, "beta", app.TenantInput{ID: "t1", Name: "Beta's t1", RedirectURL: "https://b.example.test/t1"})
		return err
	})
	_, keyB := keys(t)
	c := f.claims()
	c["organizationId"], c["email"] = "beta", "mallory@beta.example"
	rec := f.do(tokenRequest(signRaw(t, keyB, `{"alg":"RS256","typ":"JWT"}`, mustJSON(t, c))))
	if rec.Code != http.StatusFound {
		t.Fatalf("beta sign-in: %d %s", rec.Code, rec.Body)
	}
	return sessionCookie(rec, f.srv.CookieName()).Value
}

// TestForwardAuthCrossOrg is issue 10 item 2: another organization's user
// of a tenant with the same ID never passes a check for acme's tenant.
func TestForwardAuthCrossOrg(t *testing.T) {
	f := newFixture(t)
	acme := f.signInCookie(t, f.claims(), "")
	beta := f.betaT1Cookie(t)
	cases := []struct {
		cookie, query string
		want          int
	}{
		{acme, "?org=acme&tenant=t1", 200},
		{acme, "?org=acme&tenant=t1&role=admin", 200},
		{acme, "?org=acme", 200},
		{beta, "?org=acme&tenant=t1", 403},
		{beta, "?org=acme&tenant=t1&role=admin", 403},
		{beta, "?org=acme", 403},
		{beta, "?org=beta&tenant=t1", 200},
		{acme, "?org=beta&tenant=t1", 403},
		{beta, "?tenant=t1", 400}, // the hole: tenant alone used to admit beta's admin
		{beta, "?tenant=t1&role=admin", 400},
	}
	for _, c := range cases {
		rec := f.verifyWith(c.cookie, c.query)
		if rec.Code != c.want {
			t.Errorf("%s: %d, want %d", c.query, rec.Code, c.want)
		}
		if rec.Code != 200 && rec.Header().Get("X-Gatehouse-User") != "" {
			t.Errorf("%s: identity headers on a %d", c.query, rec.Code)
		}
		if rec.Code == 200 && rec.Header().Get("X-Gatehouse-Org") != strings.TrimPrefix(strings.Split(c.query, "&")[0], "?org=") {
			t.Errorf("%s: X-Gatehouse-Org %q", c.query, rec.Header().Get("X-Gatehouse-Org"))
		}
	}
}

// TestForwardAuthQueryStrict: any parameter the check does not understand,
// a repeated or empty one, or tenant without org is 400 InvalidRequest
// naming the parameter, with or without a session, so a proxy typo fails at
// once instead of checking less.
func TestForwardAuthQueryStrict(t *testing.T) {
	f := newFixture(t)
	cookie := f.signInCookie(t, f.claims(), "")
	cases := []struct{ query, names string }{
		{"?tenant=t1", "tenant"},
		{"?tenant=t1&role=admin", "tenant"},
		{"?tennant=t1&org=acme", "tennant"},
		{"?org=acme&tenant=t1&Role=admin", "Role"},
		{"?org=acme&tenant=t1&roles=admin", "roles"},
		{"?org=acme&organization=acme", "organization"},
		{"?org=acme&tenant=t1&tenant=t2", "tenant"},
		{"?org=acme&org=acme", "org"},
		{"?org=acme&tenant=", "tenant"},
		{"?org=&tenant=t1", "org"},
		{"?org", "org"},
		{"?org=acme&role=", "role"},
		{"?org=acme&role=superuser", "role"},
		{"?org=acme&aud=", "aud"},
		{"?org=acme&aud=" + strings.Repeat("a", 257), "aud"},
		{"?org=acme&aud=two%20words", "aud"},
		{"?org=acme&aud=caf%C3%A9", "aud"},
		{"?org=acme&aud=a&aud=b", "aud"},
		{"?=acme", `""`},
		{"?org=acme;tenant=t1", "query"},
		{"?org=%zz", "query"},
	}
	for _, c := range cases {
		for _, withSession := range []bool{true, false} {
			v := ""
			if withSession {
				v = cookie
			}
			rec := f.verifyWith(v, c.query)
			if rec.Code != http.StatusBadRequest {
				t.Errorf("%s (session %v): %d, want 400", c.query, withSession, rec.Code)
				continue
			}
			code, msg := decodeError(t, rec)
			if code != app.CodeInvalidRequest || !strings.Contains(msg, c.names) {
				t.Errorf("%s: %s %q, want InvalidRequest naming %s", c.query, code, msg, c.names)
			}
			if rec.Header().Get("X-Gatehouse-User") != "" {
				t.Errorf("%s: identity headers on a 400", c.query)
			}
		}
	}
	// What the contract allows passes.
	for _, q := range []string{"", "?org=acme", "?org=acme&tenant=t1", "?role=admin", "?org=acme&tenant=t1&role=admin&aud=https://dash.example.test", "?aud=" + strings.Repeat("~", 256)} {
		if rec := f.verifyWith(cookie, q); rec.Code != 200 {
			t.Errorf("%s: %d %s", q, rec.Code, rec.Body)
		}
	}
}

// logoutFrom posts /logout with the cookie and, when origin is not "-", an Origin header.
func (f *fixture) logoutFrom(cookie, origin, accept string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/logout", nil)
	req.AddCookie(&http.Cookie{Name: f.srv.CookieName(), Value: cookie})
	if origin != "-" {
		req.Header["Origin"] = []string{origin}
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return f.do(req)
}

// TestLogoutCrossSiteRefused is issue 10 item 8: a sign-out posted by
// another site's page is 403 AccessDenied and the session lives on.
func TestLogoutCrossSiteRefused(t *testing.T) {
	f := newFixture(t) // public_url https://sso.example.test
	cookie := f.signInCookie(t, f.claims(), "")
	for _, origin := range []string{"https://evil.example", "https://dash.example.test", "http://sso.example.test",
		"https://sso.example.test:8443", "https://sso.example.test.evil.example", "null", ""} {
		rec := f.logoutFrom(cookie, origin, "")
		if rec.Code != http.StatusForbidden {
			t.Fatalf("Origin %q: %d, want 403", origin, rec.Code)
		}
		if code, _ := decodeError(t, rec); code != app.CodeAccessDenied {
			t.Errorf("Origin %q: code %s", origin, code)
		}
		if c := sessionCookie(rec, f.srv.CookieName()); c != nil {
			t.Errorf("Origin %q: the refusal touched the cookie: %+v", origin, c)
		}
		if v := f.verifyWith(cookie, ""); v.Code != 200 {
			t.Fatalf("Origin %q: the session died: %d", origin, v.Code)
		}
	}
	// A person's browser gets the refusal as a page.
	rec := f.logoutFrom(cookie, "https://evil.example", "text/html,application/xhtml+xml,*/*;q=0.8")
	if rec.Code != http.StatusForbidden || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") ||
		!strings.Contains(rec.Body.String(), "AccessDenied") {
		t.Fatalf("browser refusal: %d %s %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	// Gatehouse's own page (its origin spelled as browsers do) signs out.
	for _, origin := range []string{"https://sso.example.test"} {
		rec := f.logoutFrom(cookie, origin, "")
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("own origin: %d %s", rec.Code, rec.Body)
		}
	}
	if v := f.verifyWith(cookie, ""); v.Code != http.StatusUnauthorized {
		t.Fatalf("after own-origin logout: %d", v.Code)
	}
	// No Origin at all (curl, a script): not a browser's cross-site post.
	other := f.signInCookie(t, f.claims(), "")
	if rec := f.logoutFrom(other, "-", ""); rec.Code != http.StatusSeeOther {
		t.Fatalf("no Origin: %d", rec.Code)
	}
}

func TestSiteOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://SSO.Example.com":          "https://sso.example.com",
		"https://sso.example.com:443":      "https://sso.example.com",
		"http://127.0.0.1:80":              "http://127.0.0.1",
		"http://127.0.0.1:8080":            "http://127.0.0.1:8080",
		"https://sso.example.com/base":     "https://sso.example.com",
		"https://[::1]:443":                "https://[::1]",
		"https://[::1]:8443":               "https://[::1]:8443",
		"http://sso.gh.localhost:9999/x/y": "http://sso.gh.localhost:9999",
	} {
		if got := siteOrigin(in); got != want {
			t.Errorf("siteOrigin(%q) = %q, want %q", in, got, want)
		}
	}
}

// browserAccept is what Chromium sends on a navigation.
const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

// TestPublicMissesFollowAccept is issue 10 item 10: 404 and 405 on the
// public listener are pages for a browser and JSON otherwise, except on the
// server-to-server routes, which answer JSON always.
func TestPublicMissesFollowAccept(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		method, path string
		status       int
		code         string
		alwaysJSON   bool
	}{
		{"GET", "/no/such/page", 404, app.CodeNotFound, false},
		{"GET", "/sso/jwt/", 404, app.CodeNotFound, false},
		{"GET", "/metrics", 404, app.CodeNotFound, false},
		{"GET", "/sso/jwt", 405, app.CodeMethodNotAllowed, false},
		{"PUT", "/logout", 405, app.CodeMethodNotAllowed, false},
		{"DELETE", "/session", 405, app.CodeMethodNotAllowed, false},
		{"GET", "/sso/hmac/token", 405, app.CodeMethodNotAllowed, true},
		{"GET", "/sso/jwt/revoke", 0, "", true},
		{"GET", "/sso/hmac/revoke", 0, "", true},
		{"GET", "/session", 401, app.CodeUnauthorized, false},
	}
	for _, c := range cases {
		for _, accept := range []string{"", "*/*", "application/json", browserAccept} {
			req := httptest.NewRequest(c.method, c.path, nil)
			if accept != "" {
				req.Header.Set("Accept", accept)
			}
			rec := f.do(req)
			if c.status != 0 && rec.Code != c.status {
				t.Errorf("%s %s (Accept %q): %d, want %d", c.method, c.path, accept, rec.Code, c.status)
				continue
			}
			if rec.Code < 400 {
				t.Errorf("%s %s: %d", c.method, c.path, rec.Code)
				continue
			}
			ct := rec.Header().Get("Content-Type")
			wantHTML := accept == browserAccept && !c.alwaysJSON
			if wantHTML {
				body := rec.Body.String()
				if !strings.HasPrefix(ct, "text/html") || !strings.Contains(body, c.code) || !strings.Contains(body, `name="viewport"`) {
					t.Errorf("%s %s for a browser: %s %.200s", c.method, c.path, ct, body)
				}
				continue
			}
			var e errorBody
			if !strings.HasPrefix(ct, "application/json") || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Code == "" || e.RequestID == "" {
				t.Errorf("%s %s (Accept %q): want a JSON error, got %s %.200s", c.method, c.path, accept, ct, rec.Body)
			}
			if c.code != "" && e.Code != c.code {
				t.Errorf("%s %s: code %q, want %q", c.method, c.path, e.Code, c.code)
			}
		}
	}
}

// TestEveryPageHasViewport walks every page template: each one that renders
// a document declares the mobile viewport.
func TestEveryPageHasViewport(t *testing.T) {
	f := newFixture(t)
	samples := map[string]any{
		"home":      homePage{Base: "https://sso.example.test", SignedIn: true},
		"error":     errorPage{Title: "Page not found", Code: "not_found"},
		"demo":      demoPage{OrgID: "acme", TenantID: "t1"},
		"demo_post": demoPostPage{Action: "https://sso.example.test/sso/jwt", Script: autoSubmitScript},
		"dashboard": dashboardPage{SignedIn: true},
	}
	parts := map[string]bool{"pages": true, "top": true, "bottom": true} // fragments, not documents
	seen := 0
	for _, tmpl := range f.srv.pages.Templates() {
		name := tmpl.Name()
		if parts[name] || strings.HasSuffix(name, ".html") {
			continue
		}
		data, ok := samples[name]
		if !ok {
			t.Errorf("page template %q has no sample here: add one so its viewport is checked", name)
			continue
		}
		var b strings.Builder
		if err := f.srv.pages.ExecuteTemplate(&b, name, data); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.Contains(b.String(), `<meta name="viewport" content="width=device-width, initial-scale=1">`) {
			t.Errorf("page %q has no viewport meta tag", name)
		}
		// Under the no-referrer header a browser posts "Origin: null", which
		// /logout refuses: a page with a sign-out form must relax it.
		if strings.Contains(b.String(), `/logout"`) && !strings.Contains(b.String(), `<meta name="referrer" content="same-origin">`) {
			t.Errorf("page %q has a sign-out form but not the same-origin referrer meta", name)
		}
		seen++
	}
	if seen != len(samples) {
		t.Errorf("checked %d pages, want %d", seen, len(samples))
	}
}

// TestDemoDashboardChecksOrgAndTenant: the demo dashboard admits whom its
// forward-auth check (org and tenant) would, and shows that check.
func TestDemoDashboardChecksOrgAndTenant(t *testing.T) {
	f := newFixture(t)
	a, _ := keys(t)
	srv, err := New(Options{Service: f.svc, Demo: &Demo{OrgID: "acme", TenantID: "t1", Kid: f.kid, PrivateKey: a}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := srv.PublicHandler()
	if err != nil {
		t.Fatal(err)
	}
	get := func(cookie string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/demo/dashboard", nil)
		req.Header.Set("Accept", browserAccept)
		req.AddCookie(&http.Cookie{Name: srv.CookieName(), Value: cookie})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := get(f.signInCookie(t, f.claims(), ""))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "/auth/verify?org=acme&amp;tenant=t1") {
		t.Fatalf("acme t1 user: %d %s", rec.Code, rec.Body)
	}
	if rec := get(f.betaT1Cookie(t)); rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "AccessDenied") {
		t.Fatalf("beta's t1 user on acme's t1 dashboard: %d %.300s", rec.Code, rec.Body)
	}
}
