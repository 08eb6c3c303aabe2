package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/app"
)

// Fuzz targets for the public sign-in handlers. Run one with, e.g.
//
//	go test -run='^$' -fuzz=FuzzJWTSignIn -fuzztime=1m ./web
//
// Seeds live in testdata/fuzz/<Target>; whatever the fuzzer finds is saved
// there too and then replayed by every plain `go test`.

// FuzzJWTSignIn drives POST /sso/jwt. When sign is true the fuzzed header
// and payload are signed with the partner's real key, so the fuzzer reaches
// the claim, time, tenant and policy checks, not only the parser. Whatever
// comes in, the answer is never a 5xx and never a panic.
func FuzzJWTSignIn(f *testing.F) {
	fx := newFixture(f)
	exp := fx.clock.Now().Add(5 * time.Minute).Unix()
	good := fx.claimsJSON(nil)
	f.Add(`{"alg":"RS256","typ":"JWT"}`, good, true, "")
	f.Add(`{"alg":"RS256","kid":"`+fx.kid+`"}`, good, true, "https://dash.example.test/t1/x")
	f.Add(`{"alg":"RS256"}`, `{"organizationId":"acme","tenantId":"t1","role":"admin","email":"a@example.com","exp":`+jsonNum(exp)+`,"jti":"j1"}`, true, "//evil.test")
	f.Add(`{"alg":"none"}`, good, false, "")
	f.Add(`{"alg":"RS256","crit":["exp"]}`, good, true, "")
	f.Add(`{"alg":"RS256"}`, `{"organizationId":"acme","exp":1e400}`, true, "")
	f.Add(`{"alg":"RS256"}`, `{"organizationId":"acme","a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`, true, "")
	f.Add(fx.token(fx.claims()), "", false, "javascript:alert(1)")
	f.Add("a.b.c", "", false, "")
	f.Fuzz(func(t *testing.T, header, payload string, sign bool, returnTo string) {
		token := header
		if sign {
			a, _ := keys(t)
			token = signRaw(t, a, header, payload)
		}
		rec := fx.do(formRequest(url.Values{"token": {token}, "return_to": {returnTo}}.Encode()))
		checkFuzzAnswer(t, rec, http.StatusFound)
		if rec.Code == http.StatusFound {
			loc := rec.Header().Get("Location")
			if !strings.HasPrefix(loc, "https://dash.example.test/t1") && !strings.HasPrefix(loc, "https://sso.example.test/") {
				t.Fatalf("redirect off-site: %q", loc)
			}
		}
	})
}

// FuzzHMACToken drives POST /sso/hmac/token. When sign is true the request
// is signed with the partner's real secret over the fuzzed timestamp and
// body, so the fuzzer reaches the body parser and the policies.
func FuzzHMACToken(f *testing.F) {
	fx := newFixture(f)
	now := fx.now3339()
	body := string(hmacBody(f, "fuzz-nonce-0123456789", nil))
	f.Add(body, now, "", true, "")
	f.Add(body, now, strings.Repeat("0", 64), false, "")
	f.Add(`{"tenantId":"t1","email":"a@example.com","role":"readOnly","nonce":"0123456789abcdef","return_to":"https://dash.example.test/t1/"}`, "2026-11-22T10:00:00+00:00", "", true, "")
	f.Add(`{"tenantId":"t1","tenantId":"t2"}`, now, "", true, "")
	f.Add(`[]`, "2026-11-22T09:00:00Z", "", true, "203.0.113.7")
	f.Add(body, "not a time", "zz", false, "")
	f.Fuzz(func(t *testing.T, body, ts, sig string, sign bool, xff string) {
		ck := fx.partner.ConsumerKey
		if sign {
			sig = app.SignHMAC(fx.partner.ConsumerSecret, ts, ck, []byte(body))
		}
		req := httptest.NewRequest(http.MethodPost, "/sso/hmac/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header["X-Consumer-Key"] = []string{ck}
		req.Header["X-Timestamp"] = []string{ts}
		req.Header["X-Signature"] = []string{sig}
		if xff != "" {
			req.Header["X-Forwarded-For"] = []string{xff}
		}
		rec := fx.do(req)
		checkFuzzAnswer(t, rec, http.StatusOK)
		if rec.Code == http.StatusOK && !sign {
			t.Fatalf("an unsigned request was accepted: sig %q", sig)
		}
	})
}

// checkFuzzAnswer: no 5xx; anything but success is a JSON error with a code.
func checkFuzzAnswer(t *testing.T, rec *httptest.ResponseRecorder, success int) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if rec.Code != success {
		if code, _ := decodeError(t, rec); code == "" {
			t.Fatalf("status %d without a code: %s", rec.Code, rec.Body)
		}
	}
}
