package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"gatehouse/app"
)

// TestAttackAssertionForgery: what a dashboard verifying as docs/assertion.md
// says (ES256 only, key by kid from /.well-known/jwks.json, exp checked)
// refuses every forged or stale X-Gatehouse-Assertion.
func TestAttackAssertionForgery(t *testing.T) {
	f := newFixture(t)
	cookie := f.signInCookie(t, f.claims(), "")
	genuine := f.verifyAssertionHeader(t, cookie, "")
	set, _ := f.jwksOf(t)
	now := f.clock.Now()
	if _, err := verifyAssertion(set, genuine, now, ""); err != nil {
		t.Fatalf("the genuine assertion does not verify: %v", err)
	}
	kid := set.Keys[0].KeyID
	parts := strings.Split(genuine, ".")
	// The attacker's wish: the same person as an admin of another tenant.
	forgedClaims := func() []byte {
		var c map[string]any
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		_ = json.Unmarshal(raw, &c)
		c["tenant"], c["role"] = "t2", "admin"
		out, _ := json.Marshal(c)
		return out
	}
	enc := func(b []byte) string { return b64(b) }

	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	wrongKey, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: otherKey},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	wrongSigned, _ := wrongKey.Sign(forgedClaims())
	wrongCompact, _ := wrongSigned.CompactSerialize()

	// HS256 keyed with the published public key (the classic alg confusion).
	pubJSON, _ := json.Marshal(set.Keys[0])
	hsInput := enc([]byte(`{"alg":"HS256","typ":"JWT","kid":"`+kid+`"}`)) + "." + enc(forgedClaims())
	mac := hmac.New(sha256.New, pubJSON)
	mac.Write([]byte(hsInput))

	forgeries := map[string]string{
		"alg none":          enc([]byte(`{"alg":"none","typ":"JWT","kid":"`+kid+`"}`)) + "." + enc(forgedClaims()) + ".",
		"alg none, no sig":  enc([]byte(`{"alg":"none"}`)) + "." + enc(forgedClaims()),
		"claims swapped":    parts[0] + "." + enc(forgedClaims()) + "." + parts[2],
		"wrong key":         wrongCompact,
		"HS256 confusion":   hsInput + "." + enc(mac.Sum(nil)),
		"unknown kid":       strings.Replace(wrongCompact, wrongCompact[:strings.Index(wrongCompact, ".")], enc([]byte(`{"alg":"ES256","typ":"JWT","kid":"nope"}`)), 1),
		"signature dropped": parts[0] + "." + parts[1] + ".",
	}
	for name, forged := range forgeries {
		if c, err := verifyAssertion(set, forged, now, ""); err == nil {
			t.Errorf("%s: verified as %+v", name, c)
		}
	}

	// Expired: the genuine assertion, once exp (plus the leeway) has passed.
	if _, err := verifyAssertion(set, genuine, now.Add(2*time.Minute), ""); err == nil {
		t.Error("an expired assertion verified")
	}

	// A key from an old rotation beyond the overlap: its assertions stop
	// verifying because the key is no longer published.
	if _, err := f.svc.RotateSigningKey(context.Background(), app.Operator); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(30 * time.Second)
	within, _ := f.jwksOf(t)
	if _, err := verifyAssertion(within, genuine, f.clock.Now(), ""); err != nil {
		t.Errorf("inside the overlap the replaced key must still verify: %v", err)
	}
	f.clock.Advance(91 * time.Second) // past assertion_ttl + clock_skew after the rotation
	beyond, _ := f.jwksOf(t)
	if len(beyond.Keys) != 1 || len(beyond.Key(kid)) != 0 {
		t.Fatalf("the old key is still published: %+v", beyond.Keys)
	}
	// Even with its exp ignored (a verifier with a generous leeway), a token
	// of the retired key finds no key.
	if _, err := verifyAssertion(beyond, genuine, now, ""); err == nil {
		t.Error("an assertion of a retired key verified")
	}

	// A client-sent X-Gatehouse-Assertion is never echoed: Gatehouse sets its own.
	req := f.verifyReq(cookie)
	req.Header.Set("X-Gatehouse-Assertion", wrongCompact)
	rec := f.do(req)
	if got := rec.Header().Get("X-Gatehouse-Assertion"); got == wrongCompact || got == "" {
		t.Errorf("verify answered the client's assertion (%v)", got == wrongCompact)
	}
	req = f.verifyReq("")
	req.Header.Set("X-Gatehouse-Assertion", wrongCompact)
	if rec := f.do(req); rec.Code != 401 || rec.Header().Get("X-Gatehouse-Assertion") != "" {
		t.Errorf("401 carried an assertion: %d", rec.Code)
	}
}

// verifyReq is GET /auth/verify with the cookie value v (none when empty).
func (f *fixture) verifyReq(v string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/auth/verify", nil)
	if v != "" {
		req.AddCookie(&http.Cookie{Name: f.srv.CookieName(), Value: v})
	}
	return req
}
