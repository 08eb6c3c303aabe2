package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/app"
	"gatehouse/app/jwks"
	"gatehouse/storage"
	"gatehouse/storage/memory"
)

// attack is one hostile request and the exact answer SPEC §4 demands.
type attack struct {
	name  string
	cfg   func(*app.Config) // config changes, before the fixture is built
	setup func(f *fixture)  // runs before the counts are taken
	req   func(f *fixture) *http.Request
	// status and code are the exact answer. A 302 case (deep links, benign
	// email variants) sets location instead of code.
	status   int
	code     string
	location string
	// users is the change in the user count a 302 case may make (0 or 1).
	users int
}

// TestAttackSuite runs every family of SPEC §4 attacks against the real
// handlers and checks, for each, the exact status and code, that nothing was
// written (no user, no session, no cookie, at most its own audit event) and
// that the token never reached a log line or audit event.
func TestAttackSuite(t *testing.T) {
	ks := newKeySource(t)
	cases := attackCases(t, ks)
	families := map[string]int{}
	for _, c := range cases {
		families[strings.SplitN(c.name, "/", 2)[0]]++
	}
	if len(cases) < 60 {
		t.Fatalf("the attack suite must hold at least 60 cases, has %d", len(cases))
	}
	t.Logf("%d attack cases: %v", len(cases), families)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			runAttack(t, c)
		})
	}
	t.Cleanup(func() {
		if n := ks.hits.Load(); n != 0 {
			t.Errorf("the server fetched a key source %d time(s): jku/x5u must never be followed", n)
		}
	})
}

func runAttack(t *testing.T, c attack) {
	var mut []func(*app.Config)
	if c.cfg != nil {
		mut = append(mut, c.cfg)
	}
	f := newFixture(t, mut...)
	if c.setup != nil {
		c.setup(f)
	}
	req := c.req(f) // may prepare state too (issue a login token, add an org)
	before := f.counts()
	auditBefore := len(f.auditEvents())
	secret := requestSecret(req)
	rec := f.do(req)
	if rec.Code != c.status {
		t.Fatalf("status %d, want %d: %.300s", rec.Code, c.status, rec.Body)
	}
	after := f.counts()
	if c.status == http.StatusOK { // an HMAC step 1 the grammar allows: a login token, nothing else
		if after != before || !strings.Contains(rec.Body.String(), `"login_url"`) {
			t.Errorf("counts %+v → %+v, body %.200s", before, after, rec.Body)
		}
		return
	}
	if c.status == http.StatusFound {
		if got := rec.Header().Get("Location"); got != c.location {
			t.Errorf("Location %q, want %q", got, c.location)
		}
		if after.users != before.users+c.users || after.sessions != before.sessions+1 {
			t.Errorf("counts %+v → %+v, want +%d user(s) and one session", before, after, c.users)
		}
		return
	}
	code, msg := decodeError(t, rec)
	if code != c.code {
		t.Errorf("code %q, want %q (%s)", code, c.code, msg)
	}
	if after != before {
		t.Errorf("a refused sign-in wrote something: %+v → %+v", before, after)
	}
	for _, ck := range rec.Result().Cookies() {
		if ck.MaxAge >= 0 && ck.Value != "" {
			t.Errorf("a refused sign-in set cookie %s", ck.Name)
		}
	}
	if c.status == http.StatusTooManyRequests && rec.Header().Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	events := f.auditEvents()[auditBefore:]
	if len(events) > 1 {
		t.Errorf("%d audit events for one refused sign-in", len(events))
	}
	for _, e := range events {
		if e.Outcome != "failure" || e.Code != c.code {
			t.Errorf("audit event %s/%s, want failure/%s", e.Outcome, e.Code, c.code)
		}
		if b, _ := json.Marshal(e); secret != "" && strings.Contains(string(b), secret) {
			t.Errorf("the audit event holds the credential: %s", b)
		}
	}
	if secret != "" && strings.Contains(f.logs.String(), secret) {
		t.Error("a log line holds the credential")
	}
	if secret != "" && strings.Contains(rec.Body.String(), secret) {
		t.Error("the error body echoes the credential")
	}
}

// requestSecret is the part of a request that must never be logged: a JWT's
// signature segment, or the HMAC signature.
func requestSecret(req *http.Request) string {
	if s := req.Header.Get("X-Signature"); len(s) >= 16 {
		return s
	}
	if req.Body == nil || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		return ""
	}
	// Read the form and put the body back for the handler.
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return ""
	}
	parts := strings.Split(form.Get("token"), ".")
	if len(parts) == 3 && len(parts[2]) >= 40 {
		return parts[2]
	}
	return ""
}

func attackCases(t *testing.T, ks *keySource) []attack {
	keyA, keyB := keys(t)
	var cases []attack
	add := func(c ...attack) { cases = append(cases, c...) }

	// tok builds a request from a token made with the fixture.
	tok := func(fn func(f *fixture) string) func(f *fixture) *http.Request {
		return func(f *fixture) *http.Request { return tokenRequest(fn(f)) }
	}
	// rs signs header and claims (f.claims() changed by mut) with key A: a
	// genuine signature, so only the check under test can refuse it.
	rs := func(header string, mut func(map[string]any)) func(f *fixture) *http.Request {
		return tok(func(f *fixture) string { return signAlg(t, "RS256", keyA, header, f.claimsJSON(mut)) })
	}
	rawPayload := func(header, payload string) func(f *fixture) *http.Request {
		return tok(func(f *fixture) string { return signAlg(t, "RS256", keyA, header, payload) })
	}
	const hdr = `{"alg":"RS256","typ":"JWT"}`
	bad := func(name string, req func(f *fixture) *http.Request) attack {
		return attack{name: name, req: req, status: 401, code: app.CodeInvalidToken}
	}
	payload400 := func(name string, mut func(map[string]any)) attack {
		return attack{name: name, req: rs(hdr, mut), status: 400, code: app.CodeInvalidPayload}
	}
	set := func(k string, v any) func(map[string]any) { return func(c map[string]any) { c[k] = v } }
	del := func(k string) func(map[string]any) { return func(c map[string]any) { delete(c, k) } }
	rename := func(from, to string) func(map[string]any) {
		return func(c map[string]any) { c[to] = c[from]; delete(c, from) }
	}
	at := func(d time.Duration) int64 { return harnessEpoch.Add(d).Unix() }

	// ---- algorithm attacks ----
	for _, none := range []string{"none", "None", "NONE", "nOnE", "noNe"} {
		h := `{"alg":"` + none + `","typ":"JWT"}`
		add(bad("alg/"+none+" empty signature", tok(func(f *fixture) string {
			return b64([]byte(h)) + "." + b64([]byte(f.claimsJSON(nil))) + "."
		})))
		add(bad("alg/"+none+" with junk signature", tok(func(f *fixture) string {
			return b64([]byte(h)) + "." + b64([]byte(f.claimsJSON(nil))) + "." + b64([]byte("x"))
		})))
	}
	add(bad("alg/none with a genuine RS256 signature", rs(`{"alg":"none"}`, nil)))
	hsWith := func(alg string, secret func(f *fixture) []byte, kid bool) func(f *fixture) *http.Request {
		return tok(func(f *fixture) string {
			h := `{"alg":"` + alg + `","typ":"JWT"}`
			if kid {
				h = `{"alg":"` + alg + `","kid":"` + f.kid + `"}`
			}
			return signAlg(t, alg, secret(f), h, f.claimsJSON(nil))
		})
	}
	pemA := func(f *fixture) []byte { return []byte(pubPEM(t, keyA)) }
	derA := func(f *fixture) []byte { return pubDER(t, keyA) }
	jwkA := func(f *fixture) []byte { return []byte(pubJWK(t, keyA, f.kid)) }
	pemTrim := func(f *fixture) []byte { return []byte(strings.TrimSpace(pubPEM(t, keyA))) }
	add(
		bad("alg/HS256 keyed with the public key PEM", hsWith("HS256", pemA, false)),
		bad("alg/HS256 keyed with the public key PEM without newline", hsWith("HS256", pemTrim, false)),
		bad("alg/HS256 keyed with the public key PEM and the real kid", hsWith("HS256", pemA, true)),
		bad("alg/HS256 keyed with the public key DER", hsWith("HS256", derA, false)),
		bad("alg/HS256 keyed with the public key JWK", hsWith("HS256", jwkA, true)),
		bad("alg/HS384 keyed with the public key PEM", hsWith("HS384", pemA, false)),
		bad("alg/HS512 keyed with the public key DER", hsWith("HS512", derA, false)),
		bad("alg/PS256 genuine signature", tok(func(f *fixture) string {
			return signAlg(t, "PS256", keyA, `{"alg":"PS256"}`, f.claimsJSON(nil))
		})),
		bad("alg/RS256 header over a PSS signature", tok(func(f *fixture) string {
			parts := strings.Split(signAlg(t, "PS256", keyA, hdr, f.claimsJSON(nil)), ".")
			return strings.Join(parts, ".")
		})),
		bad("alg/ES256 genuine signature", tok(func(f *fixture) string {
			return signAlg(t, "ES256", testECKey(), `{"alg":"ES256"}`, f.claimsJSON(nil))
		})),
		bad("alg/RS512 genuine signature", tok(func(f *fixture) string {
			return signAlg(t, "RS512", keyA, `{"alg":"RS512"}`, f.claimsJSON(nil))
		})),
		bad("alg/RS384 genuine signature", tok(func(f *fixture) string {
			return signAlg(t, "RS384", keyA, `{"alg":"RS384"}`, f.claimsJSON(nil))
		})),
	)
	for _, h := range []string{
		`{"alg":"rs256"}`, `{"alg":"Rs256"}`, `{"alg":"RS256 "}`, `{"alg":" RS256"}`, `{"alg":"RS-256"}`,
		`{"alg":"RS256\u0000"}`, `{"alg":"ＲＳ256"}`, `{"alg":["RS256"]}`, `{"alg":256}`, `{"alg":null}`,
		`{"typ":"JWT"}`, `{"ALG":"RS256"}`, `{"alg":"RSA256"}`, `{"alg":"RS256","alg2":"none","enc":"A256GCM"}`,
	} {
		add(bad("alg/spelling "+h, rs(h, nil)))
	}

	// ---- key-source injection: nothing is fetched, embedded keys are ignored ----
	signB := func(header func(f *fixture) string) func(f *fixture) *http.Request {
		return tok(func(f *fixture) string { return signAlg(t, "RS256", keyB, header(f), f.claimsJSON(nil)) })
	}
	add(
		bad("keysource/jku to an attacker JWKS", signB(func(f *fixture) string {
			return `{"alg":"RS256","jku":"` + ks.URL + `/jwks.json","kid":"attacker"}`
		})),
		bad("keysource/x5u to an attacker certificate", signB(func(f *fixture) string {
			return `{"alg":"RS256","x5u":"` + ks.URL + `/cert.pem"}`
		})),
		bad("keysource/jku with the real kid", signB(func(f *fixture) string {
			return `{"alg":"RS256","jku":"` + ks.URL + `/jwks.json","kid":"` + f.kid + `"}`
		})),
		bad("keysource/embedded jwk of the signer", signB(func(f *fixture) string {
			return `{"alg":"RS256","jwk":` + pubJWK(t, keyB, "") + `}`
		})),
		bad("keysource/embedded jwk with the real kid", signB(func(f *fixture) string {
			return `{"alg":"RS256","kid":"` + f.kid + `","jwk":` + pubJWK(t, keyB, f.kid) + `}`
		})),
		bad("keysource/x5c self-signed certificate", signB(func(f *fixture) string {
			return `{"alg":"RS256","x5c":["` + base64.StdEncoding.EncodeToString(selfSignedDER(t, keyB)) + `"]}`
		})),
		bad("keysource/jku x5u jwk x5c together", signB(func(f *fixture) string {
			return `{"alg":"RS256","jku":"` + ks.URL + `","x5u":"` + ks.URL + `","jwk":` + pubJWK(t, keyB, "") +
				`,"x5c":["` + base64.StdEncoding.EncodeToString(selfSignedDER(t, keyB)) + `"]}`
		})),
	)
	for name, kid := range map[string]string{
		"path traversal":    "../../../../etc/passwd",
		"absolute path":     "/dev/null",
		"SQL injection":     "' OR '1'='1' --",
		"10k characters":    strings.Repeat("k", 10000),
		"NUL byte":          "a\x00b",
		"real kid plus NUL": "\x00",
		"empty":             "",
		"URL":               "http://127.0.0.1:1/jwks",
		"CRLF":              "k\r\nX-Injected: 1",
	} {
		kid := kid
		add(bad("keysource/hostile kid "+name, tok(func(f *fixture) string {
			k := kid
			if name == "real kid plus NUL" {
				k = f.kid + kid
			}
			return signAlg(t, "RS256", keyA, mustJSON(t, map[string]any{"alg": "RS256", "kid": k}), f.claimsJSON(nil))
		})))
	}
	// Kids are exact strings: a spelling of the real kid that a path or a
	// case-folding lookup would equate must not pick the key.
	for name, spell := range map[string]func(string) string{
		"upper-cased":         strings.ToUpper,
		"percent-escaped":     func(k string) string { return url.PathEscape(k[:1]) + "%2F" + k[1:] },
		"with a dot segment":  func(k string) string { return "./" + k },
		"with trailing space": func(k string) string { return k + " " },
	} {
		add(bad("kid/real kid "+name, tok(func(f *fixture) string {
			return signAlg(t, "RS256", keyA, mustJSON(t, map[string]any{"alg": "RS256", "kid": spell(f.kid)}), f.claimsJSON(nil))
		})))
	}
	add(bad("keysource/kid a number", rs(`{"alg":"RS256","kid":7}`, nil)),
		bad("keysource/kid null", rs(`{"alg":"RS256","kid":null}`, nil)),
		bad("keysource/kid an object", rs(`{"alg":"RS256","kid":{"$ne":""}}`, nil)))

	// ---- crit ----
	add(
		bad("crit/exp", rs(`{"alg":"RS256","crit":["exp"]}`, nil)),
		bad("crit/empty list", rs(`{"alg":"RS256","crit":[]}`, nil)),
		bad("crit/b64 false", rs(`{"alg":"RS256","b64":false,"crit":["b64"]}`, nil)),
		bad("crit/null", rs(`{"alg":"RS256","crit":null}`, nil)),
		bad("crit/unknown extension", rs(`{"alg":"RS256","crit":["x-gatehouse"],"x-gatehouse":1}`, nil)),
	)

	// ---- malformed serialisations ----
	valid := func(f *fixture) string { return f.token(f.claims()) }
	part := func(fn func(p []string) string) func(f *fixture) *http.Request {
		return tok(func(f *fixture) string { return fn(strings.Split(valid(f), ".")) })
	}
	// withSig finds a token whose signature has a URL-safe character, so the
	// standard-alphabet variant really differs.
	urlSafeSig := func(f *fixture) []string {
		for i := 0; ; i++ {
			p := strings.Split(f.token(map[string]any{"organizationId": "acme", "tenantId": "t1", "role": "admin",
				"email": "alice@example.com", "exp": f.clock.Now().Add(time.Minute).Unix(), "jti": fmt.Sprint(i)}), ".")
			if strings.ContainsAny(p[2], "-_") {
				return p
			}
		}
	}
	add(
		bad("malformed/one part", tok(func(*fixture) string { return "eyJhbGciOiJSUzI1NiJ9" })),
		bad("malformed/two parts", part(func(p []string) string { return p[0] + "." + p[1] })),
		bad("malformed/four parts", part(func(p []string) string { return strings.Join(p, ".") + "." + p[2] })),
		bad("malformed/JWE five parts", tok(func(*fixture) string {
			return b64([]byte(`{"alg":"RSA-OAEP","enc":"A256GCM"}`)) + "." + b64([]byte("key")) + "." + b64([]byte("iv")) + "." + b64([]byte("ct")) + "." + b64([]byte("tag"))
		})),
		bad("malformed/JWE header in three parts", rs(`{"alg":"RS256","enc":"A256GCM"}`, nil)),
		bad("malformed/JSON serialisation general", part(func(p []string) string {
			return `{"payload":"` + p[1] + `","signatures":[{"protected":"` + p[0] + `","signature":"` + p[2] + `"}]}`
		})),
		bad("malformed/JSON serialisation flattened", part(func(p []string) string {
			return `{"payload":"` + p[1] + `","protected":"` + p[0] + `","signature":"` + p[2] + `"}`
		})),
		bad("malformed/empty parts", tok(func(*fixture) string { return ".." })),
		bad("malformed/empty signature", part(func(p []string) string { return p[0] + "." + p[1] + "." })),
		bad("malformed/empty payload", part(func(p []string) string { return p[0] + ".." + p[2] })),
		bad("malformed/standard alphabet signature", tok(func(f *fixture) string {
			p := urlSafeSig(f)
			return p[0] + "." + p[1] + "." + strings.TrimRight(b64std(p[2]), "=")
		})),
		bad("malformed/standard alphabet with padding", tok(func(f *fixture) string {
			p := urlSafeSig(f)
			return b64std(p[0]) + "." + b64std(p[1]) + "." + b64std(p[2])
		})),
		bad("malformed/padded signature", part(func(p []string) string { return p[0] + "." + p[1] + "." + p[2] + "==" })),
		bad("malformed/padded payload", part(func(p []string) string { return p[0] + "." + p[1] + "=." + p[2] })),
		bad("malformed/non-canonical trailing bits", part(func(p []string) string {
			// 256 signature bytes leave 4 unused bits in the last character;
			// setting them decodes leniently to the same bytes.
			s := []byte(p[2])
			const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			s[len(s)-1] = alpha[strings.IndexByte(alpha, s[len(s)-1])|1]
			return p[0] + "." + p[1] + "." + string(s)
		})),
		bad("malformed/whitespace inside", part(func(p []string) string { return p[0] + ". " + p[1] + "." + p[2] })),
		bad("malformed/trailing newline", part(func(p []string) string { return strings.Join(p, ".") + "\n" })),
		bad("malformed/CRLF inside the signature", part(func(p []string) string { return p[0] + "." + p[1] + "." + p[2][:10] + "\r\n" + p[2][10:] })),
		bad("malformed/newline inside the payload", part(func(p []string) string { return p[0] + "." + p[1][:5] + "\n" + p[1][5:] + "." + p[2] })),
		bad("malformed/trailing tab", part(func(p []string) string { return strings.Join(p, ".") + "\t" })),
		bad("malformed/leading space", part(func(p []string) string { return " " + strings.Join(p, ".") })),
		bad("malformed/illegal character", part(func(p []string) string { return p[0] + "." + p[1] + "!." + p[2] })),
		bad("malformed/header not JSON", rawPayload(`RS256`, `{"organizationId":"acme"}`)),
		bad("malformed/payload null", rawPayload(hdr, `null`)),
		bad("malformed/payload array", rawPayload(hdr, `[{"organizationId":"acme"}]`)),
		bad("malformed/payload with trailing data", rawPayload(hdr, `{"organizationId":"acme"}{"organizationId":"acme"}`)),
		bad("malformed/payload with BOM", rawPayload(hdr, "\ufeff{\"organizationId\":\"acme\"}")),
		bad("malformed/payload not UTF-8 JSON", rawPayload(hdr, "{\"organizationId\":\"acme\xff\"")),
		bad("malformed/deeply nested payload", rawPayload(hdr, `{"organizationId":"acme","x":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}`)),
		bad("malformed/deeply nested objects", rawPayload(hdr, `{"organizationId":"acme","x":`+strings.Repeat(`{"a":`, 40)+`1`+strings.Repeat("}", 40)+`}`)),
		bad("malformed/10k-deep nesting", rawPayload(hdr, `{"organizationId":"acme","x":`+strings.Repeat("[", 10000)+strings.Repeat("]", 10000)+`}`)),
		bad("malformed/deeply nested header", rs(`{"alg":"RS256","x":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}`, nil)),
		bad("malformed/duplicate alg", rs(`{"alg":"HS256","alg":"RS256"}`, nil)),
		bad("malformed/duplicate alg by escape", rs(`{"alg":"none","\u0061lg":"RS256"}`, nil)),
		bad("malformed/huge token near the body limit", tok(func(f *fixture) string {
			return signAlg(t, "RS256", keyB, hdr, f.claimsJSON(set("pad", strings.Repeat("p", 47000))))
		})),
		attack{name: "malformed/huge token over the body limit", req: tok(func(f *fixture) string {
			return signAlg(t, "RS256", keyA, hdr, f.claimsJSON(set("pad", strings.Repeat("p", 50000))))
		}), status: 413, code: app.CodePayloadTooLarge},
		bad("malformed/sixty thousand dots", tok(func(*fixture) string { return strings.Repeat(".", 60000) })),
		attack{name: "malformed/a million dots", req: tok(func(*fixture) string { return strings.Repeat(".", 1_000_000) }),
			status: 413, code: app.CodePayloadTooLarge},
		attack{name: "malformed/a million dots under a raised body limit", cfg: func(c *app.Config) { c.Server.MaxBodyBytes = 2 << 20 },
			req: tok(func(*fixture) string { return strings.Repeat(".", 1_000_000) }), status: 401, code: app.CodeInvalidToken},
	)

	// ---- claim attacks (all genuinely signed by the partner's key) ----
	for _, claim := range []string{"exp", "nbf", "iat"} {
		add(payload400("claims/"+claim+" null", set(claim, nil)),
			payload400("claims/"+claim+" string", set(claim, fmt.Sprint(at(time.Minute)))),
			payload400("claims/"+claim+" boolean", set(claim, true)),
			payload400("claims/"+claim+" array", set(claim, []int64{at(time.Minute)})),
			payload400("claims/"+claim+" object", set(claim, map[string]any{"$date": at(time.Minute)})),
			payload400("claims/"+claim+" negative", set(claim, -1)))
	}
	add(
		payload400("claims/exp missing", del("exp")),
		bad("claims/exp 1e400 (beyond float)", rawPayload(hdr, `{"organizationId":"acme","tenantId":"t1","role":"admin","email":"alice@example.com","exp":1e400}`)),
		payload400("claims/exp -1e400", func(c map[string]any) { c["exp"] = json.RawMessage(`-1e400`) }),
		bad("claims/exp at int64 max", rs(hdr, set("exp", json.RawMessage(`9223372036854775807`)))),
		bad("claims/exp one second past the maximum lifetime", rs(hdr, set("exp", at(time.Hour+time.Second)))),
		attack{name: "claims/exp in the past", req: rs(hdr, set("exp", at(-2*time.Minute))), status: 401, code: app.CodeExpiredToken},
		attack{name: "claims/exp exactly now minus skew", req: rs(hdr, set("exp", at(-time.Minute))), status: 401, code: app.CodeExpiredToken},
		attack{name: "claims/exp zero", req: rs(hdr, set("exp", 0)), status: 401, code: app.CodeExpiredToken},
		bad("claims/nbf beyond the skew", rs(hdr, set("nbf", at(61*time.Second)))),
		bad("claims/iat beyond the skew", rs(hdr, set("iat", at(61*time.Second)))),
		payload400("claims/organizationId null", set("organizationId", nil)),
		payload400("claims/organizationId number", set("organizationId", 1)),
		payload400("claims/organizationId array", set("organizationId", []string{"acme"})),
		payload400("claims/tenantId null", set("tenantId", nil)),
		payload400("claims/tenantId number", set("tenantId", 1)),
		payload400("claims/tenantId path", set("tenantId", "../t2")),
		payload400("claims/email null", set("email", nil)),
		payload400("claims/name number", set("name", 42)),
		payload400("claims/name with control characters", set("name", "Alice\r\nX-Gatehouse-Role: admin")),
		payload400("claims/jti number", set("jti", 7)),
		payload400("claims/jti empty", set("jti", "")),
		payload400("claims/case variant Email", rename("email", "Email")),
		payload400("claims/case variant ROLE", rename("role", "ROLE")),
		payload400("claims/case variant TenantId", rename("tenantId", "TenantId")),
		payload400("claims/case variant EXP", rename("exp", "EXP")),
		payload400("claims/case variant OrganizationID", rename("organizationId", "OrganizationID")),
		bad("claims/duplicate role", rawPayload(hdr, `{"organizationId":"acme","tenantId":"t1","role":"readOnly","role":"admin","email":"alice@example.com","exp":`+fmt.Sprint(at(time.Minute))+`}`)),
		bad("claims/duplicate role by escape", rawPayload(hdr, `{"organizationId":"acme","tenantId":"t1","role":"readOnly","r\u006fle":"admin","email":"alice@example.com","exp":`+fmt.Sprint(at(time.Minute))+`}`)),
		bad("claims/duplicate organizationId", rawPayload(hdr, `{"organizationId":"beta","organizationId":"acme","tenantId":"t1","role":"admin","email":"alice@example.com","exp":`+fmt.Sprint(at(time.Minute))+`}`)),
		bad("claims/duplicate exp", rawPayload(hdr, `{"organizationId":"acme","tenantId":"t1","role":"admin","email":"alice@example.com","exp":1,"exp":`+fmt.Sprint(at(time.Minute))+`}`)),
		bad("claims/duplicate nested member", rawPayload(hdr, `{"organizationId":"acme","tenantId":"t1","role":"admin","email":"alice@example.com","exp":`+fmt.Sprint(at(time.Minute))+`,"x":{"a":1,"a":2}}`)),
	)
	for _, role := range []any{"Admin", "ADMIN", "admin ", " admin", "administrator", "readonly", "READONLY", "read_only",
		"", "admin\x00", "аdmin", "superadmin", "owner", nil, true, []string{"admin"}, map[string]any{"admin": true}} {
		add(payload400(fmt.Sprintf("claims/role %q", role), set("role", role)))
	}

	// ---- replay (the parallel race is TestAttackReplayParallel) ----
	withJTI := func(jti string) func(f *fixture) string {
		return func(f *fixture) string {
			c := f.claims()
			c["jti"] = jti
			return f.token(c)
		}
	}
	add(
		attack{name: "replay/same token again", setup: func(f *fixture) {
			if rec := f.signIn(withJTI("once")(f)); rec.Code != 302 {
				t.Fatalf("first use refused: %s", rec.Body)
			}
		}, req: tok(withJTI("once")), status: 401, code: app.CodeInvalidToken},
		attack{name: "replay/same jti re-signed with other claims", setup: func(f *fixture) {
			if rec := f.signIn(withJTI("once")(f)); rec.Code != 302 {
				t.Fatalf("first use refused: %s", rec.Body)
			}
		}, req: tok(func(f *fixture) string {
			c := f.claims()
			c["jti"], c["email"], c["iat"] = "once", "bob@example.com", f.clock.Now().Unix()-5
			return f.token(c)
		}), status: 401, code: app.CodeInvalidToken},
		attack{name: "replay/after the clock moved on", setup: func(f *fixture) {
			if rec := f.signIn(withJTI("once")(f)); rec.Code != 302 {
				t.Fatalf("first use refused: %s", rec.Body)
			}
			f.clock.Advance(4 * time.Minute)
		}, req: tok(withJTI("once")), status: 401, code: app.CodeInvalidToken},
	)

	// ---- cross-tenant and cross-organization substitution ----
	add(
		attack{name: "cross/org B's key signs for org A", setup: func(f *fixture) { f.beta() },
			req: signB(func(*fixture) string { return hdr }), status: 401, code: app.CodeInvalidToken},
		attack{name: "cross/org B's key and kid sign for org A", req: tok(func(f *fixture) string {
			_, kid := f.beta()
			return signAlg(t, "RS256", keyB, `{"alg":"RS256","kid":"`+kid+`"}`, f.claimsJSON(nil))
		}), status: 401, code: app.CodeInvalidToken},
		attack{name: "cross/org B token for a tenant of org A", req: tok(func(f *fixture) string {
			f.beta()
			return signAlg(t, "RS256", keyB, hdr, f.claimsJSON(set("organizationId", "beta")))
		}), status: 403, code: app.CodeInvalidKeyOrTenant},
		attack{name: "cross/org A token for a tenant of org B", setup: func(f *fixture) { f.beta() },
			req: rs(hdr, set("tenantId", "b1")), status: 403, code: app.CodeInvalidKeyOrTenant},
		attack{name: "cross/organizationId in another case", req: rs(hdr, set("organizationId", "ACME")), status: 403, code: app.CodeInvalidKeyOrTenant},
		attack{name: "cross/organization without keys", setup: func(f *fixture) {
			must(t, func() error { return f.svc.DeleteKey(context.Background(), app.Operator, "acme", f.partner.ID, f.kid) })
		}, req: rs(hdr, nil), status: 403, code: app.CodeInvalidKeyOrTenant},
		attack{name: "cross/partner limited to another tenant", setup: func(f *fixture) {
			f.setPolicies(app.PartnerPolicies{AllowedTenants: app.Val([]string{"t2"})})
		}, req: rs(hdr, nil), status: 403, code: app.CodeAccessDenied},
		attack{name: "cross/user bound to another tenant", setup: func(f *fixture) {
			if rec := f.signIn(f.token(f.claims())); rec.Code != 302 {
				t.Fatal(rec.Body)
			}
		}, req: rs(hdr, set("tenantId", "t2")), status: 400, code: app.CodeInvalidPayload},
		// Another organization's user with the same email is another user
		// (SPEC §1): it can neither block nor be probed by this sign-in.
		attack{name: "cross/same email in another organization", setup: func(f *fixture) {
			f.beta()
			if rec := f.signIn(signAlg(t, "RS256", keyB, hdr, f.claimsJSON(func(c map[string]any) {
				c["organizationId"], c["tenantId"] = "beta", "b1"
			}))); rec.Code != 302 {
				t.Fatal(rec.Body)
			}
		}, req: rs(hdr, nil), status: 302, location: "https://dash.example.test/t1", users: 1},
	)

	// ---- email tricks ----
	signedIn := func(f *fixture) {
		if rec := f.signIn(f.token(f.claims())); rec.Code != 302 {
			t.Fatal(rec.Body)
		}
	}
	add(
		attack{name: "email/upper case reaches the same user", setup: signedIn, req: rs(hdr, set("email", "ALICE@Example.COM")),
			status: 302, location: "https://dash.example.test/t1"},
		attack{name: "email/surrounding spaces reach the same user", setup: signedIn, req: rs(hdr, set("email", "  alice@example.com ")),
			status: 302, location: "https://dash.example.test/t1"},
		attack{name: "email/IDNA A-label allowed", req: rs(hdr, set("email", "alice@xn--bcher-kva.example")),
			status: 302, location: "https://dash.example.test/t1", users: 1},
	)
	for name, email := range map[string]string{
		"inner space": "ali ce@example.com", "space before @": "alice @example.com", "newline": "alice@example.com\n",
		"CR in domain": "alice@exa\rmple.com", "NUL": "alice\x00@example.com", "tab inside": "ali\tce@example.com",
		"DEL": "alice\x7f@example.com", "two @": "alice@evil.test@example.com", "double @": "alice@@example.com",
		"no local part": "@example.com", "no domain": "alice@", "no @": "alice.example.com",
		"Cyrillic a in local": "аlice@example.com", "Cyrillic a in domain": "alice@exаmple.com",
		"fullwidth @": "alice＠example.com", "zero-width space": "alice@ex\u200bample.com", "NBSP around": "\u00a0alice@example.com",
		"Unicode domain": "alice@bücher.example", "quoted local": `"alice"@example.com`, "angle brackets": "<alice@example.com>",
		"display name": "Alice <alice@example.com>", "IP literal": "alice@[127.0.0.1]", "double dot domain": "alice@example..com",
		"hyphen label": "alice@-example.com", "single label": "alice@localhost", "local of 65": strings.Repeat("a", 65) + "@example.com",
		"255 characters": strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 58) + ".com",
		"label of 64":    "alice@" + strings.Repeat("x", 64) + ".com", "bad punycode": "alice@xn--zz-.com", "backslash": `ali\ce@example.com`,
	} {
		add(payload400("email/"+name, set("email", email)))
	}

	// ---- deep links: refused ones fall back to the tenant's redirect_url ----
	const home = "https://dash.example.test/t1"
	for _, rt := range []string{
		"//evil.test/t1/", "/\\evil.test", "\\\\evil.test", "/t1/relative", "javascript:alert(1)", "JavaScript://dash.example.test/t1/%0aalert(1)",
		"data:text/html,<script>alert(1)</script>", "ftp://dash.example.test/t1/", "http://dash.example.test/t1/",
		"https://dash.example.test/t1/%2f%2fevil.test", "https://dash.example.test/t1/%2F..%2Fadmin", "https://dash.example.test/t1/%5cevil.test",
		"https://dash.example.test/t1/%2e%2e/admin", "https://dash.example.test/t1/../../admin", "https://dash.example.test/t1/./x",
		"https://dash.example.test/t1/\r\nSet-Cookie: x=1", "https://dash.example.test/t1/%0d%0aSet-Cookie:x=1", "https://dash.example.test/t1/\tx",
		"https://dash.example.test/t1/ x", "https://dash.example.test/t1/\x00", "https://dash.example.test/t1\\@evil.test/",
		"https://dash.example.test.evil.test/t1/", "https://dash.example.test@evil.test/t1/", "https://evil.test@dash.example.test/t1/",
		"https://evil.test/?https://dash.example.test/t1/", "https://evil.test/#https://dash.example.test/t1/", "https:/\\evil.test/t1/",
		"https://dash.example.test:443/t1/", "https://dash.example.test/t10/", "HTTPS://DASH.EXAMPLE.TEST/T1/",
		"https://dash.example.test/t1/" + strings.Repeat("a", 3000),
	} {
		rt := rt
		add(attack{name: fmt.Sprintf("deeplink/%q", rt), req: func(f *fixture) *http.Request {
			return formRequest(url.Values{"token": {f.token(f.claims())}, "return_to": {rt}}.Encode())
		}, status: 302, location: home, users: 1})
	}
	add(attack{name: "deeplink/an allowed deep link is followed", req: func(f *fixture) *http.Request {
		return formRequest(url.Values{"token": {f.token(f.claims())}, "return_to": {home + "/reports?id=7#top"}}.Encode())
	}, status: 302, location: home + "/reports?id=7#top", users: 1})

	// ---- transport ----
	method := func(m string) func(f *fixture) *http.Request {
		return func(f *fixture) *http.Request {
			r := tokenRequest(f.token(f.claims()))
			r.Method = m
			return r
		}
	}
	ctype := func(ct string) func(f *fixture) *http.Request {
		return func(f *fixture) *http.Request {
			r := tokenRequest(f.token(f.claims()))
			if ct == "" {
				r.Header.Del("Content-Type")
			} else {
				r.Header.Set("Content-Type", ct)
			}
			return r
		}
	}
	for _, m := range []string{"GET", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		add(attack{name: "transport/method " + m, req: method(m), status: 405, code: app.CodeMethodNotAllowed})
	}
	for _, ct := range []string{"", "application/json", "multipart/form-data; boundary=x", "text/plain", "application/x-www-form-urlencodedx", "text/html"} {
		add(attack{name: fmt.Sprintf("transport/content type %q", ct), req: ctype(ct), status: 415, code: app.CodeUnsupportedMediaType})
	}
	add(
		attack{name: "transport/oversize body with Content-Length", req: func(*fixture) *http.Request {
			return formRequest("token=" + strings.Repeat("a", 70000))
		}, status: 413, code: app.CodePayloadTooLarge},
		attack{name: "transport/oversize chunked body", req: func(*fixture) *http.Request {
			r := formRequest("token=" + strings.Repeat("a", 70000))
			r.ContentLength = -1
			return r
		}, status: 413, code: app.CodePayloadTooLarge},
		attack{name: "transport/token twice", req: func(f *fixture) *http.Request {
			return formRequest(url.Values{"token": {f.token(f.claims()), "x"}}.Encode())
		}, status: 400, code: app.CodeInvalidPayload},
		attack{name: "transport/token in the query string only", req: func(f *fixture) *http.Request {
			r := formRequest("")
			r.URL.RawQuery = url.Values{"token": {f.token(f.claims())}}.Encode()
			return r
		}, status: 400, code: app.CodeInvalidPayload},
		attack{name: "transport/malformed form encoding", req: func(*fixture) *http.Request { return formRequest("token=%zz") },
			status: 400, code: app.CodeInvalidPayload},
		attack{name: "transport/planted session cookie is not a sign-in", req: func(f *fixture) *http.Request {
			r := formRequest("")
			r.AddCookie(&http.Cookie{Name: f.srv.CookieName(), Value: strings.Repeat("A", 54)})
			return r
		}, status: 400, code: app.CodeInvalidPayload},
	)

	// ---- HMAC ----
	add(hmacCases(t)...)

	// ---- order of checks (the first failing step decides) ----
	add(
		bad("order/bad signature beats expiry", signB(func(*fixture) string { return hdr })),
		attack{name: "order/claims beat expiry", req: rs(hdr, func(c map[string]any) { c["exp"], c["role"] = at(-time.Hour), "root" }),
			status: 400, code: app.CodeInvalidPayload},
		attack{name: "order/expiry beats unknown tenant", req: rs(hdr, func(c map[string]any) { c["exp"], c["tenantId"] = at(-time.Hour), "t9" }),
			status: 401, code: app.CodeExpiredToken},
		attack{name: "order/unknown organization beats a bad signature", req: tok(func(f *fixture) string {
			return signAlg(t, "RS256", keyB, hdr, f.claimsJSON(set("organizationId", "nobody")))
		}), status: 403, code: app.CodeInvalidKeyOrTenant},
		attack{name: "order/alg beats unknown organization", req: tok(func(f *fixture) string {
			return signAlg(t, "HS256", []byte("k"), `{"alg":"HS256"}`, f.claimsJSON(set("organizationId", "nobody")))
		}), status: 401, code: app.CodeInvalidToken},
		attack{name: "order/tenant beats partner policy", setup: func(f *fixture) {
			f.setPolicies(app.PartnerPolicies{UserProvisioning: app.Val("disabled")})
		}, req: rs(hdr, set("tenantId", "t9")), status: 403, code: app.CodeInvalidKeyOrTenant},
		attack{name: "order/deactivated partner", setup: func(f *fixture) {
			must(t, func() error {
				_, err := f.svc.DeactivatePartner(context.Background(), app.Operator, "acme", f.partner.ID)
				return err
			})
		}, req: rs(hdr, nil), status: 403, code: app.CodeAccessDenied},
		attack{name: "order/origin outside allowed_origins", setup: func(f *fixture) {
			f.setPolicies(app.PartnerPolicies{AllowedOrigins: app.Val([]string{"https://portal.example.test"})})
		}, req: func(f *fixture) *http.Request {
			r := tokenRequest(f.token(f.claims()))
			r.Header.Set("Origin", "https://portal.example.test.evil.test")
			return r
		}, status: 403, code: app.CodeAccessDenied},
	)
	return cases
}

// hmacCases are the HMAC token endpoint's attacks (SPEC §4.3).
func hmacCases(t *testing.T) []attack {
	const nonce = "nonce-0123456789abcdef"
	sigFor := func(f *fixture, secret, ts, ck string, body []byte) string { return app.SignHMAC(secret, ts, ck, body) }
	// h builds a request from pieces the case may alter.
	type parts struct {
		ck, ts, secret, sig string
		body                []byte
	}
	h := func(alter func(f *fixture, p *parts)) func(f *fixture) *http.Request {
		return func(f *fixture) *http.Request {
			p := parts{ck: f.partner.ConsumerKey, ts: f.now3339(), secret: f.partner.ConsumerSecret, body: hmacBody(t, nonce, nil)}
			alter(f, &p)
			if p.sig == "" {
				p.sig = sigFor(f, p.secret, p.ts, p.ck, p.body)
			}
			return hmacRequest(p.ck, p.ts, p.sig, p.body)
		}
	}
	sig401 := func(name string, alter func(f *fixture, p *parts)) attack {
		return attack{name: "hmac/" + name, req: h(alter), status: 401, code: app.CodeInvalidPartnerSignature}
	}
	valid400 := func(name string, alter func(f *fixture, p *parts)) attack {
		return attack{name: "hmac/" + name, req: h(alter), status: 400, code: app.CodeValidation}
	}
	withBody := func(mut func(map[string]any)) func(f *fixture, p *parts) {
		return func(f *fixture, p *parts) { p.body = hmacBody(t, nonce, mut) }
	}
	good := func(f *fixture, p *parts) string { return sigFor(f, p.secret, p.ts, p.ck, p.body) }
	return []attack{
		sig401("unknown consumer key", func(f *fixture, p *parts) { p.ck = "ck_unknown0000000000000000" }),
		sig401("unknown key signed with the real secret", func(f *fixture, p *parts) { p.ck = "ck_" + strings.Repeat("0", 24) }),
		sig401("wrong secret", func(f *fixture, p *parts) { p.secret = "cs_wrong" }),
		sig401("secret without its cs_ prefix", func(f *fixture, p *parts) { p.secret = strings.TrimPrefix(p.secret, "cs_") }),
		sig401("uppercase hex", func(f *fixture, p *parts) { p.sig = strings.ToUpper(good(f, p)) }),
		sig401("base64 instead of hex", func(f *fixture, p *parts) {
			raw, _ := hex.DecodeString(good(f, p))
			p.sig = base64.StdEncoding.EncodeToString(raw)
		}),
		sig401("base64url instead of hex", func(f *fixture, p *parts) {
			raw, _ := hex.DecodeString(good(f, p))
			p.sig = base64.RawURLEncoding.EncodeToString(raw)
		}),
		sig401("truncated MAC", func(f *fixture, p *parts) { p.sig = good(f, p)[:32] }),
		sig401("MAC of one byte", func(f *fixture, p *parts) { p.sig = good(f, p)[:2] }),
		sig401("MAC with an extra character", func(f *fixture, p *parts) { p.sig = good(f, p) + "0" }),
		sig401("sha256= prefix", func(f *fixture, p *parts) { p.sig = "sha256=" + good(f, p) }),
		sig401("MAC without separators", func(f *fixture, p *parts) {
			p.sig = app.SignHMAC(p.secret, "", "", append([]byte(p.ts+p.ck), p.body...))
		}),
		sig401("body altered after signing", func(f *fixture, p *parts) {
			p.sig = good(f, p)
			p.body = []byte(strings.Replace(string(p.body), `"admin"`, `"readOnly"`, 1))
		}),
		sig401("body whitespace added after signing", func(f *fixture, p *parts) {
			p.sig = good(f, p)
			p.body = append(p.body, ' ')
		}),
		sig401("timestamp altered after signing", func(f *fixture, p *parts) {
			p.sig = good(f, p)
			p.ts = f.clock.Now().Add(time.Second).UTC().Format(time.RFC3339)
		}),
		sig401("consumer key in upper case", func(f *fixture, p *parts) { p.ck = strings.ToUpper(p.ck) }),
		{name: "hmac/stale timestamp", req: h(func(f *fixture, p *parts) {
			p.ts = f.clock.Now().Add(-301 * time.Second).UTC().Format(time.RFC3339)
		}), status: 401, code: app.CodeSignatureExpired},
		{name: "hmac/future timestamp", req: h(func(f *fixture, p *parts) {
			p.ts = f.clock.Now().Add(301 * time.Second).UTC().Format(time.RFC3339)
		}), status: 401, code: app.CodeSignatureExpired},
		{name: "hmac/year-old timestamp", req: h(func(f *fixture, p *parts) { p.ts = "2025-11-22T10:00:00Z" }),
			status: 401, code: app.CodeSignatureExpired},
		{name: "hmac/timestamp in year 9999", req: h(func(f *fixture, p *parts) { p.ts = "9999-12-31T23:59:59Z" }),
			status: 401, code: app.CodeSignatureExpired},
		{name: "hmac/timestamp in year 1", req: h(func(f *fixture, p *parts) { p.ts = "0001-01-01T00:00:00Z" }),
			status: 401, code: app.CodeSignatureExpired},
		{name: "hmac/timestamp centuries ahead with an offset", req: h(func(f *fixture, p *parts) { p.ts = "9999-12-31T23:59:59.999999999-23:59" }),
			status: 401, code: app.CodeSignatureExpired},
		valid400("comma fraction", func(f *fixture, p *parts) { p.ts = f.clock.Now().UTC().Format("2006-01-02T15:04:05") + ",5Z" }),
		valid400("offset +24:00", func(f *fixture, p *parts) { p.ts = f.clock.Now().UTC().Format("2006-01-02T15:04:05") + "+24:00" }),
		valid400("one-digit hour", func(f *fixture, p *parts) {
			p.ts = f.clock.Now().UTC().Format("2006-01-02T") + "1" + f.clock.Now().UTC().Format(":04:05Z")
		}),
		valid400("no offset", func(f *fixture, p *parts) { p.ts = f.clock.Now().UTC().Format("2006-01-02T15:04:05") }),
		valid400("ten fraction digits", func(f *fixture, p *parts) { p.ts = f.clock.Now().UTC().Format("2006-01-02T15:04:05") + ".0000000000Z" }),
		valid400("31 November", func(f *fixture, p *parts) { p.ts = "2026-11-31T10:00:00Z" }),
		{name: "hmac/lower-case t and z accepted as the grammar allows", req: h(func(f *fixture, p *parts) {
			p.ts = strings.ToLower(f.clock.Now().UTC().Format("2006-01-02T15:04:05.123Z"))
		}), status: 200},
		valid400("unix timestamp", func(f *fixture, p *parts) { p.ts = fmt.Sprint(f.clock.Now().Unix()) }),
		valid400("timestamp with a space", func(f *fixture, p *parts) { p.ts = "2026-11-22 10:00:00Z" }),
		valid400("missing consumer key", func(f *fixture, p *parts) { p.ck = "" }),
		valid400("blank signature", func(f *fixture, p *parts) { p.sig = "   " }),
		valid400("duplicate role in a signed body", func(f *fixture, p *parts) {
			p.body = []byte(`{"tenantId":"t1","email":"alice@example.com","role":"readOnly","role":"admin","nonce":"` + nonce + `"}`)
		}),
		valid400("short nonce", withBody(func(b map[string]any) { b["nonce"] = "short" })),
		valid400("nonce with a slash", withBody(func(b map[string]any) { b["nonce"] = "nonce/0123456789abcdef" })),
		valid400("email with two @", withBody(func(b map[string]any) { b["email"] = "alice@evil.test@example.com" })),
		valid400("role Admin", withBody(func(b map[string]any) { b["role"] = "Admin" })),
		valid400("body not an object", func(f *fixture, p *parts) { p.body = []byte(`["x"]`) }),
		{name: "hmac/replayed nonce", setup: func(f *fixture) {
			if rec := f.do(f.signedHMAC(nonce, nil)); rec.Code != 200 {
				t.Fatalf("first use: %d %s", rec.Code, rec.Body)
			}
		}, req: h(func(*fixture, *parts) {}), status: 401, code: app.CodeReplayedRequest},
		{name: "hmac/replayed nonce with a new timestamp", setup: func(f *fixture) {
			if rec := f.do(f.signedHMAC(nonce, nil)); rec.Code != 200 {
				t.Fatalf("first use: %d %s", rec.Code, rec.Body)
			}
		}, req: h(func(f *fixture, p *parts) { p.ts = f.clock.Now().Add(30 * time.Second).UTC().Format(time.RFC3339) }),
			status: 401, code: app.CodeReplayedRequest},
		{name: "hmac/spoofed X-Forwarded-For from an untrusted peer", setup: func(f *fixture) {
			f.setPolicies(app.PartnerPolicies{AllowedSourceIPs: app.Val([]string{"203.0.113.7"})})
		}, req: func(f *fixture) *http.Request {
			r := f.signedHMAC(nonce, nil)
			r.Header.Set("X-Forwarded-For", "203.0.113.7")
			r.Header.Set("X-Real-IP", "203.0.113.7")
			return r
		}, status: 403, code: app.CodeSourceIPNotAllowed},
		{name: "hmac/deactivated partner", setup: func(f *fixture) {
			must(t, func() error {
				_, err := f.svc.DeactivatePartner(context.Background(), app.Operator, "acme", f.partner.ID)
				return err
			})
		}, req: h(func(*fixture, *parts) {}), status: 403, code: app.CodePartnerInactive},
		{name: "hmac/tenant of another organization", setup: func(f *fixture) { f.beta() },
			req: h(withBody(func(b map[string]any) { b["tenantId"] = "b1" })), status: 403, code: app.CodeTenantNotAllowed},
		{name: "hmac/content type text/plain", req: func(f *fixture) *http.Request {
			r := f.signedHMAC(nonce, nil)
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, status: 400, code: app.CodeValidation},
		{name: "hmac/GET", req: func(f *fixture) *http.Request {
			r := f.signedHMAC(nonce, nil)
			r.Method = http.MethodGet
			return r
		}, status: 405, code: app.CodeMethodNotAllowed},
		{name: "hmac/login with an unknown token", req: func(*fixture) *http.Request {
			return httptest.NewRequest(http.MethodGet, "/sso/hmac/login?token=lt_"+strings.Repeat("x", 43), nil)
		}, status: 401, code: app.CodeInvalidLoginToken},
		{name: "hmac/login with a used token", setup: func(f *fixture) {}, req: func(f *fixture) *http.Request {
			lt := issueLoginToken(t, f, nonce)
			if rec := f.do(httptest.NewRequest(http.MethodGet, "/sso/hmac/login?token="+url.QueryEscape(lt), nil)); rec.Code != 302 {
				t.Fatalf("first login: %d %s", rec.Code, rec.Body)
			}
			return httptest.NewRequest(http.MethodGet, "/sso/hmac/login?token="+url.QueryEscape(lt), nil)
		}, status: 401, code: app.CodeInvalidLoginToken},
		{name: "hmac/login with an expired token", req: func(f *fixture) *http.Request {
			lt := issueLoginToken(t, f, nonce)
			f.clock.Advance(61 * time.Second)
			return httptest.NewRequest(http.MethodGet, "/sso/hmac/login?token="+url.QueryEscape(lt), nil)
		}, status: 401, code: app.CodeInvalidLoginToken},
		{name: "login/foreign Origin with allowed_origins set", req: func(f *fixture) *http.Request {
			f.setPolicies(app.PartnerPolicies{AllowedOrigins: app.Val([]string{"https://portal.example.test"})})
			r := httptest.NewRequest(http.MethodGet, "/sso/hmac/login?token="+url.QueryEscape(issueLoginToken(t, f, nonce)), nil)
			r.Header.Set("Origin", "https://portal.example.test.evil.example")
			return r
		}, status: 403, code: app.CodeOriginNotAllowed},
		{name: "login/role narrowed after step 1", req: func(f *fixture) *http.Request {
			lt := issueLoginToken(t, f, nonce)
			f.setPolicies(app.PartnerPolicies{AllowedRoles: app.Val([]string{"readOnly"})})
			return httptest.NewRequest(http.MethodGet, "/sso/hmac/login?token="+url.QueryEscape(lt), nil)
		}, status: 403, code: app.CodeRoleNotAllowed},
		{name: "login/email domain narrowed after step 1", req: func(f *fixture) *http.Request {
			lt := issueLoginToken(t, f, nonce)
			f.setPolicies(app.PartnerPolicies{AllowedEmailDomains: app.Val([]string{"other.example"})})
			return httptest.NewRequest(http.MethodGet, "/sso/hmac/login?token="+url.QueryEscape(lt), nil)
		}, status: 403, code: app.CodeEmailDomainNotAllowed},
		{name: "login/tenant removed from allowed_tenants after step 1", req: func(f *fixture) *http.Request {
			lt := issueLoginToken(t, f, nonce)
			f.setPolicies(app.PartnerPolicies{AllowedTenants: app.Val([]string{})})
			return httptest.NewRequest(http.MethodGet, "/sso/hmac/login?token="+url.QueryEscape(lt), nil)
		}, status: 403, code: app.CodeTenantNotAllowed},
		{name: "login/token in a JSON body", req: func(f *fixture) *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/sso/hmac/login", strings.NewReader(`{"token":"`+issueLoginToken(t, f, nonce)+`"}`))
			r.Header.Set("Content-Type", "application/json")
			return r
		}, status: 401, code: app.CodeInvalidLoginToken},
		{name: "login/token given twice", req: func(f *fixture) *http.Request {
			lt := url.QueryEscape(issueLoginToken(t, f, nonce))
			return httptest.NewRequest(http.MethodGet, "/sso/hmac/login?token="+lt+"&token="+lt, nil)
		}, status: 401, code: app.CodeInvalidLoginToken},
		{name: "hmac/step 1 tenant refused before provisioning", setup: func(f *fixture) {
			f.setPolicies(app.PartnerPolicies{AllowedTenants: app.Val([]string{}), UserProvisioning: app.Val(app.ProvisioningDisabled)})
		}, req: h(func(*fixture, *parts) {}), status: 403, code: app.CodeTenantNotAllowed},
		{name: "hmac/login after the partner was deactivated", req: func(f *fixture) *http.Request {
			lt := issueLoginToken(t, f, nonce)
			must(t, func() error {
				_, err := f.svc.DeactivatePartner(context.Background(), app.Operator, "acme", f.partner.ID)
				return err
			})
			return httptest.NewRequest(http.MethodGet, "/sso/hmac/login?token="+url.QueryEscape(lt), nil)
		}, status: 403, code: app.CodePartnerInactive},
	}
}

func issueLoginToken(t testing.TB, f *fixture, nonce string) string {
	rec := f.do(f.signedHMAC(nonce, nil))
	if rec.Code != 200 {
		t.Fatalf("hmac token: %d %s", rec.Code, rec.Body)
	}
	var out struct{ Token string }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Token == "" {
		t.Fatalf("hmac token body %s", rec.Body)
	}
	return out.Token
}

// TestAttackReplayParallel: 20 concurrent uses of one token, exactly one wins.
func TestAttackReplayParallel(t *testing.T) {
	for _, store := range []string{"memory"} {
		t.Run(store, func(t *testing.T) {
			f := newFixture(t)
			c := f.claims()
			c["jti"] = "parallel-1"
			tok := f.token(c)
			statuses := parallel(20, func() int { return f.signIn(tok).Code })
			if statuses[302] != 1 || statuses[401] != 19 {
				t.Fatalf("want one 302 and nineteen 401: %v", statuses)
			}
			if got := f.counts(); got != (counts{1, 1}) {
				t.Fatalf("counts %+v", got)
			}
		})
	}
	t.Run("hmac nonce", func(t *testing.T) {
		f := newFixture(t)
		body := hmacBody(t, "parallel-nonce-0123456789", nil)
		ts := f.now3339()
		sig := app.SignHMAC(f.partner.ConsumerSecret, ts, f.partner.ConsumerKey, body)
		statuses := parallel(20, func() int { return f.do(hmacRequest(f.partner.ConsumerKey, ts, sig, body)).Code })
		if statuses[200] != 1 || statuses[401] != 19 {
			t.Fatalf("want one 200 and nineteen 401: %v", statuses)
		}
	})
	t.Run("hmac login token", func(t *testing.T) {
		f := newFixture(t)
		lt := issueLoginToken(t, f, "login-race-0123456789")
		statuses := parallel(20, func() int {
			return f.do(httptest.NewRequest(http.MethodGet, "/sso/hmac/login?token="+url.QueryEscape(lt), nil)).Code
		})
		if statuses[302] != 1 || statuses[401] != 19 {
			t.Fatalf("want one 302 and nineteen 401: %v", statuses)
		}
		if got := f.counts(); got.sessions != 1 {
			t.Fatalf("sessions %d", got.sessions)
		}
	})
}

func parallel(n int, fn func() int) map[int]int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	out := map[int]int{}
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			code := fn()
			mu.Lock()
			out[code]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// TestHMACUnknownKeyLooksLikeBadSignature: an unknown consumer key and a
// wrong signature for a known one get byte-identical answers (but for the
// request id), so the endpoint is no oracle for which keys exist.
func TestHMACUnknownKeyLooksLikeBadSignature(t *testing.T) {
	f := newFixture(t)
	body := hmacBody(t, "oracle-nonce-0123456789", nil)
	ts := f.now3339()
	answer := func(ck, secret string) (int, string, http.Header) {
		rec := f.do(hmacRequest(ck, ts, app.SignHMAC(secret, ts, ck, body), body))
		var e map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		delete(e, "request_id")
		b, _ := json.Marshal(e)
		h := rec.Header().Clone()
		h.Del("X-Request-Id")
		return rec.Code, string(b), h
	}
	s1, b1, h1 := answer("ck_doesnotexist00000000000", f.partner.ConsumerSecret)
	s2, b2, h2 := answer(f.partner.ConsumerKey, "cs_wrong-secret")
	s3, b3, _ := answer("", "x")
	if s1 != s2 || b1 != b2 {
		t.Fatalf("unknown key (%d %s) and bad signature (%d %s) differ", s1, b1, s2, b2)
	}
	if fmt.Sprint(h1) != fmt.Sprint(h2) {
		t.Errorf("headers differ:\n%v\n%v", h1, h2)
	}
	if s1 != 401 || !strings.Contains(b1, app.CodeInvalidPartnerSignature) {
		t.Fatalf("%d %s", s1, b1)
	}
	if s3 != 400 || !strings.Contains(b3, app.CodeValidation) {
		t.Fatalf("missing key: %d %s", s3, b3)
	}
}

// TestHMACNonceNotBurnedByRefusals: a nonce is recorded only after the
// checks before it passed, so forged requests cannot burn a partner's nonce.
func TestHMACNonceNotBurnedByRefusals(t *testing.T) {
	f := newFixture(t)
	const nonce = "burn-nonce-0123456789"
	body := hmacBody(t, nonce, nil)
	ts := f.now3339()
	stale := f.clock.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	for _, r := range []*http.Request{
		hmacRequest(f.partner.ConsumerKey, ts, strings.Repeat("0", 64), body),
		hmacRequest(f.partner.ConsumerKey, stale, app.SignHMAC(f.partner.ConsumerSecret, stale, f.partner.ConsumerKey, body), body),
	} {
		if rec := f.do(r); rec.Code != 401 {
			t.Fatalf("forgery accepted: %d", rec.Code)
		}
	}
	if rec := f.do(hmacRequest(f.partner.ConsumerKey, ts, app.SignHMAC(f.partner.ConsumerSecret, ts, f.partner.ConsumerKey, body), body)); rec.Code != 200 {
		t.Fatalf("the genuine request after forgeries: %d %s", rec.Code, rec.Body)
	}
}

// TestHMACTrustedProxyHonoured: with the peer in trusted_proxies, the client
// address comes from X-Forwarded-For, and allowed_source_ips applies to it.
func TestHMACTrustedProxyHonoured(t *testing.T) {
	f := newFixture(t, func(c *app.Config) { c.Server.TrustedProxies = []string{"192.0.2.0/24"} })
	f.setPolicies(app.PartnerPolicies{AllowedSourceIPs: app.Val([]string{"203.0.113.7"})})
	r := f.signedHMAC("proxy-nonce-0123456789", nil)
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	if rec := f.do(r); rec.Code != 200 {
		t.Fatalf("trusted proxy: %d %s", rec.Code, rec.Body)
	}
	r = f.signedHMAC("proxy-nonce-abcdefghij", nil)
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	if rec := f.do(r); rec.Code != 403 {
		t.Fatalf("other client behind the proxy: %d %s", rec.Code, rec.Body)
	}
}

// TestAttackJWKS: a jwks_url is an address Gatehouse fetches by itself, so
// every way of abusing that fetch is refused with validation_error naming
// jwks_url and nothing written (SPEC §4.7): redirects, oversize sets, slow
// servers (the real 5 s deadline), plain http without the allow flag, user
// info in the URL, and sets that try to take over another partner's key.
func TestAttackJWKS(t *testing.T) {
	c, _ := moreKeys(t)
	refused := func(t *testing.T, f *jwksFixture, url, want string) {
		t.Helper()
		before := f.partnerCount(t)
		code, res := f.admin(t, "POST", "/api/v1/orgs/acme/partners", fmt.Sprintf(`{"name":"Attacker","jwks_url":%q}`, url))
		msg, _ := res["message"].(string)
		if code != 400 || res["code"] != app.CodeValidation || !strings.HasPrefix(msg, "jwks_url: ") || !strings.Contains(msg, want) {
			t.Fatalf("POST jwks_url %s: %d %v, want validation_error with %q", url, code, res, want)
		}
		code, res = f.admin(t, "PATCH", "/api/v1/orgs/acme/partners/"+f.partner.ID, fmt.Sprintf(`{"jwks_url":%q}`, url))
		if msg, _ := res["message"].(string); code != 400 || !strings.Contains(msg, want) {
			t.Fatalf("PATCH jwks_url %s: %d %v", url, code, res)
		}
		if f.partnerCount(t) != before {
			t.Fatal("a refused jwks_url wrote a partner")
		}
		if ks := f.partnerKeys(t, f.partner.ID); len(ks) != 1 || ks[f.kid]["source"] != "pem" {
			t.Fatalf("a refused PATCH changed the partner's keys: %v", ks)
		}
	}

	t.Run("redirect", func(t *testing.T) {
		t.Parallel()
		f := newJWKSFixture(t, memory.New())
		var followed atomic.Bool
		f.js.answer(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/real" {
				followed.Store(true)
				w.Write([]byte(`{"keys":[]}`))
				return
			}
			http.Redirect(w, r, "/real", http.StatusFound)
		})
		refused(t, f, f.js.URL(), "redirects are not followed")
		if followed.Load() {
			t.Fatal("the redirect was followed")
		}
		// A server that starts redirecting after registration: the refresh
		// fails and the last good set stays.
		f.js.serve(jwkOf("c-1", &c.PublicKey))
		id := f.createJWKSPartner(t, "IdP")
		f.js.answer(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://attacker.example/jwks.json", http.StatusMovedPermanently)
		})
		f.clock.Advance(f.svc.Config().SSO.JWKSRefresh)
		f.svc.RefreshDueJWKS(context.Background())
		f.wantSignIn(t, "last good set after a redirecting refresh", f.kidToken(c, "c-1"), 302, "")
		_, p := f.admin(t, "GET", "/api/v1/orgs/acme/partners/"+id, "")
		if !strings.Contains(fmt.Sprint(p["jwks_last_error"]), "redirect") {
			t.Errorf("refresh error = %v", p["jwks_last_error"])
		}
	})

	t.Run("oversize set", func(t *testing.T) {
		t.Parallel()
		f := newJWKSFixture(t, memory.New())
		set, _ := json.Marshal(map[string]any{"keys": []any{jwkOf("c-1", &c.PublicKey)}})
		huge := append(set, []byte(strings.Repeat(" ", jwks.MaxBytes))...) // valid JSON, one set over the cap
		f.js.answer(func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush() // chunked: no Content-Length to trust
			w.Write(huge)
		})
		refused(t, f, f.js.URL(), "larger than 256 KiB")
	})

	t.Run("slow server", func(t *testing.T) {
		t.Parallel()
		f := newJWKSFixture(t, memory.New()) // the real default deadline: 5 s
		release := make(chan struct{})
		defer close(release)
		f.js.answer(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		started := time.Now()
		before := f.partnerCount(t)
		code, res := f.admin(t, "POST", "/api/v1/orgs/acme/partners", fmt.Sprintf(`{"name":"Slow","jwks_url":%q}`, f.js.URL()))
		if code != 400 || !strings.Contains(res["message"].(string), "no complete answer within 5s") {
			t.Fatalf("slow server: %d %v", code, res)
		}
		if f.partnerCount(t) != before {
			t.Fatal("a timed-out registration wrote a partner")
		}
		t.Logf("refused after %v", time.Since(started).Round(100*time.Millisecond))
	})

	t.Run("http without allow_insecure_jwks", func(t *testing.T) {
		t.Parallel()
		f := newJWKSFixture(t, memory.New())
		plain := newJWKSServer(t, false)
		plain.serve(jwkOf("c-1", &c.PublicKey))
		refused(t, f, plain.URL(), "must be https://")
		refused(t, f, strings.Replace(f.js.URL(), "https://", "http://", 1), "must be https://")
		if plain.hits.Load() != 0 {
			t.Fatal("the http URL was fetched")
		}
	})

	t.Run("user info", func(t *testing.T) {
		t.Parallel()
		f := newJWKSFixture(t, memory.New(), func(c *app.Config) { c.SSO.AllowInsecureJWKS = true })
		plain := newJWKSServer(t, false)
		plain.serve(jwkOf("c-1", &c.PublicKey))
		for _, u := range []string{
			strings.Replace(f.js.URL(), "https://", "https://admin:hunter2@", 1),
			strings.Replace(plain.URL(), "http://", "http://admin@", 1),
		} {
			refused(t, f, u, "user info")
		}
		if f.js.hits.Load()+plain.hits.Load() != 0 {
			t.Fatal("a URL with user info was fetched")
		}
		if strings.Contains(f.logs.String(), "hunter2") {
			t.Fatal("the password of a refused URL reached the log")
		}
	})

	t.Run("kid and thumbprint of another partner", func(t *testing.T) {
		t.Parallel()
		f := newJWKSFixture(t, memory.New())
		victim, attacker := keys(t)
		// The attacker publishes the victim's public key under a kid of its
		// own, its own key under the victim's kid, and one key of its own.
		f.js.serve(jwkOf("mine", &c.PublicKey), jwkOf("stolen", &victim.PublicKey), jwkOf(f.kid, &attacker.PublicKey))
		id := f.createJWKSPartner(t, "Attacker")
		if ks := f.partnerKeys(t, id); len(ks) != 1 || ks["mine"] == nil {
			t.Fatalf("attacker's keys = %v, want only its own", ks)
		}
		f.clock.Advance(f.svc.Config().SSO.JWKSMinInterval)
		// The attacker's key under the victim's kid signs nobody in.
		f.wantSignIn(t, "attacker key, victim kid", f.kidToken(attacker, f.kid), 401, app.CodeInvalidToken)
		// A victim-signed token under the attacker's kid is no key at all
		// (the unknown kid's fetch still ignores the stolen key).
		f.wantSignIn(t, "victim key, attacker kid", f.kidToken(victim, "stolen"), 401, app.CodeInvalidToken)
		// The victim's key keeps signing the victim's users in, under the victim's policies.
		f.wantSignIn(t, "victim key, victim kid", f.kidToken(victim, f.kid), 302, "")
		users, _, _ := f.store.ListUsers(context.Background(), storage.UserQuery{OrgID: "acme"})
		if len(users) != 1 || users[0].PartnerID != f.partner.ID {
			t.Fatalf("users = %+v, want one user of the victim partner", users)
		}
		// Nor can the attacker take the kid later, at a refresh.
		f.js.serve(jwkOf(f.kid, &c.PublicKey))
		f.clock.Advance(f.svc.Config().SSO.JWKSRefresh)
		f.svc.RefreshDueJWKS(context.Background())
		k, err := f.store.GetKey(context.Background(), "acme", f.kid)
		if err != nil || k.PartnerID != f.partner.ID || k.Source != storage.KeySourcePEM {
			t.Fatalf("victim's key after the attacker's refresh: %+v %v", k, err)
		}
	})
}

// boundaryAttack is a hostile request against the session routes: the
// exact status, and for an error with a body its code.
type boundaryAttack struct {
	name   string
	req    func(f *fixture, acme, beta string) *http.Request
	status int
	code   string // "" for a bare 401/403 (forward-auth answers proxies with a status only)
}

// TestAttackSessionBoundaries grows the attack suite with issue 10's
// classes: another organization's user of a same-named tenant through
// forward-auth, proxy parameter typos and smuggling, cross-site sign-out,
// and probing for metrics on the public listener. Each case also checks
// that no identity header leaks on a refusal and that both sessions live on.
func TestAttackSessionBoundaries(t *testing.T) {
	verify := func(q string) func(*fixture, string, string) *http.Request {
		return func(f *fixture, _, beta string) *http.Request {
			req := httptest.NewRequest(http.MethodGet, "/auth/verify"+q, nil)
			req.AddCookie(&http.Cookie{Name: f.srv.CookieName(), Value: beta})
			return req
		}
	}
	logout := func(origins ...string) func(*fixture, string, string) *http.Request {
		return func(f *fixture, acme, _ string) *http.Request {
			req := httptest.NewRequest(http.MethodPost, "/logout", nil)
			req.AddCookie(&http.Cookie{Name: f.srv.CookieName(), Value: acme})
			req.Header["Origin"] = origins
			return req
		}
	}
	probe := func(method, target string) func(*fixture, string, string) *http.Request {
		return func(f *fixture, acme, _ string) *http.Request {
			req := httptest.NewRequest(method, target, nil)
			req.AddCookie(&http.Cookie{Name: f.srv.CookieName(), Value: acme})
			req.Header.Set("Accept", "text/plain;version=0.0.4")
			return req
		}
	}
	cases := []boundaryAttack{
		{"crossorg/tenant alone", verify("?tenant=t1"), 400, app.CodeInvalidRequest},
		{"crossorg/tenant alone as admin", verify("?tenant=t1&role=admin"), 400, app.CodeInvalidRequest},
		{"crossorg/acme's t1", verify("?org=acme&tenant=t1"), 403, ""},
		{"crossorg/acme's t1 admin", verify("?org=acme&tenant=t1&role=admin"), 403, ""},
		{"crossorg/acme only", verify("?org=acme"), 403, ""},
		{"crossorg/org case", verify("?org=ACME&tenant=t1"), 403, ""},
		{"crossorg/org with space", verify("?org=acme%20&tenant=t1"), 403, ""},
		{"typo/tennant", verify("?org=acme&tennant=t1"), 400, app.CodeInvalidRequest},
		{"typo/orgs", verify("?orgs=acme&tenant=t1"), 400, app.CodeInvalidRequest},
		{"typo/Tenant", verify("?org=acme&Tenant=t1"), 400, app.CodeInvalidRequest},
		{"typo/tenant_id", verify("?org=acme&tenant_id=t1"), 400, app.CodeInvalidRequest},
		{"typo/empty org", verify("?org=&tenant=t1"), 400, app.CodeInvalidRequest},
		{"typo/bare org", verify("?org&tenant=t1"), 400, app.CodeInvalidRequest},
		{"typo/role typo", verify("?org=acme&tenant=t1&role=admn"), 400, app.CodeInvalidRequest},
		{"smuggle/second org", verify("?org=acme&org=beta&tenant=t1"), 400, app.CodeInvalidRequest},
		{"smuggle/second tenant", verify("?org=beta&tenant=t2&tenant=t1"), 400, app.CodeInvalidRequest},
		{"smuggle/semicolon", verify("?org=acme&tenant=t1;org=beta"), 400, app.CodeInvalidRequest},
		{"smuggle/bad escape", verify("?org=acme&tenant=t1%"), 400, app.CodeInvalidRequest},
		{"smuggle/empty key", verify("?=beta&org=acme&tenant=t1"), 400, app.CodeInvalidRequest},
		{"smuggle/aud with space", verify("?org=beta&tenant=t1&aud=a%20b"), 400, app.CodeInvalidRequest},
		{"smuggle/aud empty", verify("?org=beta&tenant=t1&aud="), 400, app.CodeInvalidRequest},
		{"logout/evil origin", logout("https://evil.example"), 403, app.CodeAccessDenied},
		{"logout/sibling host", logout("https://dash.example.test"), 403, app.CodeAccessDenied},
		{"logout/plain http", logout("http://sso.example.test"), 403, app.CodeAccessDenied},
		{"logout/other port", logout("https://sso.example.test:444"), 403, app.CodeAccessDenied},
		{"logout/suffix host", logout("https://sso.example.test.evil.example"), 403, app.CodeAccessDenied},
		{"logout/null", logout("null"), 403, app.CodeAccessDenied},
		{"logout/empty", logout(""), 403, app.CodeAccessDenied},
		{"logout/trailing slash", logout("https://sso.example.test/"), 403, app.CodeAccessDenied},
		{"logout/two origins", logout("https://sso.example.test", "https://evil.example"), 403, app.CodeAccessDenied},
		{"metrics/GET", probe("GET", "/metrics"), 404, app.CodeNotFound},
		{"metrics/HEAD", probe("HEAD", "/metrics"), 404, ""},
		{"metrics/POST", probe("POST", "/metrics"), 404, app.CodeNotFound},
		{"metrics/slash", probe("GET", "/metrics/"), 404, app.CodeNotFound},
		{"metrics/upper", probe("GET", "/METRICS"), 404, app.CodeNotFound},
		{"metrics/double slash", probe("GET", "//metrics"), 404, app.CodeNotFound},
		{"metrics/dot segment", probe("GET", "/./metrics"), 404, app.CodeNotFound},
		{"metrics/dot dot", probe("GET", "/sso/../metrics"), 404, app.CodeNotFound},
		{"metrics/encoded", probe("GET", "/%6detrics"), 404, app.CodeNotFound},
		{"metrics/query", probe("GET", "/metrics?name[]=gatehouse_users"), 404, app.CodeNotFound},
		{"metrics/admin path", probe("GET", "/api/v1/metrics"), 404, app.CodeNotFound},
		{"metrics/debug", probe("GET", "/debug/vars"), 404, app.CodeNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			acme := f.signInCookie(t, f.claims(), "")
			beta := f.betaT1Cookie(t)
			rec := f.do(c.req(f, acme, beta))
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d: %.300s", rec.Code, c.status, rec.Body)
			}
			if c.code != "" {
				if code, msg := decodeError(t, rec); code != c.code {
					t.Errorf("code %q, want %q (%s)", code, c.code, msg)
				}
			}
			for k := range rec.Header() {
				if strings.HasPrefix(strings.ToLower(k), "x-gatehouse-") {
					t.Errorf("a refusal carries %s", k)
				}
			}
			if strings.Contains(rec.Body.String(), "gatehouse_") {
				t.Errorf("the answer leaks metrics: %.200s", rec.Body)
			}
			for _, ck := range rec.Result().Cookies() {
				t.Errorf("a refusal touched cookie %s", ck.Name)
			}
			for name, v := range map[string]string{"acme": acme, "beta": beta} {
				if r := f.verifyWith(v, ""); r.Code != http.StatusOK {
					t.Errorf("the %s session died: %d", name, r.Code)
				}
			}
		})
	}
}
