package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/app"
	"gatehouse/storage"
)

var nonceSeq atomic.Int64

func nextNonce() string { return fmt.Sprintf("nonce-%016d", nonceSeq.Add(1)) }

// hmacReq describes one step-1 request; zero fields get valid defaults.
type hmacReq struct {
	key, secret, ts, sig string
	body                 string
	remoteAddr, xff      string
	noSign               bool
}

func (f *fixture) hmacBody(mut func(map[string]any)) string {
	b := map[string]any{"tenantId": "t1", "email": "erin@example.com", "role": "admin", "name": "Erin", "nonce": nextNonce()}
	if mut != nil {
		mut(b)
	}
	out, _ := json.Marshal(b)
	return string(out)
}

func (f *fixture) hmacToken(r hmacReq) *httptest.ResponseRecorder {
	if r.key == "" {
		r.key = f.partner.ConsumerKey
	}
	if r.secret == "" {
		r.secret = f.partner.ConsumerSecret
	}
	if r.ts == "" {
		r.ts = f.clock.Now().Format(time.RFC3339)
	}
	if r.body == "" {
		r.body = f.hmacBody(nil)
	}
	if r.sig == "" && !r.noSign {
		r.sig = app.SignHMAC(r.secret, r.ts, r.key, []byte(r.body))
	}
	req := httptest.NewRequest(http.MethodPost, "/sso/hmac/token", strings.NewReader(r.body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Consumer-Key", r.key)
	req.Header.Set("X-Timestamp", r.ts)
	req.Header.Set("X-Signature", r.sig)
	if r.remoteAddr != "" {
		req.RemoteAddr = r.remoteAddr
	}
	if r.xff != "" {
		req.Header.Set("X-Forwarded-For", r.xff)
	}
	return f.do(req)
}

func (f *fixture) patchPartner(t *testing.T, p app.PartnerPatch) {
	t.Helper()
	if _, err := f.svc.UpdatePartner(context.Background(), app.Operator, "acme", f.partner.ID, p); err != nil {
		t.Fatal(err)
	}
}

func loginURLToken(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var out struct {
		Token     string `json:"token"`
		ExpiresIn int    `json:"expires_in"`
		LoginURL  string `json:"login_url"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Token == "" {
		t.Fatalf("token answer %d: %s", rec.Code, rec.Body)
	}
	if out.ExpiresIn != 60 || !strings.HasPrefix(out.LoginURL, "https://sso.example.test/sso/hmac/login?token=") {
		t.Fatalf("answer %+v", out)
	}
	return out.Token
}

func (f *fixture) hmacLogin(token string) *httptest.ResponseRecorder {
	return f.do(httptest.NewRequest(http.MethodGet, "/sso/hmac/login?token="+url.QueryEscape(token), nil))
}

func TestHMACSignIn(t *testing.T) {
	f := newFixture(t)
	rec := f.hmacToken(hmacReq{})
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	token := loginURLToken(t, rec)
	if got := f.counts(); got.users != 0 {
		t.Fatalf("step 1 must not provision: %+v", got)
	}
	login := f.hmacLogin(token)
	if login.Code != http.StatusFound || login.Header().Get("Location") != "https://dash.example.test/t1" {
		t.Fatalf("login %d %q %s", login.Code, login.Header().Get("Location"), login.Body)
	}
	if sessionCookie(login, f.srv.CookieName()) == nil {
		t.Fatal("no session cookie")
	}
	u, err := f.store.GetUserByEmail(context.Background(), "acme", "erin@example.com")
	if err != nil || u.PartnerID != f.partner.ID || !u.PartnerSSO {
		t.Fatalf("%+v %v", u, err)
	}
	again := f.hmacLogin(token)
	if code, _ := decodeError(t, again); again.Code != 401 || code != app.CodeInvalidLoginToken {
		t.Fatalf("reuse: %d %s", again.Code, code)
	}
}

func TestHMACErrors(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		setup  func(t *testing.T, f *fixture)
		req    func(f *fixture) hmacReq
		status int
		code   string
	}{
		{"missing key", nil, func(f *fixture) hmacReq { return hmacReq{key: " ", noSign: true, sig: "ab"} }, 400, app.CodeValidation},
		{"missing signature", nil, func(f *fixture) hmacReq { return hmacReq{noSign: true} }, 400, app.CodeValidation},
		{"timestamp not RFC 3339", nil, func(f *fixture) hmacReq { return hmacReq{ts: "1700000000"} }, 400, app.CodeValidation},
		{"unknown key", nil, func(f *fixture) hmacReq { return hmacReq{key: "ck_unknown"} }, 401, app.CodeInvalidPartnerSignature},
		{"wrong secret", nil, func(f *fixture) hmacReq { return hmacReq{secret: "cs_wrong"} }, 401, app.CodeInvalidPartnerSignature},
		{"uppercase hex", nil, func(f *fixture) hmacReq {
			r := hmacReq{ts: f.clock.Now().Format(time.RFC3339), body: f.hmacBody(nil)}
			r.sig = strings.ToUpper(app.SignHMAC(f.partner.ConsumerSecret, r.ts, f.partner.ConsumerKey, []byte(r.body)))
			return r
		}, 401, app.CodeInvalidPartnerSignature},
		{"truncated signature", nil, func(f *fixture) hmacReq {
			r := hmacReq{ts: f.clock.Now().Format(time.RFC3339), body: f.hmacBody(nil)}
			r.sig = app.SignHMAC(f.partner.ConsumerSecret, r.ts, f.partner.ConsumerKey, []byte(r.body))[:40]
			return r
		}, 401, app.CodeInvalidPartnerSignature},
		{"body altered after signing", nil, func(f *fixture) hmacReq {
			r := hmacReq{ts: f.clock.Now().Format(time.RFC3339), body: f.hmacBody(nil)}
			r.sig = app.SignHMAC(f.partner.ConsumerSecret, r.ts, f.partner.ConsumerKey, []byte(r.body))
			r.body = strings.Replace(r.body, "admin", "readOnly", 1)
			return r
		}, 401, app.CodeInvalidPartnerSignature},
		{"stale timestamp", nil, func(f *fixture) hmacReq {
			return hmacReq{ts: f.clock.Now().Add(-301 * time.Second).Format(time.RFC3339)}
		}, 401, app.CodeSignatureExpired},
		{"future timestamp", nil, func(f *fixture) hmacReq {
			return hmacReq{ts: f.clock.Now().Add(301 * time.Second).Format("2006-01-02T15:04:05+00:00")}
		}, 401, app.CodeSignatureExpired},
		{"inactive partner", func(t *testing.T, f *fixture) {
			f.svc.DeactivatePartner(ctx, app.Operator, "acme", f.partner.ID)
		}, func(f *fixture) hmacReq { return hmacReq{} }, 403, app.CodePartnerInactive},
		{"source ip", func(t *testing.T, f *fixture) {
			f.patchPartner(t, app.PartnerPatch{PartnerPolicies: app.PartnerPolicies{AllowedSourceIPs: app.Val([]string{"198.51.100.0/24"})}})
		}, func(f *fixture) hmacReq { return hmacReq{remoteAddr: "203.0.113.9:5000"} }, 403, app.CodeSourceIPNotAllowed},
		{"spoofed X-Forwarded-For from an untrusted peer", func(t *testing.T, f *fixture) {
			f.patchPartner(t, app.PartnerPatch{PartnerPolicies: app.PartnerPolicies{AllowedSourceIPs: app.Val([]string{"198.51.100.7"})}})
		}, func(f *fixture) hmacReq { return hmacReq{remoteAddr: "203.0.113.9:5000", xff: "198.51.100.7"} }, 403, app.CodeSourceIPNotAllowed},
		{"empty source ip list allows nothing", func(t *testing.T, f *fixture) {
			f.patchPartner(t, app.PartnerPatch{PartnerPolicies: app.PartnerPolicies{AllowedSourceIPs: app.Val([]string{})}})
		}, func(f *fixture) hmacReq { return hmacReq{} }, 403, app.CodeSourceIPNotAllowed},
		{"body not JSON", nil, func(f *fixture) hmacReq { return hmacReq{body: "tenantId=t1"} }, 400, app.CodeValidation},
		{"nonce too short", nil, func(f *fixture) hmacReq {
			return hmacReq{body: f.hmacBody(func(b map[string]any) { b["nonce"] = "short" })}
		}, 400, app.CodeValidation},
		{"nonce missing", nil, func(f *fixture) hmacReq {
			return hmacReq{body: f.hmacBody(func(b map[string]any) { delete(b, "nonce") })}
		}, 400, app.CodeValidation},
		{"bad role", nil, func(f *fixture) hmacReq {
			return hmacReq{body: f.hmacBody(func(b map[string]any) { b["role"] = "root" })}
		}, 400, app.CodeValidation},
		{"bad email", nil, func(f *fixture) hmacReq {
			return hmacReq{body: f.hmacBody(func(b map[string]any) { b["email"] = "nobody" })}
		}, 400, app.CodeValidation},
		{"unknown tenant", nil, func(f *fixture) hmacReq {
			return hmacReq{body: f.hmacBody(func(b map[string]any) { b["tenantId"] = "t9" })}
		}, 403, app.CodeTenantNotAllowed},
		{"tenant not allowed", func(t *testing.T, f *fixture) {
			f.patchPartner(t, app.PartnerPatch{PartnerPolicies: app.PartnerPolicies{AllowedTenants: app.Val([]string{"t2"})}})
		}, func(f *fixture) hmacReq { return hmacReq{} }, 403, app.CodeTenantNotAllowed},
		{"provisioning disabled", func(t *testing.T, f *fixture) {
			f.patchPartner(t, app.PartnerPatch{PartnerPolicies: app.PartnerPolicies{UserProvisioning: app.Val("disabled")}})
		}, func(f *fixture) hmacReq { return hmacReq{} }, 403, app.CodeProvisioningDisabled},
		{"email domain", func(t *testing.T, f *fixture) {
			f.patchPartner(t, app.PartnerPatch{PartnerPolicies: app.PartnerPolicies{AllowedEmailDomains: app.Val([]string{"example.org"})}})
		}, func(f *fixture) hmacReq { return hmacReq{} }, 403, app.CodeEmailDomainNotAllowed},
		{"role", func(t *testing.T, f *fixture) {
			f.patchPartner(t, app.PartnerPatch{PartnerPolicies: app.PartnerPolicies{AllowedRoles: app.Val([]string{"readOnly"})}})
		}, func(f *fixture) hmacReq { return hmacReq{} }, 403, app.CodeRoleNotAllowed},
		{"user not provisioned", func(t *testing.T, f *fixture) {
			f.patchPartner(t, app.PartnerPatch{PartnerPolicies: app.PartnerPolicies{UserProvisioning: app.Val("pre_provisioned")}})
		}, func(f *fixture) hmacReq { return hmacReq{} }, 403, app.CodeUserNotProvisioned},
		{"max users", func(t *testing.T, f *fixture) {
			f.patchPartner(t, app.PartnerPatch{PartnerPolicies: app.PartnerPolicies{MaxUsers: app.Val(0)}})
		}, func(f *fixture) hmacReq { return hmacReq{} }, 403, app.CodeMaxUsersExceeded},
		{"user conflict", func(t *testing.T, f *fixture) {
			f.svc.CreateUser(ctx, app.Operator, "acme", app.UserInput{Email: "erin@example.com", TenantID: "t1", Role: "admin"})
		}, func(f *fixture) hmacReq { return hmacReq{} }, 409, app.CodeUserConflict},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			if c.setup != nil {
				c.setup(t, f)
			}
			before := f.counts()
			rec := f.hmacToken(c.req(f))
			if rec.Code != c.status {
				t.Fatalf("status %d want %d: %s", rec.Code, c.status, rec.Body)
			}
			code, msg := decodeError(t, rec)
			if code != c.code {
				t.Fatalf("code %q want %q (%s)", code, c.code, msg)
			}
			if strings.Contains(rec.Body.String(), f.partner.ConsumerSecret) {
				t.Fatal("the secret leaked into an error")
			}
			if after := f.counts(); after != before {
				t.Fatalf("wrote %+v → %+v", before, after)
			}
		})
	}
}

func TestHMACUnknownKeyAndBadSignatureLookAlike(t *testing.T) {
	f := newFixture(t)
	a := f.hmacToken(hmacReq{key: "ck_00000000000000000000"})
	b := f.hmacToken(hmacReq{secret: "cs_not-the-secret"})
	ca, ma := decodeError(t, a)
	cb, mb := decodeError(t, b)
	if a.Code != b.Code || ca != cb || ma != mb {
		t.Fatalf("answers differ: %d %s %q vs %d %s %q", a.Code, ca, ma, b.Code, cb, mb)
	}
}

func TestHMACTrustedProxy(t *testing.T) {
	f := newFixture(t, func(c *app.Config) { c.Server.TrustedProxies = []string{"10.0.0.0/8"} })
	f.patchPartner(t, app.PartnerPatch{PartnerPolicies: app.PartnerPolicies{AllowedSourceIPs: app.Val([]string{"198.51.100.7", "2001:db8::/32"})}})
	if rec := f.hmacToken(hmacReq{remoteAddr: "10.1.2.3:4000", xff: "198.51.100.7"}); rec.Code != 200 {
		t.Fatalf("client behind a trusted proxy: %d %s", rec.Code, rec.Body)
	}
	if rec := f.hmacToken(hmacReq{remoteAddr: "[2001:db8::5]:4000"}); rec.Code != 200 {
		t.Fatalf("IPv6 CIDR: %d %s", rec.Code, rec.Body)
	}
	if rec := f.hmacToken(hmacReq{remoteAddr: "10.1.2.3:4000", xff: "203.0.113.1"}); rec.Code != 403 {
		t.Fatalf("disallowed client behind a trusted proxy: %d", rec.Code)
	}
}

func TestHMACNonceSingleUse(t *testing.T) {
	f := newFixture(t)
	body := f.hmacBody(nil)
	ts := f.clock.Now().Format(time.RFC3339)
	var wg sync.WaitGroup
	var ok, replayed atomic.Int32
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := f.hmacToken(hmacReq{ts: ts, body: body})
			switch {
			case rec.Code == 200:
				ok.Add(1)
			case rec.Code == 401 && strings.Contains(rec.Body.String(), app.CodeReplayedRequest):
				replayed.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || replayed.Load() != 19 {
		t.Fatalf("ok %d replayed %d", ok.Load(), replayed.Load())
	}
}

func TestHMACNonceRecordedOnlyAfterSignature(t *testing.T) {
	f := newFixture(t)
	body := f.hmacBody(nil)
	ts := f.clock.Now().Format(time.RFC3339)
	if rec := f.hmacToken(hmacReq{ts: ts, body: body, secret: "cs_forged"}); rec.Code != 401 {
		t.Fatal(rec.Code)
	}
	if rec := f.hmacToken(hmacReq{ts: ts, body: body}); rec.Code != 200 {
		t.Fatalf("a forged request burnt the nonce: %d %s", rec.Code, rec.Body)
	}
}

func TestHMACLoginTokenSingleUseAndExpiry(t *testing.T) {
	f := newFixture(t)
	token := loginURLToken(t, f.hmacToken(hmacReq{}))
	var wg sync.WaitGroup
	var wins atomic.Int32
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if f.hmacLogin(token).Code == http.StatusFound {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d winners", wins.Load())
	}
	late := loginURLToken(t, f.hmacToken(hmacReq{body: f.hmacBody(func(b map[string]any) { b["email"] = "late@example.com" })}))
	f.clock.Advance(61 * time.Second)
	if rec := f.hmacLogin(late); rec.Code != 401 {
		t.Fatalf("expired login token: %d", rec.Code)
	}
	if rec := f.hmacLogin(""); rec.Code != 401 {
		t.Fatalf("missing token: %d", rec.Code)
	}
}

func TestHMACDeactivatedBetweenSteps(t *testing.T) {
	f := newFixture(t)
	token := loginURLToken(t, f.hmacToken(hmacReq{}))
	if _, err := f.svc.DeactivatePartner(context.Background(), app.Operator, "acme", f.partner.ID); err != nil {
		t.Fatal(err)
	}
	rec := f.hmacLogin(token)
	if code, _ := decodeError(t, rec); rec.Code != 403 || code != app.CodePartnerInactive {
		t.Fatalf("%d %s", rec.Code, code)
	}
}

func TestHMACMaxUsersAtomicAtLogin(t *testing.T) {
	f := newFixture(t)
	f.patchPartner(t, app.PartnerPatch{PartnerPolicies: app.PartnerPolicies{MaxUsers: app.Val(1)}})
	t1 := loginURLToken(t, f.hmacToken(hmacReq{body: f.hmacBody(func(b map[string]any) { b["email"] = "u1@example.com" })}))
	t2 := loginURLToken(t, f.hmacToken(hmacReq{body: f.hmacBody(func(b map[string]any) { b["email"] = "u2@example.com" })}))
	if rec := f.hmacLogin(t1); rec.Code != 302 {
		t.Fatal(rec.Body)
	}
	rec := f.hmacLogin(t2)
	if code, _ := decodeError(t, rec); rec.Code != 403 || code != app.CodeMaxUsersExceeded {
		t.Fatalf("second user past max_users at step 2: %d %s", rec.Code, code)
	}
}

func TestRotateSecretGrace(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	old := f.partner.ConsumerSecret
	res, err := f.svc.RotateSecret(ctx, app.Operator, "acme", f.partner.ID, 10*time.Minute)
	if err != nil || !strings.HasPrefix(res.ConsumerSecret, "cs_") || res.ConsumerSecret == old {
		t.Fatalf("%+v %v", res, err)
	}
	if rec := f.hmacToken(hmacReq{secret: res.ConsumerSecret}); rec.Code != 200 {
		t.Fatalf("new secret: %d", rec.Code)
	}
	if rec := f.hmacToken(hmacReq{secret: old}); rec.Code != 200 {
		t.Fatalf("old secret inside grace: %d", rec.Code)
	}
	f.clock.Advance(11 * time.Minute)
	if rec := f.hmacToken(hmacReq{secret: old}); rec.Code != 401 {
		t.Fatalf("old secret after grace: %d", rec.Code)
	}
	res2, err := f.svc.RotateSecret(ctx, app.Operator, "acme", f.partner.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rec := f.hmacToken(hmacReq{secret: res.ConsumerSecret}); rec.Code != 401 {
		t.Fatalf("rotation without grace must end the old secret now: %d", rec.Code)
	}
	if rec := f.hmacToken(hmacReq{secret: res2.ConsumerSecret}); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	p, _ := f.store.GetPartner(ctx, "acme", f.partner.ID)
	if p.ConsumerKey != f.partner.ConsumerKey {
		t.Fatal("rotation changed the consumer key")
	}
	if _, err := f.svc.RotateSecret(ctx, app.Operator, "acme", f.partner.ID, 604801*time.Second); app.ErrorCode(err) != app.CodeValidation {
		t.Fatalf("grace over 7 days: %v", err)
	}
}

// TestSealedSecretBoundToPartner: a sealed secret copied onto another
// partner's record does not open (the partner id is the AEAD's associated data).
func TestSealedSecretBoundToPartner(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	other, err := f.svc.CreatePartner(ctx, app.Operator, "acme", app.PartnerInput{Name: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	victim, _ := f.store.GetPartner(ctx, "acme", f.partner.ID)
	if _, err := f.store.UpdatePartner(ctx, "acme", other.ID, func(p storage.Partner) (storage.Partner, error) {
		p.Secret = victim.Secret
		return p, nil
	}); err != nil {
		t.Fatal(err)
	}
	// Signing as "other" with the victim's secret must fail: the moved value does not decrypt.
	if rec := f.hmacToken(hmacReq{key: other.ConsumerKey, secret: f.partner.ConsumerSecret}); rec.Code != 401 {
		t.Fatalf("moved sealed secret opened: %d", rec.Code)
	}
}

func TestRekey(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	v1 := make([]byte, 32)
	v2 := make([]byte, 32)
	v2[0] = 2
	ring2, err := app.NewKeyRing(map[int][]byte{1: v1, 2: v2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc2, err := app.New(app.Options{Store: f.store, Config: f.svc.Config(), KeyRing: ring2, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	n, err := svc2.Rekey(ctx, app.Operator)
	if err != nil || n != 1 {
		t.Fatalf("rekey: %d %v", n, err)
	}
	p, _ := f.store.GetPartner(ctx, "acme", f.partner.ID)
	if p.Secret.Version != 2 {
		t.Fatalf("sealed under %d", p.Secret.Version)
	}
	// Version 1 can now be retired: a ring with only version 2 still verifies.
	ring3, _ := app.NewKeyRing(map[int][]byte{2: v2}, nil)
	svc3, _ := app.New(app.Options{Store: f.store, Config: f.svc.Config(), KeyRing: ring3, Now: f.clock.Now})
	srv, _ := New(Options{Service: svc3})
	h, _ := srv.PublicHandler()
	f.handler = h
	if rec := f.hmacToken(hmacReq{}); rec.Code != 200 {
		t.Fatalf("after retiring v1: %d %s", rec.Code, rec.Body)
	}
	if n, _ := svc2.Rekey(ctx, app.Operator); n != 0 {
		t.Fatalf("second rekey re-sealed %d", n)
	}
}

// TestHMACLoginRechecksPolicies: SPEC §4.3 step 2 checks the partner's
// policies again (they may have changed since step 1) and the browser's
// Origin; every refusal spends the token, so the link cannot be retried
// once the policy is back.
func TestHMACLoginRechecksPolicies(t *testing.T) {
	cases := []struct {
		name   string
		change app.PartnerPolicies
		origin string
		code   string
	}{
		{"tenant", app.PartnerPolicies{AllowedTenants: app.Val([]string{})}, "", app.CodeTenantNotAllowed},
		{"email domain", app.PartnerPolicies{AllowedEmailDomains: app.Val([]string{"other.test"})}, "", app.CodeEmailDomainNotAllowed},
		{"role", app.PartnerPolicies{AllowedRoles: app.Val([]string{"readOnly"})}, "", app.CodeRoleNotAllowed},
		{"provisioning", app.PartnerPolicies{UserProvisioning: app.Val(app.ProvisioningDisabled)}, "", app.CodeProvisioningDisabled},
		{"foreign origin", app.PartnerPolicies{AllowedOrigins: app.Val([]string{"https://portal.example.test"})}, "https://evil.example", app.CodeOriginNotAllowed},
		{"origin null", app.PartnerPolicies{AllowedOrigins: app.Val([]string{"https://portal.example.test"})}, "null", app.CodeOriginNotAllowed},
		{"no origin allowed", app.PartnerPolicies{AllowedOrigins: app.Val([]string{})}, "https://portal.example.test", app.CodeOriginNotAllowed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			token := loginURLToken(t, f.hmacToken(hmacReq{}))
			f.patchPartner(t, app.PartnerPatch{PartnerPolicies: c.change})
			req := httptest.NewRequest(http.MethodGet, "/sso/hmac/login?token="+url.QueryEscape(token), nil)
			if c.origin != "" {
				req.Header.Set("Origin", c.origin)
			}
			rec := f.do(req)
			if code, msg := decodeError(t, rec); rec.Code != http.StatusForbidden || code != c.code {
				t.Fatalf("login: %d %s %s, want 403 %s", rec.Code, code, msg, c.code)
			}
			if got := f.counts(); got.users != 0 || got.sessions != 0 {
				t.Fatalf("a refused login wrote: %+v", got)
			}
			// Lift every restriction: the spent token still does not work.
			f.patchPartner(t, app.PartnerPatch{PartnerPolicies: app.PartnerPolicies{
				AllowedTenants: app.Null[[]string](), AllowedEmailDomains: app.Null[[]string](), AllowedRoles: app.Null[[]string](),
				AllowedOrigins: app.Null[[]string](), UserProvisioning: app.Val(app.ProvisioningJIT),
			}})
			again := f.hmacLogin(token)
			if code, _ := decodeError(t, again); again.Code != 401 || code != app.CodeInvalidLoginToken {
				t.Fatalf("the refused token was not spent: %d %s", again.Code, code)
			}
		})
	}
	t.Run("allowed origin and no origin pass", func(t *testing.T) {
		f := newFixture(t)
		f.patchPartner(t, app.PartnerPatch{PartnerPolicies: app.PartnerPolicies{AllowedOrigins: app.Val([]string{"https://portal.example.test"})}})
		for _, origin := range []string{"https://portal.example.test", ""} {
			token := loginURLToken(t, f.hmacToken(hmacReq{}))
			req := httptest.NewRequest(http.MethodPost, "/sso/hmac/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if origin != "" {
				req.Header.Set("Origin", origin)
			}
			if rec := f.do(req); rec.Code != http.StatusFound {
				t.Fatalf("origin %q: %d %s", origin, rec.Code, rec.Body)
			}
		}
	})
}

// TestHMACStepOneChecksTenantBeforeProvisioning: SPEC §4.3's order is the
// tenant (allowed_tenants) before provisioning_disabled, unlike §4.1.
func TestHMACStepOneChecksTenantBeforeProvisioning(t *testing.T) {
	f := newFixture(t)
	f.patchPartner(t, app.PartnerPatch{PartnerPolicies: app.PartnerPolicies{
		AllowedTenants: app.Val([]string{}), UserProvisioning: app.Val(app.ProvisioningDisabled),
	}})
	rec := f.hmacToken(hmacReq{})
	if code, _ := decodeError(t, rec); rec.Code != 403 || code != app.CodeTenantNotAllowed {
		t.Fatalf("%d %s, want tenant_not_allowed", rec.Code, code)
	}
	f.patchPartner(t, app.PartnerPatch{PartnerPolicies: app.PartnerPolicies{AllowedTenants: app.Null[[]string]()}})
	rec = f.hmacToken(hmacReq{})
	if code, _ := decodeError(t, rec); rec.Code != 403 || code != app.CodeProvisioningDisabled {
		t.Fatalf("%d %s, want provisioning_disabled", rec.Code, code)
	}
}

// TestHMACLoginErrorsForPeople: the login step is a browser's; a JSON body
// is a missing token (never 415), and a person gets a page with the code,
// the message and the request id to quote, while scripts keep JSON.
func TestHMACLoginErrorsForPeople(t *testing.T) {
	f := newFixture(t)
	token := loginURLToken(t, f.hmacToken(hmacReq{}))
	js := httptest.NewRequest(http.MethodPost, "/sso/hmac/login", strings.NewReader(`{"token":"`+token+`"}`))
	js.Header.Set("Content-Type", "application/json")
	rec := f.do(js)
	if code, _ := decodeError(t, rec); rec.Code != 401 || code != app.CodeInvalidLoginToken {
		t.Fatalf("JSON body: %d %s", rec.Code, rec.Body)
	}
	if rec := f.hmacLogin(token); rec.Code != http.StatusFound {
		t.Fatalf("the JSON attempt must not spend the token: %d %s", rec.Code, rec.Body)
	}
	browser := httptest.NewRequest(http.MethodGet, "/sso/hmac/login?token="+url.QueryEscape(token), nil)
	browser.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	page := f.do(browser)
	body := page.Body.String()
	rid := page.Header().Get("X-Request-Id")
	if page.Code != 401 || !strings.HasPrefix(page.Header().Get("Content-Type"), "text/html") ||
		!strings.Contains(body, app.CodeInvalidLoginToken) || rid == "" || !strings.Contains(body, rid) {
		t.Fatalf("used link in a browser: %d %q (request id %q): %.400s", page.Code, page.Header().Get("Content-Type"), rid, body)
	}
	script := httptest.NewRequest(http.MethodGet, "/sso/hmac/login?token="+url.QueryEscape(token), nil)
	script.Header.Set("Accept", "*/*")
	if rec := f.do(script); !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("*/* must get JSON: %q", rec.Header().Get("Content-Type"))
	}
}
