package web

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"gatehouse/app"
)

type tcResult struct {
	Result string          `json:"result"`
	Code   string          `json:"code"`
	Checks []app.CheckStep `json:"checks"`
}

func (w *opsWorld) tokenCheck(t *testing.T, in map[string]any) tcResult {
	t.Helper()
	b, _ := json.Marshal(in)
	status, body := w.call(t, "operator", "POST", "/api/v1/orgs/acme/token-check", string(b))
	if status != 200 {
		t.Fatalf("token-check: %d %s", status, body)
	}
	var r tcResult
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func (w *opsWorld) snapshot(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := w.store.Backup(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// failedCheck is the name of the failing check (the last one).
func (r tcResult) failedCheck() string {
	if len(r.Checks) == 0 {
		return ""
	}
	last := r.Checks[len(r.Checks)-1]
	if last.OK {
		return ""
	}
	return last.Name
}

// TestTokenCheckEveryFailure: for each way a sign-in can fail, the check
// names the failing step and the code the sign-in returns — and the store is
// byte-for-byte unchanged afterwards (no audit event, user, session or jti).
func TestTokenCheckEveryFailure(t *testing.T) {
	ctx := context.Background()
	type tc struct {
		name      string
		setup     func(w *opsWorld)
		input     func(w *opsWorld) map[string]any
		code      string
		failed    string
		realCheck bool // also run the real sign-in and compare the code
	}
	jwtWith := func(mut func(c map[string]any)) func(w *opsWorld) map[string]any {
		return func(w *opsWorld) map[string]any {
			c := w.claims()
			mut(c)
			return map[string]any{"token": w.token(c)}
		}
	}
	hmacWith := func(tenant, email, role string, mut func(in map[string]any)) func(w *opsWorld) map[string]any {
		return func(w *opsWorld) map[string]any {
			body, _ := json.Marshal(opsBody(tenant, email, role))
			ts := w.clock.Now().UTC().Format(time.RFC3339)
			in := map[string]any{"consumer_key": w.partner.ConsumerKey, "timestamp": ts, "body": string(body),
				"signature": app.SignHMAC(w.partner.ConsumerSecret, ts, w.partner.ConsumerKey, body), "client_ip": "198.51.100.7"}
			if mut != nil {
				mut(in)
			}
			return in
		}
	}
	policy := func(patch string) func(w *opsWorld) {
		return func(w *opsWorld) {
			if s, b := w.call(t, "operator", "PATCH", "/api/v1/orgs/acme/partners/"+w.partner.ID, patch); s != 200 {
				t.Fatalf("patch: %d %s", s, b)
			}
		}
	}
	cases := []tc{
		{name: "jwt empty", input: func(*opsWorld) map[string]any { return map[string]any{"token": ""} }, code: app.CodeInvalidPayload, failed: "format", realCheck: true},
		{name: "jwt not three parts", input: func(*opsWorld) map[string]any { return map[string]any{"token": "abc.def"} }, code: app.CodeInvalidToken, failed: "format", realCheck: true},
		{name: "jwt alg HS256", input: func(w *opsWorld) map[string]any {
			p, _ := json.Marshal(w.claims())
			return map[string]any{"token": b64([]byte(`{"alg":"HS256"}`)) + "." + b64(p) + "." + b64([]byte("sig"))}
		}, code: app.CodeInvalidToken, failed: "alg", realCheck: true},
		{name: "jwt no organizationId", input: jwtWith(func(c map[string]any) { delete(c, "organizationId") }), code: app.CodeInvalidPayload, failed: "organization", realCheck: true},
		{name: "jwt other organization", input: jwtWith(func(c map[string]any) { c["organizationId"] = "other" }), code: "", failed: "organization"},
		{name: "jwt unknown kid", input: func(w *opsWorld) map[string]any {
			p, _ := json.Marshal(w.claims())
			a, _ := keys(t)
			return map[string]any{"token": signRaw(t, a, `{"alg":"RS256","kid":"nope"}`, string(p))}
		}, code: app.CodeInvalidToken, failed: "kid", realCheck: true},
		{name: "jwt wrong key", input: func(w *opsWorld) map[string]any {
			p, _ := json.Marshal(w.claims())
			return map[string]any{"token": signRaw(t, opsThirdKey(), `{"alg":"RS256"}`, string(p))}
		}, code: app.CodeInvalidToken, failed: "signature", realCheck: true},
		{name: "jwt missing email", input: jwtWith(func(c map[string]any) { delete(c, "email") }), code: app.CodeInvalidPayload, failed: "claims", realCheck: true},
		{name: "jwt expired", input: jwtWith(func(c map[string]any) { c["exp"] = harnessEpoch.Add(-(1 * time.Hour)).Unix() }), code: app.CodeExpiredToken, failed: "exp", realCheck: true},
		{name: "jwt lifetime too long", input: jwtWith(func(c map[string]any) { c["exp"] = harnessEpoch.Add(2 * time.Hour).Unix() }), code: app.CodeInvalidToken, failed: "exp", realCheck: true},
		{name: "jwt nbf future", input: jwtWith(func(c map[string]any) { c["nbf"] = harnessEpoch.Add(5 * time.Minute).Unix() }), code: app.CodeInvalidToken, failed: "nbf", realCheck: true},
		{name: "jwt iat future", input: jwtWith(func(c map[string]any) { c["iat"] = harnessEpoch.Add(5 * time.Minute).Unix() }), code: app.CodeInvalidToken, failed: "iat", realCheck: true},
		{name: "jwt replayed jti", setup: func(w *opsWorld) {
			c := w.claims()
			c["jti"] = "used-once"
			if rec := w.signIn(w.token(c)); rec.Code != 302 {
				t.Fatalf("first use: %d", rec.Code)
			}
		}, input: jwtWith(func(c map[string]any) { c["jti"] = "used-once" }), code: app.CodeInvalidToken, failed: "replay", realCheck: true},
		{name: "jwt unknown tenant", input: jwtWith(func(c map[string]any) { c["tenantId"] = "nope" }), code: app.CodeInvalidKeyOrTenant, failed: "tenant", realCheck: true},
		{name: "jwt partner deactivated", setup: func(w *opsWorld) {
			w.call(t, "operator", "POST", "/api/v1/orgs/acme/partners/"+w.partner.ID+"/deactivate", "")
		},
			input: jwtWith(func(map[string]any) {}), code: app.CodeAccessDenied, failed: "partner policies", realCheck: true},
		{name: "jwt role policy", setup: policy(`{"allowed_roles":["readOnly"]}`), input: jwtWith(func(map[string]any) {}), code: app.CodeAccessDenied, failed: "partner policies", realCheck: true},
		{name: "jwt email domain policy", setup: policy(`{"allowed_email_domains":["corp.test"]}`), input: jwtWith(func(map[string]any) {}), code: app.CodeAccessDenied, failed: "partner policies", realCheck: true},
		{name: "jwt tenant policy", setup: policy(`{"allowed_tenants":["t2"]}`), input: jwtWith(func(map[string]any) {}), code: app.CodeAccessDenied, failed: "partner policies", realCheck: true},
		{name: "jwt provisioning disabled", setup: policy(`{"user_provisioning":"disabled"}`), input: jwtWith(func(map[string]any) {}), code: app.CodeAccessDenied, failed: "partner policies", realCheck: true},
		{name: "jwt origin policy", setup: policy(`{"allowed_origins":["https://portal.test"]}`), input: func(w *opsWorld) map[string]any {
			return map[string]any{"token": w.token(w.claims()), "origin": "https://evil.test"}
		}, code: app.CodeAccessDenied, failed: "partner policies"},
		{name: "jwt pre-provisioned user missing", setup: policy(`{"user_provisioning":"pre_provisioned"}`), input: jwtWith(func(map[string]any) {}), code: app.CodeAccessDenied, failed: "user", realCheck: true},
		{name: "jwt max users", setup: policy(`{"max_users":0}`), input: jwtWith(func(map[string]any) {}), code: app.CodeAccessDenied, failed: "user", realCheck: true},
		{name: "jwt non-SSO user", setup: func(w *opsWorld) {
			w.svc.CreateUser(ctx, app.Operator, "acme", app.UserInput{Email: "alice@example.com", TenantID: "t1", Role: "admin"})
		}, input: jwtWith(func(map[string]any) {}), code: app.CodeInvalidPayload, failed: "user", realCheck: true},
		{name: "jwt user in other tenant", setup: func(w *opsWorld) {
			w.svc.CreateUser(ctx, app.Operator, "acme", app.UserInput{Email: "alice@example.com", TenantID: "t2", Role: "admin", PartnerSSO: true})
		}, input: jwtWith(func(map[string]any) {}), code: app.CodeInvalidPayload, failed: "user", realCheck: true},

		{name: "hmac missing header", input: hmacWith("t1", "dave@example.com", "admin", func(in map[string]any) { in["signature"] = "" }), code: app.CodeValidation, failed: "headers"},
		{name: "hmac bad timestamp", input: hmacWith("t1", "dave@example.com", "admin", func(in map[string]any) { in["timestamp"] = "yesterday" }), code: app.CodeValidation, failed: "headers"},
		{name: "hmac wrong signature", input: hmacWith("t1", "dave@example.com", "admin", func(in map[string]any) { in["signature"] = app.SignHMAC("cs_x", "a", "b", nil) }), code: app.CodeInvalidPartnerSignature, failed: "signature"},
		{name: "hmac other org's partner", setup: func(w *opsWorld) {}, input: func(w *opsWorld) map[string]any {
			p, err := w.svc.CreatePartner(ctx, app.Operator, "other", app.PartnerInput{Name: "Theirs"})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := json.Marshal(opsBody("t1", "dave@example.com", "admin"))
			ts := w.clock.Now().UTC().Format(time.RFC3339)
			return map[string]any{"consumer_key": p.ConsumerKey, "timestamp": ts, "body": string(body), "signature": app.SignHMAC(p.ConsumerSecret, ts, p.ConsumerKey, body)}
		}, code: app.CodeInvalidPartnerSignature, failed: "signature"},
		{name: "hmac stale timestamp", input: func(w *opsWorld) map[string]any {
			body, _ := json.Marshal(opsBody("t1", "dave@example.com", "admin"))
			ts := w.clock.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
			return map[string]any{"consumer_key": w.partner.ConsumerKey, "timestamp": ts, "body": string(body), "signature": app.SignHMAC(w.partner.ConsumerSecret, ts, w.partner.ConsumerKey, body)}
		}, code: app.CodeSignatureExpired, failed: "timestamp"},
		{name: "hmac partner inactive", setup: func(w *opsWorld) {
			w.call(t, "operator", "POST", "/api/v1/orgs/acme/partners/"+w.partner.ID+"/deactivate", "")
		},
			input: hmacWith("t1", "dave@example.com", "admin", nil), code: app.CodePartnerInactive, failed: "partner active"},
		{name: "hmac source ip", setup: policy(`{"allowed_source_ips":["10.0.0.0/8"]}`), input: hmacWith("t1", "dave@example.com", "admin", nil), code: app.CodeSourceIPNotAllowed, failed: "source ip"},
		{name: "hmac bad body", input: hmacWith("t1", "not-an-email", "admin", nil), code: app.CodeValidation, failed: "body"},
		{name: "hmac replayed nonce", setup: func(w *opsWorld) {}, input: func(w *opsWorld) map[string]any {
			in := hmacWith("t1", "dave@example.com", "admin", nil)(w)
			if rec := w.opsHMACRaw(in); rec != 200 {
				t.Fatalf("first use: %d", rec)
			}
			return in
		}, code: app.CodeReplayedRequest, failed: "replay"},
		{name: "hmac tenant", input: hmacWith("nope", "dave@example.com", "admin", nil), code: app.CodeTenantNotAllowed, failed: "tenant"},
		{name: "hmac tenant policy", setup: policy(`{"allowed_tenants":["t2"]}`), input: hmacWith("t1", "dave@example.com", "admin", nil), code: app.CodeTenantNotAllowed, failed: "partner policies"},
		{name: "hmac provisioning disabled", setup: policy(`{"user_provisioning":"disabled"}`), input: hmacWith("t1", "dave@example.com", "admin", nil), code: app.CodeProvisioningDisabled, failed: "partner policies"},
		{name: "hmac email domain", setup: policy(`{"allowed_email_domains":["corp.test"]}`), input: hmacWith("t1", "dave@example.com", "admin", nil), code: app.CodeEmailDomainNotAllowed, failed: "partner policies"},
		{name: "hmac role", setup: policy(`{"allowed_roles":["readOnly"]}`), input: hmacWith("t1", "dave@example.com", "admin", nil), code: app.CodeRoleNotAllowed, failed: "partner policies"},
		{name: "hmac not provisioned", setup: policy(`{"user_provisioning":"pre_provisioned"}`), input: hmacWith("t1", "dave@example.com", "admin", nil), code: app.CodeUserNotProvisioned, failed: "user"},
		{name: "hmac max users", setup: policy(`{"max_users":0}`), input: hmacWith("t1", "dave@example.com", "admin", nil), code: app.CodeMaxUsersExceeded, failed: "user"},
		{name: "hmac user conflict", input: hmacWith("t2", "bob@example.com", "admin", nil), code: app.CodeUserConflict, failed: "user"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newOpsWorld(t)
			if c.setup != nil {
				c.setup(w)
			}
			in := c.input(w)
			before := w.snapshot(t)
			r := w.tokenCheck(t, in)
			if !bytes.Equal(before, w.snapshot(t)) {
				t.Fatal("the token check wrote to the store")
			}
			if r.Result != "fail" || r.Code != c.code || r.failedCheck() != c.failed {
				t.Fatalf("got result %s code %q failed %q, want code %q failed %q: %+v", r.Result, r.Code, r.failedCheck(), c.code, c.failed, r.Checks)
			}
			if c.realCheck {
				tok, _ := in["token"].(string)
				form := url.Values{"token": {tok}}
				rec := w.post(form)
				if code, _ := decodeError(t, rec); code != c.code {
					t.Fatalf("the real sign-in answered %s, the check said %s", code, c.code)
				}
			}
		})
	}
}

// opsHMACRaw sends a token-check input as a real HMAC step 1.
func (w *opsWorld) opsHMACRaw(in map[string]any) int {
	return w.opsHMACBytes(in["consumer_key"].(string), in["timestamp"].(string), in["signature"].(string), []byte(in["body"].(string)))
}

func (w *opsWorld) opsHMACBytes(ck, ts, sig string, body []byte) int {
	req := httptest.NewRequest(http.MethodPost, "/sso/hmac/token", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Consumer-Key", ck)
	req.Header.Set("X-Timestamp", ts)
	req.Header.Set("X-Signature", sig)
	return w.do(req).Code
}

// TestTokenCheckPassLeavesTokenUsable: a passing check lists every step,
// writes nothing, and the token (with its jti) still signs in afterwards.
func TestTokenCheckPassLeavesTokenUsable(t *testing.T) {
	w := newOpsWorld(t)
	c := w.claims()
	c["jti"] = "check-then-use"
	c["nbf"] = w.clock.Now().Unix()
	tok := w.token(c)
	before := w.snapshot(t)
	r := w.tokenCheck(t, map[string]any{"token": tok})
	if !bytes.Equal(before, w.snapshot(t)) {
		t.Fatal("a passing check wrote to the store")
	}
	if r.Result != "pass" || r.Code != "" {
		t.Fatalf("result: %+v", r)
	}
	var names []string
	for _, s := range r.Checks {
		if !s.OK {
			t.Errorf("check %s not ok: %s", s.Name, s.Detail)
		}
		names = append(names, s.Name)
	}
	want := []string{"format", "alg", "organization", "kid", "signature", "claims", "exp", "nbf", "iat", "replay", "tenant", "partner policies", "user"}
	if len(names) != len(want) {
		t.Fatalf("checks %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("checks %v, want %v", names, want)
		}
	}
	if rec := w.signIn(tok); rec.Code != 302 {
		t.Fatalf("the token no longer signs in after the check: %d", rec.Code)
	}
	// Now the jti is used: the check says so.
	if r := w.tokenCheck(t, map[string]any{"token": tok}); r.Code != app.CodeInvalidToken || r.failedCheck() != "replay" {
		t.Fatalf("after use: %+v", r)
	}

	// HMAC: a passing check leaves the nonce unused.
	body, _ := json.Marshal(opsBody("t1", "erin@example.com", "readOnly"))
	ts := w.clock.Now().UTC().Format(time.RFC3339)
	sig := app.SignHMAC(w.partner.ConsumerSecret, ts, w.partner.ConsumerKey, body)
	before = w.snapshot(t)
	r = w.tokenCheck(t, map[string]any{"consumer_key": w.partner.ConsumerKey, "timestamp": ts, "signature": sig, "body": string(body)})
	if r.Result != "pass" || !bytes.Equal(before, w.snapshot(t)) {
		t.Fatalf("hmac check: %+v (or it wrote)", r)
	}
	if code := w.opsHMACBytes(w.partner.ConsumerKey, ts, sig, body); code != 200 {
		t.Fatalf("the nonce was consumed by the check: %d", code)
	}
	// Both at once is a validation error.
	b, _ := json.Marshal(map[string]any{"token": tok, "consumer_key": "ck_x"})
	if s, _ := w.call(t, "operator", "POST", "/api/v1/orgs/acme/token-check", string(b)); s != 400 {
		t.Fatalf("token and hmac together: %d", s)
	}
}
