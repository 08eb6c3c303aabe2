package web

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"gatehouse/app"
)

// jwksOf fetches GET /.well-known/jwks.json from the fixture.
func (f *fixture) jwksOf(t *testing.T) (jose.JSONWebKeySet, *httptest.ResponseRecorder) {
	t.Helper()
	rec := f.do(httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	if rec.Code != 200 {
		t.Fatalf("jwks: %d %s", rec.Code, rec.Body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
		t.Fatalf("jwks %s: %v", rec.Body, err)
	}
	return set, rec
}

// verifyAssertion is what a dashboard does (docs/assertion.md): ES256 only,
// the key named by kid from the published set, iss, exp/iat with a leeway,
// and aud when the dashboard asked for one.
func verifyAssertion(set jose.JSONWebKeySet, token string, now time.Time, aud string) (app.AssertionClaims, error) {
	var claims app.AssertionClaims
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return claims, err
	}
	if len(parsed.Headers) != 1 || parsed.Headers[0].KeyID == "" {
		return claims, errors.New("no kid")
	}
	keys := set.Key(parsed.Headers[0].KeyID)
	if len(keys) != 1 {
		return claims, fmt.Errorf("kid %q is not published", parsed.Headers[0].KeyID)
	}
	var std jwt.Claims
	if err := parsed.Claims(keys[0].Key, &std, &claims); err != nil {
		return claims, err
	}
	exp := jwt.Expected{Issuer: "https://sso.example.test", Time: now}
	if aud != "" {
		exp.AnyAudience = jwt.Audience{aud}
	}
	return claims, std.ValidateWithLeeway(exp, 5*time.Second)
}

// assertionOf signs in claims and returns the cookie value.
func (f *fixture) verifyAssertionHeader(t *testing.T, cookie, q string) string {
	t.Helper()
	rec := f.verifyWith(cookie, q)
	if rec.Code != 200 {
		t.Fatalf("/auth/verify%s: %d %s", q, rec.Code, rec.Body)
	}
	a := rec.Header().Get("X-Gatehouse-Assertion")
	if a == "" {
		t.Fatalf("/auth/verify%s: no X-Gatehouse-Assertion", q)
	}
	return a
}

func TestAssertionClaims(t *testing.T) {
	f := newFixture(t)
	cookie := f.signInCookie(t, f.claims(), "")
	token := f.verifyAssertionHeader(t, cookie, "")
	set, _ := f.jwksOf(t)
	claims, err := verifyAssertion(set, token, f.clock.Now(), "")
	if err != nil {
		t.Fatalf("the assertion does not verify with the published key: %v", err)
	}
	u, _ := f.store.GetUserByEmail(context.Background(), "acme", "alice@example.com")
	now := f.clock.Now().Unix()
	if claims.Iss != "https://sso.example.test" || claims.Sub != u.ID || claims.Email != "alice@example.com" || claims.Name != "Alice" ||
		claims.Org != "acme" || claims.Tenant != "t1" || claims.Role != "admin" || claims.Iat != now || claims.Exp != now+60 || claims.Aud != "" {
		t.Fatalf("claims %+v", claims)
	}
	// The header: ES256, typ JWT, kid of the published key.
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	var h map[string]any
	_ = json.Unmarshal(hdr, &h)
	if h["alg"] != "ES256" || h["typ"] != "JWT" || h["kid"] != set.Keys[0].KeyID || len(h) != 3 {
		t.Fatalf("header %s", hdr)
	}
	// No aud member at all without ?aud=.
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
	if strings.Contains(string(payload), `"aud"`) {
		t.Errorf("aud without ?aud=: %s", payload)
	}
	// sid: neither the cookie, the stored id, nor an unkeyed hash of either.
	id, _ := app.SessionID(cookie)
	cookieSum := sha256.Sum256([]byte(cookie))
	idSum := sha256.Sum256([]byte(id))
	for _, bad := range []string{cookie, id, hex.EncodeToString(cookieSum[:]), base64.RawURLEncoding.EncodeToString(cookieSum[:]),
		hex.EncodeToString(idSum[:]), base64.RawURLEncoding.EncodeToString(idSum[:])} {
		if claims.SID == "" || strings.Contains(claims.SID, bad) || strings.Contains(bad, claims.SID) {
			t.Fatalf("sid %q derives from the cookie without a key", claims.SID)
		}
	}
	// A second session of the same user has another sid.
	other := f.signInCookie(t, f.claims(), "")
	c2, _ := verifyAssertion(set, f.verifyAssertionHeader(t, other, ""), f.clock.Now(), "")
	if c2.SID == claims.SID {
		t.Error("two sessions share a sid")
	}

	// ?aud=: a JSON string claim.
	withAud := f.verifyAssertionHeader(t, cookie, "?aud=https://dash.example.test")
	ca, err := verifyAssertion(set, withAud, f.clock.Now(), "https://dash.example.test")
	if err != nil || ca.Aud != "https://dash.example.test" {
		t.Fatalf("aud: %+v %v", ca, err)
	}
	payload, _ = base64.RawURLEncoding.DecodeString(strings.Split(withAud, ".")[1])
	if !strings.Contains(string(payload), `"aud":"https://dash.example.test"`) {
		t.Errorf("aud is not a JSON string: %s", payload)
	}
	if _, err := verifyAssertion(set, withAud, f.clock.Now(), "https://other.example.test"); err == nil {
		t.Error("an assertion for one audience verified for another")
	}
	for _, bad := range []string{"?aud=", "?aud=" + strings.Repeat("a", 257), "?aud=a%20b", "?aud=%C3%A9", "?aud=a%7Fb"} {
		rec := f.verifyWith(cookie, bad)
		if rec.Code != 400 || rec.Header().Get("X-Gatehouse-Assertion") != "" {
			t.Errorf("%s: %d", bad, rec.Code)
			continue
		}
		if code, msg := decodeError(t, rec); code != "InvalidRequest" || !strings.Contains(msg, "aud") {
			t.Errorf("%s: %s %s", bad, code, msg)
		}
	}
	if rec := f.verifyWith(cookie, "?aud="+strings.Repeat("a", 256)); rec.Code != 200 {
		t.Errorf("256-character aud: %d", rec.Code)
	}

	// Only a 200 carries an assertion.
	if rec := f.verifyWith("", ""); rec.Code != 401 || rec.Header().Get("X-Gatehouse-Assertion") != "" {
		t.Errorf("401: %d %q", rec.Code, rec.Header().Get("X-Gatehouse-Assertion"))
	}
	if rec := f.verifyWith(cookie, "?org=acme&tenant=t2"); rec.Code != 403 || rec.Header().Get("X-Gatehouse-Assertion") != "" {
		t.Errorf("403: %d %q", rec.Code, rec.Header().Get("X-Gatehouse-Assertion"))
	}
}

// TestAssertionReuse: the same session gets the same assertion while
// nothing in it changed and it has more than half its lifetime left; a role
// change, a rotation, another aud, a deletion or a revocation shows at once.
func TestAssertionReuse(t *testing.T) {
	f := newFixture(t)
	cookie := f.signInCookie(t, f.claims(), "")
	first := f.verifyAssertionHeader(t, cookie, "")
	if again := f.verifyAssertionHeader(t, cookie, ""); again != first {
		t.Fatal("an unchanged assertion was signed again")
	}
	f.clock.Advance(29 * time.Second)
	if again := f.verifyAssertionHeader(t, cookie, ""); again != first {
		t.Fatal("reissued before half the ttl")
	}
	f.clock.Advance(time.Second) // 30 s: half of 60 s
	fresh := f.verifyAssertionHeader(t, cookie, "")
	set, _ := f.jwksOf(t)
	c, err := verifyAssertion(set, fresh, f.clock.Now(), "")
	if fresh == first || err != nil || c.Iat != f.clock.Now().Unix() {
		t.Fatalf("not reissued at half the ttl: %+v %v", c, err)
	}

	// A role change by a later sign-in shows in the very next assertion.
	ro := f.claims()
	ro["role"], ro["name"] = "readOnly", "Alice R."
	f.signInCookie(t, ro, "")
	c, _ = verifyAssertion(set, f.verifyAssertionHeader(t, cookie, ""), f.clock.Now(), "")
	if c.Role != "readOnly" || c.Name != "Alice R." {
		t.Fatalf("after a role change: %+v", c)
	}
	// Another aud is another assertion, and back again.
	a1 := f.verifyAssertionHeader(t, cookie, "?aud=one")
	a2 := f.verifyAssertionHeader(t, cookie, "?aud=two")
	c1, _ := verifyAssertion(set, a1, f.clock.Now(), "one")
	c2, _ := verifyAssertion(set, a2, f.clock.Now(), "two")
	if c1.Aud != "one" || c2.Aud != "two" {
		t.Fatalf("aud mixed up: %q %q", c1.Aud, c2.Aud)
	}
	// A rotation: the next assertion carries the new kid.
	if _, err := f.svc.RotateSigningKey(context.Background(), app.Operator); err != nil {
		t.Fatal(err)
	}
	set, _ = f.jwksOf(t)
	rotated := f.verifyAssertionHeader(t, cookie, "")
	parsed, _ := jwt.ParseSigned(rotated, []jose.SignatureAlgorithm{jose.ES256})
	if parsed.Headers[0].KeyID != set.Keys[0].KeyID {
		t.Fatalf("after rotation the assertion is signed by %s, current is %s", parsed.Headers[0].KeyID, set.Keys[0].KeyID)
	}
	if c3, err := verifyAssertion(set, rotated, f.clock.Now(), ""); err != nil || c3.SID != c.SID {
		t.Fatalf("after rotation: %v; sid %q → %q (must stay stable)", err, c.SID, c3.SID)
	}

	// Revocation and deletion: 401 at once, no assertion.
	decodeRevoke(t, f.jwtRevoke(f.token(f.revokeClaims("logout"))))
	if rec := f.verifyWith(cookie, ""); rec.Code != 401 || rec.Header().Get("X-Gatehouse-Assertion") != "" {
		t.Fatalf("after revocation: %d", rec.Code)
	}
	c4 := f.signInCookie(t, f.claims(), "")
	f.verifyAssertionHeader(t, c4, "")
	u, _ := f.store.GetUserByEmail(context.Background(), "acme", "alice@example.com")
	if err := f.store.DeleteUser(context.Background(), u.ID); err != nil {
		t.Fatal(err)
	}
	if rec := f.verifyWith(c4, ""); rec.Code != 401 || rec.Header().Get("X-Gatehouse-Assertion") != "" {
		t.Fatalf("after deletion: %d", rec.Code)
	}
}

func TestJWKS(t *testing.T) {
	f := newFixture(t)
	set, rec := f.jwksOf(t)
	if cc := rec.Header().Get("Cache-Control"); cc != "public, max-age=60" {
		t.Errorf("Cache-Control %q", cc)
	}
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &raw)
	if len(raw.Keys) != 1 {
		t.Fatalf("keys %s", rec.Body)
	}
	k := raw.Keys[0]
	if k["kty"] != "EC" || k["crv"] != "P-256" || k["use"] != "sig" || k["alg"] != "ES256" || k["kid"] == "" || k["x"] == "" || k["y"] == "" || len(k) != 7 {
		t.Fatalf("key %v: want exactly kty, crv, x, y, kid, use, alg", k)
	}
	if !set.Keys[0].IsPublic() {
		t.Fatal("a private key is published")
	}
	first := set.Keys[0].KeyID
	// The same key on a second request (it was made once, stored).
	if again, _ := f.jwksOf(t); again.Keys[0].KeyID != first {
		t.Fatal("the key changed between requests")
	}
	stored, err := f.store.GetSigningKeys(context.Background())
	if err != nil || stored.Current.Kid != first || stored.Current.Private == nil || len(stored.Current.Private.Ciphertext) == 0 {
		t.Fatalf("stored %+v %v", stored, err)
	}
	if strings.Contains(string(stored.Current.Private.Ciphertext), "PRIVATE") {
		t.Fatal("the private key is not sealed")
	}

	// Rotation: the operator route answers {kid, previous_kid}; both keys
	// are listed for assertion_ttl + clock_skew, then only the new one.
	code, out := f.admin(t, "POST", "/api/v1/signing-keys/rotate", "")
	if code != 200 || out["previous_kid"] != first || out["kid"] == "" || out["kid"] == first {
		t.Fatalf("rotate: %d %v", code, out)
	}
	second := out["kid"].(string)
	set, _ = f.jwksOf(t)
	if len(set.Keys) != 2 || set.Keys[0].KeyID != second || set.Keys[1].KeyID != first {
		t.Fatalf("after rotation: %+v", set.Keys)
	}
	f.clock.Advance(119 * time.Second)
	if set, _ = f.jwksOf(t); len(set.Keys) != 2 {
		t.Fatalf("the replaced key left before assertion_ttl + clock_skew: %d keys", len(set.Keys))
	}
	f.clock.Advance(time.Second)
	if set, _ = f.jwksOf(t); len(set.Keys) != 1 || set.Keys[0].KeyID != second {
		t.Fatalf("the replaced key is still listed after the overlap: %+v", set.Keys)
	}
	// Two rotations in a row keep only the one replaced last.
	_, _ = f.admin(t, "POST", "/api/v1/signing-keys/rotate", "")
	code, out = f.admin(t, "POST", "/api/v1/signing-keys/rotate", "")
	set, _ = f.jwksOf(t)
	if code != 200 || len(set.Keys) != 2 || set.Keys[0].KeyID != out["kid"] || set.Keys[1].KeyID != out["previous_kid"] {
		t.Fatalf("after two rotations: %+v", set.Keys)
	}
	var rotations int
	for _, e := range f.auditEvents() {
		if e.Type == "signing_key.rotate" {
			rotations++
		}
	}
	if rotations != 3 {
		t.Errorf("%d rotation audit events, want 3", rotations)
	}

	// Operator only: an organization's admin token is refused.
	tok, err := f.svc.CreateAdminToken(context.Background(), app.Operator, "acme", app.AdminTokenInput{Role: "admin", Label: "t"})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := f.srv.AdminHandler(TokenAuth(f.svc))
	req := httptest.NewRequest(http.MethodPost, "/api/v1/signing-keys/rotate", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	r := httptest.NewRecorder()
	h.ServeHTTP(r, req)
	if r.Code != http.StatusForbidden {
		t.Errorf("an admin token rotated the key: %d %s", r.Code, r.Body)
	}
}

// TestAssertionOff: no header, and the JWKS is still served.
func TestAssertionOff(t *testing.T) {
	f := newFixture(t, func(c *app.Config) { c.Session.Assertion = false })
	cookie := f.signInCookie(t, f.claims(), "")
	rec := f.verifyWith(cookie, "")
	if rec.Code != 200 || rec.Header().Get("X-Gatehouse-Assertion") != "" {
		t.Fatalf("assertion off: %d %q", rec.Code, rec.Header().Get("X-Gatehouse-Assertion"))
	}
	if set, _ := f.jwksOf(t); len(set.Keys) != 1 {
		t.Fatal("no JWKS with assertions off")
	}
}

// TestAssertionSharedKey: two instances over one store sign with the same
// key, and a rotation on one is picked up by the other within its refresh.
func TestAssertionSharedKey(t *testing.T) {
	f := newFixture(t)
	ring, _ := app.NewKeyRing(map[int][]byte{1: make([]byte, 32)}, nil)
	other, err := app.New(app.Options{Store: f.store, Config: f.svc.Config(), KeyRing: ring, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	a, err := f.svc.JWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := other.JWKS(context.Background())
	if err != nil || string(a) != string(b) {
		t.Fatalf("instances publish different keys:\n%s\n%s (%v)", a, b, err)
	}
	rot, err := f.svc.RotateSigningKey(context.Background(), app.Operator)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(11 * time.Second)
	b, _ = other.JWKS(context.Background())
	var set jose.JSONWebKeySet
	_ = json.Unmarshal(b, &set)
	if len(set.Keys) != 2 || set.Keys[0].KeyID != rot.Kid {
		t.Fatalf("the other instance did not pick up the rotation: %s", b)
	}
	// And signs with it: an assertion of the other instance verifies.
	cookie := f.signInCookie(t, f.claims(), "")
	id, err := other.Authenticate(context.Background(), cookie)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := other.Assertion(context.Background(), id, "")
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.ES256})
	if parsed.Headers[0].KeyID != rot.Kid {
		t.Fatalf("the other instance signs with %s, want %s", parsed.Headers[0].KeyID, rot.Kid)
	}
	mine := f.verifyAssertionHeader(t, cookie, "")
	c1, _ := verifyAssertion(set, tok, f.clock.Now(), "")
	c2, _ := verifyAssertion(set, mine, f.clock.Now(), "")
	if c1.SID == "" || c1.SID != c2.SID {
		t.Fatalf("instances disagree on sid: %q %q", c1.SID, c2.SID)
	}
}
