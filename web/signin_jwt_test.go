package web

import (
	"path/filepath"

	"context"
	"encoding/json"
	"gatehouse/storage/bolt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/app"
)

func TestJWTSignInSuccess(t *testing.T) {
	f := newFixture(t)
	rec := f.post(url.Values{"token": {f.token(f.claims())}, "return_to": {"https://dash.example.test/t1/reports?x=1"}})
	if rec.Code != http.StatusFound {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if loc := rec.Header().Get("Location"); loc != "https://dash.example.test/t1/reports?x=1" {
		t.Errorf("Location %q", loc)
	}
	c := sessionCookie(rec, f.srv.CookieName())
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || !c.Secure || c.Path != "/" {
		t.Fatalf("cookie %+v", c)
	}
	if f.srv.CookieName() != "__Host-gatehouse_session" {
		t.Errorf("https without cookie_domain must use the __Host- prefix, got %s", f.srv.CookieName())
	}
	if got := f.counts(); got != (counts{1, 1}) {
		t.Errorf("after sign-in: %+v", got)
	}
	for _, h := range []string{"X-Content-Type-Options", "Referrer-Policy", "Content-Security-Policy", "Cache-Control"} {
		if rec.Header().Get(h) == "" {
			t.Errorf("missing %s", h)
		}
	}
	if !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Error("CSP lacks frame-ancestors 'none'")
	}
	u, err := f.store.GetUserByEmail(context.Background(), "acme", "alice@example.com")
	if err != nil || !u.PartnerSSO || u.PartnerID != f.partner.ID || u.TenantID != "t1" || u.Role != "admin" || u.Name != "Alice" {
		t.Errorf("provisioned user %+v, %v", u, err)
	}
}

func TestJWTSignInRules(t *testing.T) {
	_, keyB := keys(t)
	type tc struct {
		name   string
		form   func(f *fixture) url.Values
		status int
		code   string
		msg    string // substring of the message
	}
	withClaims := func(mut func(c map[string]any)) func(f *fixture) url.Values {
		return func(f *fixture) url.Values {
			c := f.claims()
			mut(c)
			return url.Values{"token": {f.token(c)}}
		}
	}
	raw := func(header, payload string) func(f *fixture) url.Values {
		return func(f *fixture) url.Values {
			a, _ := keys(t)
			return url.Values{"token": {signRaw(t, a, header, payload)}}
		}
	}
	tok := func(s string) func(*fixture) url.Values {
		return func(*fixture) url.Values { return url.Values{"token": {s}} }
	}
	cases := []tc{
		// 1. form
		{"no token", func(*fixture) url.Values { return url.Values{} }, 400, app.CodeInvalidPayload, "token is required"},
		{"empty token", tok(""), 400, app.CodeInvalidPayload, "token is required"},
		// 2. shape
		{"two parts", tok("a.b"), 401, app.CodeInvalidToken, "The provided token is invalid."},
		{"four parts", tok("a.b.c.d"), 401, app.CodeInvalidToken, ""},
		{"padded base64", func(f *fixture) url.Values {
			parts := strings.Split(f.token(f.claims()), ".")
			return url.Values{"token": {parts[0] + "=." + parts[1] + "." + parts[2]}}
		}, 401, app.CodeInvalidToken, ""},
		{"header not an object", raw(`["RS256"]`, `{}`), 401, app.CodeInvalidToken, ""},
		{"payload not an object", raw(`{"alg":"RS256"}`, `"x"`), 401, app.CodeInvalidToken, ""},
		{"duplicate header member", raw(`{"alg":"RS256","alg":"RS256"}`, `{"organizationId":"acme"}`), 401, app.CodeInvalidToken, ""},
		{"duplicate claim", func(f *fixture) url.Values {
			a, _ := keys(t)
			exp := f.clock.Now().Add(time.Minute).Unix()
			p := `{"organizationId":"acme","tenantId":"t1","role":"readOnly","role":"admin","email":"a@example.com","exp":` + jsonNum(exp) + `}`
			return url.Values{"token": {signRaw(t, a, `{"alg":"RS256"}`, p)}}
		}, 401, app.CodeInvalidToken, ""},
		{"JSON serialisation", tok(`{"payload":"x","signatures":[]}`), 401, app.CodeInvalidToken, ""},
		// 3. header
		{"alg none", raw(`{"alg":"none"}`, `{"organizationId":"acme"}`), 401, app.CodeInvalidToken, ""},
		{"alg HS256", raw(`{"alg":"HS256"}`, `{"organizationId":"acme"}`), 401, app.CodeInvalidToken, ""},
		{"alg rs256 lower case", raw(`{"alg":"rs256"}`, `{"organizationId":"acme"}`), 401, app.CodeInvalidToken, ""},
		{"alg RS512", raw(`{"alg":"RS512"}`, `{"organizationId":"acme"}`), 401, app.CodeInvalidToken, ""},
		{"crit header", raw(`{"alg":"RS256","crit":["exp"]}`, `{"organizationId":"acme"}`), 401, app.CodeInvalidToken, ""},
		// 4. organization
		{"organizationId missing", raw(`{"alg":"RS256"}`, `{"tenantId":"t1"}`), 400, app.CodeInvalidPayload, "organizationId"},
		{"organizationId not a string", raw(`{"alg":"RS256"}`, `{"organizationId":7}`), 400, app.CodeInvalidPayload, "organizationId"},
		{"organizationId malformed", raw(`{"alg":"RS256"}`, `{"organizationId":"ac me"}`), 400, app.CodeInvalidPayload, "organizationId"},
		{"unknown organization", withClaims(func(c map[string]any) { c["organizationId"] = "other" }), 403, app.CodeInvalidKeyOrTenant, "Public Key not set for Tenant or Invalid tenantId"},
		// 5. signature
		{"wrong key", func(f *fixture) url.Values {
			p, _ := json.Marshal(f.claims())
			return url.Values{"token": {signRaw(t, keyB, `{"alg":"RS256"}`, string(p))}}
		}, 401, app.CodeInvalidToken, ""},
		{"unknown kid", func(f *fixture) url.Values {
			a, _ := keys(t)
			p, _ := json.Marshal(f.claims())
			return url.Values{"token": {signRaw(t, a, `{"alg":"RS256","kid":"nope"}`, string(p))}}
		}, 401, app.CodeInvalidToken, ""},
		{"tampered payload", func(f *fixture) url.Values {
			parts := strings.Split(f.token(f.claims()), ".")
			c := f.claims()
			c["role"] = "admin"
			c["tenantId"] = "t2"
			p, _ := json.Marshal(c)
			return url.Values{"token": {parts[0] + "." + b64(p) + "." + parts[2]}}
		}, 401, app.CodeInvalidToken, ""},
		// 6. claims
		{"tenantId missing", withClaims(func(c map[string]any) { delete(c, "tenantId") }), 400, app.CodeInvalidPayload, "tenantId"},
		{"role missing", withClaims(func(c map[string]any) { delete(c, "role") }), 400, app.CodeInvalidPayload, "role"},
		{"role Admin", withClaims(func(c map[string]any) { c["role"] = "Admin" }), 400, app.CodeInvalidPayload, "role"},
		{"role owner", withClaims(func(c map[string]any) { c["role"] = "owner" }), 400, app.CodeInvalidPayload, "role"},
		{"email missing", withClaims(func(c map[string]any) { delete(c, "email") }), 400, app.CodeInvalidPayload, "email"},
		{"email invalid", withClaims(func(c map[string]any) { c["email"] = "alice" }), 400, app.CodeInvalidPayload, "email"},
		{"email two @", withClaims(func(c map[string]any) { c["email"] = "a@b@example.com" }), 400, app.CodeInvalidPayload, "email"},
		{"email non-ASCII", withClaims(func(c map[string]any) { c["email"] = "аlice@example.com" }), 400, app.CodeInvalidPayload, "email"},
		{"email number", withClaims(func(c map[string]any) { c["email"] = 5 }), 400, app.CodeInvalidPayload, "email"},
		{"exp missing", withClaims(func(c map[string]any) { delete(c, "exp") }), 400, app.CodeInvalidPayload, "exp"},
		{"exp string", withClaims(func(c map[string]any) { c["exp"] = "1999999999" }), 400, app.CodeInvalidPayload, "exp"},
		{"exp null", withClaims(func(c map[string]any) { c["exp"] = nil }), 400, app.CodeInvalidPayload, "exp"},
		{"exp negative", withClaims(func(c map[string]any) { c["exp"] = -5 }), 400, app.CodeInvalidPayload, "exp"},
		{"iat string", withClaims(func(c map[string]any) { c["iat"] = "now" }), 400, app.CodeInvalidPayload, "iat"},
		{"name too long", withClaims(func(c map[string]any) { c["name"] = strings.Repeat("x", 201) }), 400, app.CodeInvalidPayload, "name"},
		{"jti too long", withClaims(func(c map[string]any) { c["jti"] = strings.Repeat("x", 257) }), 400, app.CodeInvalidPayload, "jti"},
		{"tenantId malformed", withClaims(func(c map[string]any) { c["tenantId"] = "t/1" }), 400, app.CodeInvalidPayload, "tenantId"},
		// 7. time
		{"expired", withClaims(func(c map[string]any) { c["exp"] = harnessEpoch.Add(-(2 * time.Minute)).Unix() }), 401, app.CodeExpiredToken, "The token has expired"},
		{"too long lifetime", withClaims(func(c map[string]any) { c["exp"] = harnessEpoch.Add(1*time.Hour + 1*time.Second).Unix() }), 401, app.CodeInvalidToken, ""},
		{"huge exp", withClaims(func(c map[string]any) { c["exp"] = 1e300 }), 401, app.CodeInvalidToken, ""},
		{"nbf in future", withClaims(func(c map[string]any) { c["nbf"] = harnessEpoch.Add(1*time.Minute + 1*time.Second).Unix() }), 401, app.CodeInvalidToken, ""},
		{"iat in future", withClaims(func(c map[string]any) { c["iat"] = harnessEpoch.Add(1*time.Minute + 1*time.Second).Unix() }), 401, app.CodeInvalidToken, ""},
		// 9. tenant
		{"unknown tenant", withClaims(func(c map[string]any) { c["tenantId"] = "t9" }), 403, app.CodeInvalidKeyOrTenant, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			before := f.counts()
			rec := f.post(c.form(f))
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.status, rec.Body)
			}
			code, msg := decodeError(t, rec)
			if code != c.code {
				t.Errorf("code %q, want %q (%s)", code, c.code, msg)
			}
			if c.msg != "" && !strings.Contains(msg, c.msg) {
				t.Errorf("message %q lacks %q", msg, c.msg)
			}
			if after := f.counts(); after != before {
				t.Errorf("a refused sign-in wrote something: %+v → %+v", before, after)
			}
			if sessionCookie(rec, f.srv.CookieName()) != nil {
				t.Error("a refused sign-in set a cookie")
			}
		})
	}
}

func jsonNum(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestJWTClockSkewHonoured(t *testing.T) {
	f := newFixture(t)
	c := f.claims()
	c["exp"] = f.clock.Now().Add(-30 * time.Second).Unix() // inside the 60s skew
	c["nbf"] = f.clock.Now().Add(30 * time.Second).Unix()
	if rec := f.signIn(f.token(c)); rec.Code != http.StatusFound {
		t.Fatalf("token inside the skew refused: %d %s", rec.Code, rec.Body)
	}
}

func TestJWTReplay(t *testing.T) {
	f := newFixture(t)
	c := f.claims()
	c["jti"] = "one-time-1"
	tok := f.token(c)
	if rec := f.signIn(tok); rec.Code != http.StatusFound {
		t.Fatalf("first use: %d %s", rec.Code, rec.Body)
	}
	rec := f.signIn(tok)
	if code, _ := decodeError(t, rec); rec.Code != 401 || code != app.CodeInvalidToken {
		t.Fatalf("replay: %d %s", rec.Code, code)
	}
}

func TestJWTReplayConcurrent(t *testing.T) {
	f := newFixture(t)
	c := f.claims()
	c["jti"] = "race-1"
	tok := f.token(c)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := f.signIn(tok)
			mu.Lock()
			statuses[rec.Code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[http.StatusFound] != 1 || statuses[http.StatusUnauthorized] != 19 {
		t.Fatalf("want exactly one winner: %v", statuses)
	}
}

func TestRequireJTI(t *testing.T) {
	f := newFixture(t, func(c *app.Config) { c.SSO.RequireJTI = true })
	rec := f.signIn(f.token(f.claims()))
	if code, msg := decodeError(t, rec); rec.Code != 400 || code != app.CodeInvalidPayload || !strings.Contains(msg, "jti") {
		t.Fatalf("%d %s %s", rec.Code, code, msg)
	}
}

func TestUserRules(t *testing.T) {
	ctx := context.Background()
	t.Run("existing non-SSO user", func(t *testing.T) {
		f := newFixture(t)
		must(t, func() error {
			_, err := f.svc.CreateUser(ctx, app.Operator, "acme", app.UserInput{Email: "alice@example.com", TenantID: "t1", Role: "admin"})
			return err
		})
		rec := f.signIn(f.token(f.claims()))
		if code, msg := decodeError(t, rec); rec.Code != 400 || code != app.CodeInvalidPayload || !strings.Contains(msg, "non-Partner-SSO") {
			t.Fatalf("%d %s %s", rec.Code, code, msg)
		}
	})
	t.Run("bound to another tenant", func(t *testing.T) {
		f := newFixture(t)
		if rec := f.signIn(f.token(f.claims())); rec.Code != 302 {
			t.Fatal(rec.Body)
		}
		c := f.claims()
		c["tenantId"] = "t2"
		rec := f.signIn(f.token(c))
		if code, msg := decodeError(t, rec); rec.Code != 400 || code != app.CodeInvalidPayload || !strings.Contains(msg, "t1") {
			t.Fatalf("%d %s %s", rec.Code, code, msg)
		}
	})
	t.Run("role and name follow the token", func(t *testing.T) {
		f := newFixture(t)
		f.signIn(f.token(f.claims()))
		c := f.claims()
		c["role"], c["name"] = "readOnly", "Alice B"
		if rec := f.signIn(f.token(c)); rec.Code != 302 {
			t.Fatal(rec.Body)
		}
		u, _ := f.store.GetUserByEmail(ctx, "acme", "alice@example.com")
		if u.Role != "readOnly" || u.Name != "Alice B" {
			t.Fatalf("%+v", u)
		}
	})
	t.Run("pre-provisioned required", func(t *testing.T) {
		f := newFixture(t)
		mode := "pre_provisioned"
		must(t, func() error {
			_, err := f.svc.UpdatePartner(ctx, app.Operator, "acme", f.partner.ID, app.PartnerPatch{PartnerPolicies: app.PartnerPolicies{UserProvisioning: app.Val(mode)}})
			return err
		})
		rec := f.signIn(f.token(f.claims()))
		if code, _ := decodeError(t, rec); rec.Code != 403 || code != app.CodeAccessDenied {
			t.Fatalf("%d %s", rec.Code, code)
		}
		must(t, func() error {
			_, err := f.svc.CreateUser(ctx, app.Operator, "acme", app.UserInput{Email: "alice@example.com", TenantID: "t1", Role: "readOnly", PartnerSSO: true})
			return err
		})
		if rec := f.signIn(f.token(f.claims())); rec.Code != 302 {
			t.Fatalf("pre-provisioned user refused: %s", rec.Body)
		}
	})
	t.Run("max users", func(t *testing.T) {
		f := newFixture(t)
		must(t, func() error {
			_, err := f.svc.UpdatePartner(ctx, app.Operator, "acme", f.partner.ID, app.PartnerPatch{PartnerPolicies: app.PartnerPolicies{MaxUsers: app.Val(1)}})
			return err
		})
		if rec := f.signIn(f.token(f.claims())); rec.Code != 302 {
			t.Fatal(rec.Body)
		}
		c := f.claims()
		c["email"] = "bob@example.com"
		rec := f.signIn(f.token(c))
		if code, msg := decodeError(t, rec); rec.Code != 403 || code != app.CodeAccessDenied || !strings.Contains(msg, "max_users") {
			t.Fatalf("%d %s %s", rec.Code, code, msg)
		}
		if rec := f.signIn(f.token(f.claims())); rec.Code != 302 {
			t.Fatal("an existing user must still sign in at the limit")
		}
	})
}

func TestPartnerPolicies(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		policy app.PartnerPolicies
		origin string
		want   string
	}{
		{"tenants", app.PartnerPolicies{AllowedTenants: app.Val([]string{"t2"})}, "", "allowed_tenants"},
		{"no tenants", app.PartnerPolicies{AllowedTenants: app.Val([]string{})}, "", "allowed_tenants"},
		{"email domains", app.PartnerPolicies{AllowedEmailDomains: app.Val([]string{"example.org"})}, "", "allowed_email_domains"},
		{"roles", app.PartnerPolicies{AllowedRoles: app.Val([]string{"readOnly"})}, "", "allowed_roles"},
		{"origins", app.PartnerPolicies{AllowedOrigins: app.Val([]string{"https://portal.example.test"})}, "https://evil.example.test", "allowed_origins"},
		{"provisioning disabled", app.PartnerPolicies{UserProvisioning: app.Val("disabled")}, "", "user_provisioning"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			must(t, func() error {
				_, err := f.svc.UpdatePartner(ctx, app.Operator, "acme", f.partner.ID, app.PartnerPatch{PartnerPolicies: c.policy})
				return err
			})
			rec := f.post(url.Values{"token": {f.token(f.claims())}}, "Origin", c.origin)
			code, msg := decodeError(t, rec)
			if rec.Code != 403 || code != app.CodeAccessDenied || !strings.Contains(msg, c.want) {
				t.Fatalf("%d %s %q", rec.Code, code, msg)
			}
		})
	}
	t.Run("policies that allow", func(t *testing.T) {
		f := newFixture(t)
		must(t, func() error {
			_, err := f.svc.UpdatePartner(ctx, app.Operator, "acme", f.partner.ID, app.PartnerPatch{PartnerPolicies: app.PartnerPolicies{
				AllowedTenants: app.Val([]string{"t1"}), AllowedEmailDomains: app.Val([]string{"EXAMPLE.com"}),
				AllowedRoles: app.Val([]string{"admin"}), AllowedOrigins: app.Val([]string{"https://portal.example.test/"}),
			}})
			return err
		})
		if rec := f.post(url.Values{"token": {f.token(f.claims())}}, "Origin", "https://portal.example.test"); rec.Code != 302 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("deactivated", func(t *testing.T) {
		f := newFixture(t)
		must(t, func() error {
			_, err := f.svc.DeactivatePartner(ctx, app.Operator, "acme", f.partner.ID)
			return err
		})
		rec := f.signIn(f.token(f.claims()))
		if code, _ := decodeError(t, rec); rec.Code != 403 || code != app.CodeAccessDenied {
			t.Fatalf("%d %s", rec.Code, code)
		}
	})
}

func TestReturnTo(t *testing.T) {
	cases := []struct{ returnTo, want string }{
		{"https://dash.example.test/t1/x", "https://dash.example.test/t1/x"},
		{"https://dash.example.test/t1/", "https://dash.example.test/t1/"},
		{"https://dash.example.test/t2/x", "https://dash.example.test/t1"},
		{"https://evil.example.test/t1/", "https://dash.example.test/t1"},
		{"//evil.example.test/", "https://dash.example.test/t1"},
		{"https://dash.example.test/t1/..%2f..%2fadmin", "https://dash.example.test/t1"},
		{"https://dash.example.test/t1/../admin", "https://dash.example.test/t1"},
		{"javascript:alert(1)", "https://dash.example.test/t1"},
		{"https://dash.example.test/t1/\r\nSet-Cookie: x", "https://dash.example.test/t1"},
		{"https://dash.example.test/t1/\\evil", "https://dash.example.test/t1"},
		{"https://user@dash.example.test/t1/", "https://dash.example.test/t1"},
		{"", "https://dash.example.test/t1"},
	}
	for _, c := range cases {
		f := newFixture(t)
		rec := f.post(url.Values{"token": {f.token(f.claims())}, "return_to": {c.returnTo}})
		if rec.Code != 302 {
			t.Fatalf("%q: %d", c.returnTo, rec.Code)
		}
		if got := rec.Header().Get("Location"); got != c.want {
			t.Errorf("return_to %q → %q, want %q", c.returnTo, got, c.want)
		}
	}
}

func TestTransportErrors(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name   string
		req    *http.Request
		status int
		code   string
	}{
		{"GET", httptest.NewRequest(http.MethodGet, "/sso/jwt", nil), 405, app.CodeMethodNotAllowed},
		{"PUT", httptest.NewRequest(http.MethodPut, "/sso/jwt", nil), 405, app.CodeMethodNotAllowed},
		{"JSON body", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/sso/jwt", strings.NewReader(`{"token":"x"}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		}(), 415, app.CodeUnsupportedMediaType},
		{"multipart", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/sso/jwt", strings.NewReader("--x--"))
			r.Header.Set("Content-Type", "multipart/form-data; boundary=x")
			return r
		}(), 415, app.CodeUnsupportedMediaType},
		{"no content type", httptest.NewRequest(http.MethodPost, "/sso/jwt", strings.NewReader("token=x")), 415, app.CodeUnsupportedMediaType},
		{"too large", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/sso/jwt", strings.NewReader("token="+strings.Repeat("a", 70000)))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}(), 413, app.CodePayloadTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := f.do(c.req)
			if rec.Code != c.status {
				t.Fatalf("status %d want %d: %s", rec.Code, c.status, rec.Body)
			}
			if code, _ := decodeError(t, rec); code != c.code {
				t.Errorf("code %q want %q", code, c.code)
			}
		})
	}
	t.Run("no trailing-slash redirect", func(t *testing.T) {
		rec := f.do(httptest.NewRequest(http.MethodGet, "/session/", nil))
		if rec.Code == http.StatusMovedPermanently || rec.Code == http.StatusTemporaryRedirect || rec.Code == http.StatusPermanentRedirect {
			t.Fatalf("redirected: %d", rec.Code)
		}
	})
}

func TestErrorNegotiation(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		accept string
		html   bool
	}{
		{"", false},
		{"*/*", false},
		{"application/json", false},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true},
		{"application/json, text/html;q=0.5", false},
		{"text/html;q=0.4, application/json;q=0.9", false},
		{"text/*", true},
	}
	for _, c := range cases {
		rec := f.post(url.Values{"token": {"x.y.z"}}, "Accept", c.accept)
		isHTML := strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html")
		if rec.Code != 401 || isHTML != c.html {
			t.Errorf("Accept %q: status %d, html=%v", c.accept, rec.Code, isHTML)
		}
		if c.html && !strings.Contains(rec.Body.String(), app.CodeInvalidToken) {
			t.Errorf("HTML error page lacks the code")
		}
	}
}

// TestConcurrentFirstSignIns: 50 goroutines over overlapping emails make one
// user per email, and every 302 is backed by a stored session.
func TestConcurrentFirstSignIns(t *testing.T) {
	f := newFixture(t)
	runConcurrentSignIns(t, f)
}

func runConcurrentSignIns(t *testing.T, f *fixture) {
	const workers, emails = 50, 7
	tokens := make([]string, workers)
	for i := range tokens {
		c := f.claims()
		c["email"] = "user" + string(rune('a'+i%emails)) + "@example.com"
		tokens[i] = f.token(c)
	}
	recs := make([]*httptest.ResponseRecorder, workers)
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			recs[i] = f.signIn(tokens[i])
		}(i)
	}
	wg.Wait()
	ctx := context.Background()
	for i, rec := range recs {
		if rec.Code != http.StatusFound {
			t.Fatalf("sign-in %d: %d %s", i, rec.Code, rec.Body)
		}
		c := sessionCookie(rec, f.srv.CookieName())
		if _, err := f.svc.Authenticate(ctx, c.Value); err != nil {
			t.Fatalf("302 without a stored session: %v", err)
		}
	}
	if n, _ := f.store.CountUsers(ctx, "acme", ""); n != emails {
		t.Fatalf("users %d, want %d", n, emails)
	}
}

// TestConcurrentFirstSignInsBolt runs the same race on a real bbolt file,
// through the group-commit writer.
func TestConcurrentFirstSignInsBolt(t *testing.T) {
	store, err := bolt.Open(filepath.Join(t.TempDir(), "race.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	runConcurrentSignIns(t, newFixtureWithStore(t, store))
}
