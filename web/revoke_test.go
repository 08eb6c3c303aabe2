package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/app"
)

// revokeClaims is a logout of alice by the fixture's partner, valid for 5 minutes.
func (f *fixture) revokeClaims(action string) map[string]any {
	now := f.clock.Now()
	return map[string]any{
		"organizationId": "acme", "email": "alice@example.com", "action": action,
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "jti": fmt.Sprintf("rv-%d", nonceSeq.Add(1)),
	}
}

// jwtRevoke posts a token to /sso/jwt/revoke.
func (f *fixture) jwtRevoke(token string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/sso/jwt/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return f.do(req)
}

// hmacRevoke posts a signed body to /sso/hmac/revoke with the fixture's
// partner's credentials.
func (f *fixture) hmacRevoke(body map[string]any) *httptest.ResponseRecorder {
	raw := []byte(mustJSON(f.t, body))
	ts := f.now3339()
	req := httptest.NewRequest(http.MethodPost, "/sso/hmac/revoke", strings.NewReader(string(raw)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Consumer-Key", f.partner.ConsumerKey)
	req.Header.Set("X-Timestamp", ts)
	req.Header.Set("X-Signature", app.SignHMAC(f.partner.ConsumerSecret, ts, f.partner.ConsumerKey, raw))
	return f.do(req)
}

func revokeBody(email, action string) map[string]any {
	return map[string]any{"email": email, "action": action, "nonce": nextNonce()}
}

func decodeRevoke(t *testing.T, rec *httptest.ResponseRecorder) app.RevokeResult {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	var raw map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil || len(raw) != 3 {
		t.Fatalf("answer %s: want exactly action, user_found, sessions_revoked", rec.Body)
	}
	var res app.RevokeResult
	_ = json.Unmarshal(rec.Body.Bytes(), &res)
	return res
}

// wantCode checks an error answer's status and code, and that it is JSON.
func wantCode(t *testing.T, what string, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("%s: status %d, want %d: %s", what, rec.Code, status, rec.Body)
	}
	if got, _ := decodeError(t, rec); got != code {
		t.Fatalf("%s: code %q, want %q", what, got, code)
	}
}

func TestJWTRevokeLogout(t *testing.T) {
	f := newFixture(t)
	c1 := f.signInCookie(t, f.claims(), "")
	c2 := f.signInCookie(t, f.claims(), "")
	bob := f.claims()
	bob["email"] = "bob@example.com"
	cBob := f.signInCookie(t, bob, "")
	if f.verifyWith(c1, "").Code != 200 {
		t.Fatal("session not valid before revoke")
	}
	res := decodeRevoke(t, f.jwtRevoke(f.token(f.revokeClaims("logout"))))
	if res != (app.RevokeResult{Action: "logout", UserFound: true, SessionsRevoked: 2}) {
		t.Fatalf("result %+v", res)
	}
	for _, c := range []string{c1, c2} {
		if code := f.verifyWith(c, "").Code; code != http.StatusUnauthorized {
			t.Errorf("revoked session: /auth/verify %d, want 401", code)
		}
	}
	if code := f.verifyWith(cBob, "").Code; code != 200 {
		t.Errorf("another user's session: %d", code)
	}
	if _, err := f.store.GetUserByEmail(context.Background(), "acme", "alice@example.com"); err != nil {
		t.Errorf("logout removed the user: %v", err)
	}
	// Idempotent: again (fresh jti) finds the user with nothing left to end.
	if res := decodeRevoke(t, f.jwtRevoke(f.token(f.revokeClaims("logout")))); res.SessionsRevoked != 0 || !res.UserFound {
		t.Errorf("second logout %+v", res)
	}
	events := f.auditEvents()
	last := events[len(events)-2]
	if last.Type != "partner.logout" || last.Outcome != "success" || last.TenantID != "t1" || last.PartnerID != f.partner.ID ||
		last.Email != "alice@example.com" || fmt.Sprint(last.Details["sessions_revoked"]) != "2" {
		t.Errorf("audit %+v", last)
	}
}

func TestJWTRevokeDeprovision(t *testing.T) {
	f := newFixture(t)
	c := f.signInCookie(t, f.claims(), "")
	before, _ := f.store.GetUserByEmail(context.Background(), "acme", "alice@example.com")
	res := decodeRevoke(t, f.jwtRevoke(f.token(f.revokeClaims("deprovision"))))
	if res != (app.RevokeResult{Action: "deprovision", UserFound: true, SessionsRevoked: 1}) {
		t.Fatalf("result %+v", res)
	}
	if code := f.verifyWith(c, "").Code; code != http.StatusUnauthorized {
		t.Errorf("/auth/verify %d after deprovision", code)
	}
	if _, err := f.store.GetUser(context.Background(), before.ID); err == nil {
		t.Error("deprovision kept the user")
	}
	// Unknown email now: 200, user_found false.
	if res := decodeRevoke(t, f.jwtRevoke(f.token(f.revokeClaims("deprovision")))); res.UserFound || res.SessionsRevoked != 0 {
		t.Errorf("deprovision of an unknown email %+v", res)
	}
	ev := f.auditEvents()
	if e := ev[len(ev)-1]; e.Type != "partner.deprovision" || e.Outcome != "success" || e.TenantID != "" {
		t.Errorf("audit of an unknown email %+v", e)
	}
	// The next sign-in provisions a new user.
	f.signInCookie(t, f.claims(), "")
	after, _ := f.store.GetUserByEmail(context.Background(), "acme", "alice@example.com")
	if after.ID == "" || after.ID == before.ID {
		t.Errorf("re-created user %q (was %q)", after.ID, before.ID)
	}
}

// TestRevokeTokenConfusion: a revoke token never signs in, a sign-in token
// never revokes, and a jti used at either endpoint is a replay at both. A
// refused call records nothing, so its token stays usable where it belongs.
func TestRevokeTokenConfusion(t *testing.T) {
	f := newFixture(t)
	c := f.signInCookie(t, f.claims(), "")

	// A revoke token at /sso/jwt: InvalidToken at step 6, before any other
	// claim (this one even carries tenantId and role, and an invalid email).
	rc := f.revokeClaims("logout")
	rc["tenantId"], rc["role"] = "t1", "admin"
	revokeToken := f.token(rc)
	wantCode(t, "revoke token at /sso/jwt", f.signIn(revokeToken), 401, app.CodeInvalidToken)
	bad := f.claims()
	bad["action"], bad["email"] = "logout", "not an email"
	wantCode(t, "any action member", f.signIn(f.token(bad)), 401, app.CodeInvalidToken)
	empty := f.claims()
	empty["action"] = nil
	wantCode(t, "action null", f.signIn(f.token(empty)), 401, app.CodeInvalidToken)
	// Nothing was recorded: the revoke token still works where it belongs.
	decodeRevoke(t, f.jwtRevoke(revokeToken))
	if f.verifyWith(c, "").Code != 401 {
		t.Fatal("revoke did not end the session")
	}

	// A sign-in token at revoke: no action → InvalidPayload, nothing recorded.
	signin := f.claims()
	signin["jti"] = "shared-jti-1"
	signinToken := f.token(signin)
	wantCode(t, "sign-in token at revoke", f.jwtRevoke(signinToken), 400, app.CodeInvalidPayload)
	for _, action := range []any{"", "Logout", "delete", 1, true} {
		sc := f.revokeClaims("logout")
		sc["action"] = action
		wantCode(t, fmt.Sprintf("action %v", action), f.jwtRevoke(f.token(sc)), 400, app.CodeInvalidPayload)
	}
	if rec := f.signIn(signinToken); rec.Code != http.StatusFound {
		t.Fatalf("the sign-in token must still sign in: %d %s", rec.Code, rec.Body)
	}

	// The jti used by the sign-in is a replay at revoke ...
	rc = f.revokeClaims("logout")
	rc["jti"] = "shared-jti-1"
	wantCode(t, "sign-in jti at revoke", f.jwtRevoke(f.token(rc)), 401, app.CodeInvalidToken)
	// ... and a jti used by revoke is a replay at sign-in (its token must
	// carry no action, so craft a sign-in token with the revoke's jti).
	rc = f.revokeClaims("logout")
	decodeRevoke(t, f.jwtRevoke(f.token(rc)))
	signin = f.claims()
	signin["jti"] = rc["jti"]
	wantCode(t, "revoke jti at sign-in", f.signIn(f.token(signin)), 401, app.CodeInvalidToken)
	wantCode(t, "revoke token twice", f.jwtRevoke(f.token(rc)), 401, app.CodeInvalidToken)
}

func TestJWTRevokeChecks(t *testing.T) {
	f := newFixture(t)
	_, keyB := keys(t)
	now := f.clock.Now()
	tok := func(mut func(map[string]any)) string {
		c := f.revokeClaims("logout")
		if mut != nil {
			mut(c)
		}
		return f.token(c)
	}
	cases := []struct {
		name   string
		token  string
		status int
		code   string
	}{
		{"empty", "", 400, app.CodeInvalidPayload},
		{"shape", "a.b", 401, app.CodeInvalidToken},
		{"alg none", b64([]byte(`{"alg":"none"}`)) + "." + b64([]byte(mustJSON(t, f.revokeClaims("logout")))) + ".", 401, app.CodeInvalidToken},
		{"HS256", b64([]byte(`{"alg":"HS256"}`)) + "." + b64([]byte(mustJSON(t, f.revokeClaims("logout")))) + ".c2ln", 401, app.CodeInvalidToken},
		{"wrong key", signRaw(t, keyB, `{"alg":"RS256"}`, mustJSON(t, f.revokeClaims("logout"))), 401, app.CodeInvalidToken},
		{"unknown org", tok(func(c map[string]any) { c["organizationId"] = "nope" }), 403, app.CodeInvalidKeyOrTenant},
		{"no org", tok(func(c map[string]any) { delete(c, "organizationId") }), 400, app.CodeInvalidPayload},
		{"no email", tok(func(c map[string]any) { delete(c, "email") }), 400, app.CodeInvalidPayload},
		{"bad email", tok(func(c map[string]any) { c["email"] = "x@" }), 400, app.CodeInvalidPayload},
		{"no exp", tok(func(c map[string]any) { delete(c, "exp") }), 400, app.CodeInvalidPayload},
		{"no jti", tok(func(c map[string]any) { delete(c, "jti") }), 400, app.CodeInvalidPayload},
		{"empty jti", tok(func(c map[string]any) { c["jti"] = "" }), 400, app.CodeInvalidPayload},
		{"expired", tok(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() }), 401, app.CodeExpiredToken},
		{"too long", tok(func(c map[string]any) { c["exp"] = now.Add(2 * time.Hour).Unix() }), 401, app.CodeInvalidToken},
		{"iat ahead", tok(func(c map[string]any) { c["iat"] = now.Add(5 * time.Minute).Unix() }), 401, app.CodeInvalidToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// JSON always, even for a browser's Accept.
			rec := f.jwtRevoke(tc.token, "Accept", "text/html")
			wantCode(t, tc.name, rec, tc.status, tc.code)
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Error("no Cache-Control: no-store")
			}
		})
	}
	// Not a form: 415 JSON; GET: 405.
	req := httptest.NewRequest(http.MethodPost, "/sso/jwt/revoke", strings.NewReader(`{"token":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	wantCode(t, "json body", f.do(req), 415, app.CodeUnsupportedMediaType)
	if rec := f.do(httptest.NewRequest(http.MethodGet, "/sso/jwt/revoke", nil)); rec.Code != 405 {
		t.Errorf("GET: %d", rec.Code)
	}
	// Refusals after the signature check are audited (8 of the cases: the
	// claim and time checks), those before it are not.
	var audited []string
	for _, e := range f.auditEvents() {
		if strings.HasPrefix(e.Type, "partner.") && e.Outcome == "failure" {
			audited = append(audited, e.Code)
			if e.PartnerID != f.partner.ID || e.OrgID != "acme" {
				t.Errorf("audit %+v", e)
			}
		}
	}
	if len(audited) != 8 {
		t.Errorf("audited refusals %v, want the 8 after the signature check", audited)
	}
}

// TestRevokePartnerChecks covers the partner and user rules of §4.5, on
// both endpoints; each refusal records nothing, so the very same call
// succeeds once the obstacle is gone.
func TestRevokePartnerChecks(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.signInCookie(t, f.claims(), "") // alice in t1, provisioned by the fixture's partner
	other, err := f.svc.CreatePartner(ctx, app.Operator, "acme", app.PartnerInput{Name: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateUser(ctx, app.Operator, "acme", app.UserInput{Email: "carol@example.com", TenantID: "t2", Role: "admin", PartnerSSO: true, PartnerID: other.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateUser(ctx, app.Operator, "acme", app.UserInput{Email: "dave@example.com", TenantID: "t1", Role: "admin", PartnerSSO: false}); err != nil {
		t.Fatal(err)
	}
	jwtFor := func(email, action string) string {
		c := f.revokeClaims(action)
		c["email"] = email
		return f.token(c)
	}

	// Email domain.
	f.setPolicies(app.PartnerPolicies{AllowedEmailDomains: app.Val([]string{"other.test"})})
	tok := jwtFor("alice@example.com", "logout")
	wantCode(t, "jwt email domain", f.jwtRevoke(tok), 403, app.CodeAccessDenied)
	hb := revokeBody("alice@example.com", "logout")
	wantCode(t, "hmac email domain", f.hmacRevoke(hb), 403, app.CodeEmailDomainNotAllowed)
	f.setPolicies(app.PartnerPolicies{AllowedEmailDomains: app.Null[[]string]()})
	decodeRevoke(t, f.jwtRevoke(tok)) // the refused token's jti was not recorded
	decodeRevoke(t, f.hmacRevoke(hb)) // nor the nonce

	// Tenant of an existing user outside allowed_tenants.
	f.setPolicies(app.PartnerPolicies{AllowedTenants: app.Val([]string{"t1"})})
	wantCode(t, "jwt tenant", f.jwtRevoke(jwtFor("carol@example.com", "logout")), 403, app.CodeAccessDenied)
	wantCode(t, "hmac tenant", f.hmacRevoke(revokeBody("carol@example.com", "logout")), 403, app.CodeTenantNotAllowed)
	// An unknown email has no tenant to check.
	decodeRevoke(t, f.hmacRevoke(revokeBody("nobody@example.com", "logout")))
	f.setPolicies(app.PartnerPolicies{AllowedTenants: app.Null[[]string]()})

	// A non-Partner-SSO user is never touched, whatever the action.
	for _, action := range []string{"logout", "deprovision"} {
		rec := f.jwtRevoke(jwtFor("dave@example.com", action))
		if !strings.Contains(rec.Body.String(), "existing non-Partner-SSO user") {
			t.Errorf("message %s", rec.Body)
		}
		wantCode(t, "jwt non-SSO "+action, rec, 403, app.CodeAccessDenied)
		wantCode(t, "hmac non-SSO "+action, f.hmacRevoke(revokeBody("dave@example.com", action)), 409, app.CodeUserConflict)
	}
	if _, err := f.store.GetUserByEmail(ctx, "acme", "dave@example.com"); err != nil {
		t.Fatalf("non-SSO user touched: %v", err)
	}

	// Deprovisioning another partner's user is refused; logging it out is not.
	rec := f.jwtRevoke(jwtFor("carol@example.com", "deprovision"))
	if !strings.Contains(rec.Body.String(), "user belongs to another partner") {
		t.Errorf("message %s", rec.Body)
	}
	wantCode(t, "jwt other partner", rec, 403, app.CodeAccessDenied)
	wantCode(t, "hmac other partner", f.hmacRevoke(revokeBody("carol@example.com", "deprovision")), 409, app.CodeUserConflict)
	decodeRevoke(t, f.hmacRevoke(revokeBody("carol@example.com", "logout")))
	if _, err := f.store.GetUserByEmail(ctx, "acme", "carol@example.com"); err != nil {
		t.Fatalf("another partner's user deleted: %v", err)
	}

	// Refusals that passed the signature check are audited with their code.
	var denied int
	for _, e := range f.auditEvents() {
		if (e.Type == "partner.logout" || e.Type == "partner.deprovision") && e.Outcome == "failure" {
			denied++
			if e.PartnerID != f.partner.ID || e.Code == "" {
				t.Errorf("failure audit %+v", e)
			}
		}
	}
	if denied != 10 { // 2 email domain, 2 tenant, 4 non-SSO, 2 other partner
		t.Errorf("%d failure audit events, want 10", denied)
	}

	// A deactivated partner: AccessDenied / partner_inactive.
	if _, err := f.svc.DeactivatePartner(ctx, app.Operator, "acme", f.partner.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "jwt inactive", f.jwtRevoke(jwtFor("alice@example.com", "logout")), 403, app.CodeAccessDenied)
	wantCode(t, "hmac inactive", f.hmacRevoke(revokeBody("alice@example.com", "logout")), 403, app.CodePartnerInactive)
}

func TestHMACRevoke(t *testing.T) {
	f := newFixture(t)
	// erin signs in through HMAC, and a second login token is left unconsumed.
	lt := loginURLToken(t, f.hmacToken(hmacReq{}))
	login := f.hmacLogin(lt)
	cookie := sessionCookie(login, f.srv.CookieName())
	pending := loginURLToken(t, f.hmacToken(hmacReq{}))

	res := decodeRevoke(t, f.hmacRevoke(revokeBody("Erin@Example.com", "deprovision")))
	if res != (app.RevokeResult{Action: "deprovision", UserFound: true, SessionsRevoked: 1}) {
		t.Fatalf("result %+v", res)
	}
	if code := f.verifyWith(cookie.Value, "").Code; code != 401 {
		t.Errorf("/auth/verify %d after deprovision", code)
	}
	if rec := f.hmacLogin(pending); rec.Code != 401 {
		t.Errorf("an unconsumed login token survived the revoke: %d", rec.Code)
	}
	if _, err := f.store.GetUserByEmail(context.Background(), "acme", "erin@example.com"); err == nil {
		t.Error("user kept")
	}

	// A nonce is single-use across /sso/hmac/token and /sso/hmac/revoke.
	body := f.hmacBody(nil)
	var signed map[string]any
	_ = json.Unmarshal([]byte(body), &signed)
	if rec := f.hmacToken(hmacReq{body: body}); rec.Code != 200 {
		t.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	rb := revokeBody("erin@example.com", "logout")
	rb["nonce"] = signed["nonce"]
	wantCode(t, "token nonce at revoke", f.hmacRevoke(rb), 401, app.CodeReplayedRequest)
	rb = revokeBody("erin@example.com", "logout")
	decodeRevoke(t, f.hmacRevoke(rb))
	wantCode(t, "revoke nonce twice", f.hmacRevoke(rb), 401, app.CodeReplayedRequest)
	reuse := f.hmacBody(func(b map[string]any) { b["nonce"] = rb["nonce"] })
	if rec := f.hmacToken(hmacReq{body: reuse}); rec.Code != 401 {
		t.Errorf("revoke nonce at /sso/hmac/token: %d %s", rec.Code, rec.Body)
	}

	// Body and envelope checks, JSON always.
	for name, b := range map[string]map[string]any{
		"no email":    {"action": "logout", "nonce": nextNonce()},
		"bad action":  {"email": "erin@example.com", "action": "delete", "nonce": nextNonce()},
		"no action":   {"email": "erin@example.com", "nonce": nextNonce()},
		"short nonce": {"email": "erin@example.com", "action": "logout", "nonce": "abc"},
		"no nonce":    {"email": "erin@example.com", "action": "logout"},
	} {
		wantCode(t, name, f.hmacRevoke(b), 400, app.CodeValidation)
	}
	raw := []byte(mustJSON(t, revokeBody("erin@example.com", "logout")))
	req := httptest.NewRequest(http.MethodPost, "/sso/hmac/revoke", strings.NewReader(string(raw)))
	req.Header.Set("X-Consumer-Key", f.partner.ConsumerKey)
	req.Header.Set("X-Timestamp", f.now3339())
	req.Header.Set("X-Signature", strings.Repeat("0", 64))
	req.Header.Set("Accept", "text/html")
	wantCode(t, "bad signature", f.do(req), 401, app.CodeInvalidPartnerSignature)
	old := f.clock.Now().Add(-10 * time.Minute).UTC().Format(time.RFC3339)
	req = httptest.NewRequest(http.MethodPost, "/sso/hmac/revoke", strings.NewReader(string(raw)))
	req.Header.Set("X-Consumer-Key", f.partner.ConsumerKey)
	req.Header.Set("X-Timestamp", old)
	req.Header.Set("X-Signature", app.SignHMAC(f.partner.ConsumerSecret, old, f.partner.ConsumerKey, raw))
	wantCode(t, "old timestamp", f.do(req), 401, app.CodeSignatureExpired)

	var types []string
	for _, e := range f.auditEvents() {
		if strings.HasPrefix(e.Type, "partner.deprovision") && e.Outcome == "success" {
			types = append(types, e.Type+"/"+e.TenantID)
		}
	}
	if len(types) != 1 || types[0] != "partner.deprovision/t1" {
		t.Errorf("deprovision audit %v", types)
	}
}

// TestRevokeRateLimit: the per-partner limit counts revoke calls with sign-ins.
func TestRevokeRateLimit(t *testing.T) {
	// 10 a minute is a burst of testBurst (5): one sign-in and four revokes.
	f := newFixture(t, func(c *app.Config) { c.RateLimit.SigninPerPartner = 10 })
	f.signInCookie(t, f.claims(), "")
	for i := 0; i < testBurst-1; i++ {
		if i%2 == 0 {
			decodeRevoke(t, f.jwtRevoke(f.token(f.revokeClaims("logout"))))
		} else {
			decodeRevoke(t, f.hmacRevoke(revokeBody("alice@example.com", "logout")))
		}
	}
	rec := f.jwtRevoke(f.token(f.revokeClaims("logout")))
	wantCode(t, "jwt over the limit", rec, 429, app.CodeRateLimited)
	if rec.Header().Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	wantCode(t, "hmac over the limit", f.hmacRevoke(revokeBody("alice@example.com", "logout")), 429, app.CodeHMACRateLimited)
}
