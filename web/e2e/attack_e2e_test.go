package e2e

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/app"
)

// A representative run of the attack suite (web/attack_test.go) against the
// built binary over real HTTP: each case asserts the exact status and code
// and that no user or session was written.

func rawB64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// forge signs header.payload with RS256 (or HS256 when hsKey is set).
func forge(t testing.TB, key *rsa.PrivateKey, hsKey []byte, header, payload string) string {
	input := rawB64([]byte(header)) + "." + rawB64([]byte(payload))
	if hsKey != nil {
		m := hmac.New(sha256.New, hsKey)
		m.Write([]byte(input))
		return input + "." + rawB64(m.Sum(nil))
	}
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + rawB64(sig)
}

// userCount is how many users org acme holds (through the admin socket).
func (s *Server) userCount(t testing.TB) int {
	var out struct {
		Users []json.RawMessage `json:"users"`
	}
	s.MustAPI("GET", "/api/v1/orgs/acme/users?limit=500", nil, 200, &out)
	return len(out.Users)
}

func TestAttacksAgainstBinary(t *testing.T) {
	var fetched atomic.Int64
	keySrc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
	}))
	defer keySrc.Close()

	s := Start(t, "[ratelimit]\nsignin_per_ip = 0\n")
	w := s.Seed()
	pemBytes, err := os.ReadFile(w.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := app.LoadPrivateKeyPEM(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := os.ReadFile(strings.TrimSuffix(w.KeyFile, ".key") + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	claims := func(mut func(map[string]any)) string {
		c := map[string]any{"organizationId": "acme", "tenantId": "t1", "role": "admin", "email": "eve@example.com",
			"exp": time.Now().Add(5 * time.Minute).Unix(), "iat": time.Now().Unix()}
		if mut != nil {
			mut(c)
		}
		b, _ := json.Marshal(c)
		return string(b)
	}
	valid := forge(t, key, nil, `{"alg":"RS256"}`, claims(nil))
	vp := strings.Split(valid, ".")
	type tc struct {
		name   string
		form   url.Values
		ctype  string
		method string
		status int
		code   string
	}
	tokenCase := func(name, token string, status int, code string) tc {
		return tc{name: name, form: url.Values{"token": {token}}, status: status, code: code}
	}
	cases := []tc{
		tokenCase("alg none", rawB64([]byte(`{"alg":"none"}`))+"."+vp[1]+".", 401, "InvalidToken"),
		tokenCase("alg NoNe", rawB64([]byte(`{"alg":"NoNe"}`))+"."+vp[1]+".", 401, "InvalidToken"),
		tokenCase("HS256 keyed with the public key PEM", forge(t, nil, pubPEM, `{"alg":"HS256"}`, claims(nil)), 401, "InvalidToken"),
		tokenCase("RS512 header", forge(t, key, nil, `{"alg":"RS512"}`, claims(nil)), 401, "InvalidToken"),
		tokenCase("jku to a listener", forge(t, other, nil, `{"alg":"RS256","jku":"`+keySrc.URL+`","x5u":"`+keySrc.URL+`"}`, claims(nil)), 401, "InvalidToken"),
		tokenCase("kid path traversal", forge(t, key, nil, `{"alg":"RS256","kid":"../../../etc/passwd"}`, claims(nil)), 401, "InvalidToken"),
		tokenCase("crit", forge(t, key, nil, `{"alg":"RS256","crit":["exp"]}`, claims(nil)), 401, "InvalidToken"),
		tokenCase("JWE five parts", "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d", 401, "InvalidToken"),
		tokenCase("JSON serialisation", `{"payload":"`+vp[1]+`","protected":"`+vp[0]+`","signature":"`+vp[2]+`"}`, 401, "InvalidToken"),
		tokenCase("padded base64", vp[0]+"."+vp[1]+"."+vp[2]+"=", 401, "InvalidToken"),
		tokenCase("newline inside", vp[0]+"."+vp[1]+"\n."+vp[2], 401, "InvalidToken"),
		tokenCase("deeply nested", forge(t, key, nil, `{"alg":"RS256"}`, `{"organizationId":"acme","x":`+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)+`}`), 401, "InvalidToken"),
		tokenCase("a million dots", strings.Repeat(".", 1_000_000), 413, "PayloadTooLarge"),
		tokenCase("other key", forge(t, other, nil, `{"alg":"RS256"}`, claims(nil)), 401, "InvalidToken"),
		tokenCase("tampered payload", vp[0]+"."+rawB64([]byte(claims(func(c map[string]any) { c["tenantId"] = "t2" })))+"."+vp[2], 401, "InvalidToken"),
		tokenCase("exp a string", forge(t, key, nil, `{"alg":"RS256"}`, claims(func(c map[string]any) { c["exp"] = "9999999999" })), 400, "InvalidPayload"),
		tokenCase("exp null", forge(t, key, nil, `{"alg":"RS256"}`, claims(func(c map[string]any) { c["exp"] = nil })), 400, "InvalidPayload"),
		tokenCase("duplicate role", forge(t, key, nil, `{"alg":"RS256"}`, strings.Replace(claims(nil), `"role":"admin"`, `"role":"readOnly","role":"admin"`, 1)), 401, "InvalidToken"),
		tokenCase("Email instead of email", forge(t, key, nil, `{"alg":"RS256"}`, claims(func(c map[string]any) { c["Email"] = c["email"]; delete(c, "email") })), 400, "InvalidPayload"),
		tokenCase("role Admin", forge(t, key, nil, `{"alg":"RS256"}`, claims(func(c map[string]any) { c["role"] = "Admin" })), 400, "InvalidPayload"),
		tokenCase("expired (gatehouse sign --ttl -5m)", w.Sign(t, "t1", "eve@example.com", "admin", "--ttl", "-5m"), 401, "ExpiredToken"),
		tokenCase("lifetime too long (--ttl 3h)", w.Sign(t, "t1", "eve@example.com", "admin", "--ttl", "3h"), 401, "InvalidToken"),
		tokenCase("look-alike email", forge(t, key, nil, `{"alg":"RS256"}`, claims(func(c map[string]any) { c["email"] = "eve@exаmple.com" })), 400, "InvalidPayload"),
		tokenCase("tenant of nobody", forge(t, key, nil, `{"alg":"RS256"}`, claims(func(c map[string]any) { c["tenantId"] = "t9" })), 403, "InvalidKeyOrTenant"),
		tokenCase("unknown organization", forge(t, key, nil, `{"alg":"RS256"}`, claims(func(c map[string]any) { c["organizationId"] = "beta" })), 403, "InvalidKeyOrTenant"),
		{name: "GET", method: "GET", form: url.Values{"token": {valid}}, status: 405, code: "MethodNotAllowed"},
		{name: "JSON body", ctype: "application/json", form: url.Values{"token": {valid}}, status: 415, code: "UnsupportedMediaType"},
		{name: "oversize body", form: url.Values{"token": {strings.Repeat("a", 70000)}}, status: 413, code: "PayloadTooLarge"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.userCount(t)
			method, ctype := c.method, c.ctype
			if method == "" {
				method = "POST"
			}
			if ctype == "" {
				ctype = "application/x-www-form-urlencoded"
			}
			req, _ := http.NewRequest(method, s.Base+"/sso/jwt", strings.NewReader(c.form.Encode()))
			req.Header.Set("Content-Type", ctype)
			resp, err := s.Browser.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(resp)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, c.status, body)
			}
			var e struct{ Code, RequestID string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Code != c.code {
				t.Fatalf("code %q, want %q: %.300s", e.Code, c.code, body)
			}
			if len(resp.Cookies()) != 0 {
				t.Errorf("a refused sign-in set cookies: %v", resp.Cookies())
			}
			if after := s.userCount(t); after != before {
				t.Errorf("users %d → %d", before, after)
			}
		})
	}
	if n := fetched.Load(); n != 0 {
		t.Errorf("the server fetched the attacker's key source %d times", n)
	}

	t.Run("deep links never leave the tenant", func(t *testing.T) {
		for _, rt := range []string{"//evil.test/", "/\\evil.test", "javascript:alert(1)", "https://dash.example.test/t1/%2f%2fevil", "https://dash.example.test/t1/\r\nX: y"} {
			tok := forge(t, key, nil, `{"alg":"RS256"}`, claims(func(c map[string]any) { c["email"] = "deeplink@example.com" }))
			resp := s.postForm(t, "/sso/jwt", url.Values{"token": {tok}, "return_to": {rt}})
			resp.Body.Close()
			if resp.StatusCode != 302 || resp.Header.Get("Location") != "https://dash.example.test/t1" {
				t.Errorf("return_to %q: %d %q", rt, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
	})

	t.Run("replay: sequential and 20 in parallel", func(t *testing.T) {
		tok := forge(t, key, nil, `{"alg":"RS256"}`, claims(func(c map[string]any) { c["jti"], c["email"] = "e2e-replay", "replay@example.com" }))
		var mu sync.Mutex
		got := map[int]int{}
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp := s.postForm(t, "/sso/jwt", url.Values{"token": {tok}})
				resp.Body.Close()
				mu.Lock()
				got[resp.StatusCode]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if got[302] != 1 || got[401] != 19 {
			t.Fatalf("want exactly one winner: %v", got)
		}
		resp := s.postForm(t, "/sso/jwt", url.Values{"token": {tok}})
		if body := readAll(resp); resp.StatusCode != 401 || !strings.Contains(body, "InvalidToken") {
			t.Fatalf("sequential replay: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("HMAC", func(t *testing.T) {
		s.MustAPI("PATCH", "/api/v1/orgs/acme/partners/"+w.PartnerID, map[string]any{"allowed_source_ips": []string{"127.0.0.1", "::1"}}, 200, nil)
		post := func(ck, ts, sig, body string, hdr ...string) (int, string) {
			req, _ := http.NewRequest("POST", s.Base+"/sso/hmac/token", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Consumer-Key", ck)
			req.Header.Set("X-Timestamp", ts)
			req.Header.Set("X-Signature", sig)
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			resp, err := s.Browser.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var e map[string]any
			json.Unmarshal([]byte(readAll(resp)), &e)
			delete(e, "request_id")
			b, _ := json.Marshal(e)
			return resp.StatusCode, string(b)
		}
		n := 0
		body := func() string {
			n++
			return fmt.Sprintf(`{"tenantId":"t1","email":"hank@example.com","role":"readOnly","nonce":"e2e-nonce-%012d"}`, n)
		}
		now := time.Now().UTC().Format(time.RFC3339)
		sign := func(ts, b string) string { return app.SignHMAC(w.ConsumerSecret, ts, w.ConsumerKey, []byte(b)) }
		b := body()
		s1, a1 := post("ck_unknown", now, app.SignHMAC(w.ConsumerSecret, now, "ck_unknown", []byte(b)), b)
		s2, a2 := post(w.ConsumerKey, now, strings.Repeat("0", 64), b)
		if s1 != 401 || s1 != s2 || a1 != a2 || !strings.Contains(a1, "invalid_partner_signature") {
			t.Fatalf("unknown key %d %s vs bad signature %d %s", s1, a1, s2, a2)
		}
		checks := []struct {
			name   string
			status int
			code   string
			send   func() (int, string)
		}{
			{"uppercase hex", 401, "invalid_partner_signature", func() (int, string) { b := body(); return post(w.ConsumerKey, now, strings.ToUpper(sign(now, b)), b) }},
			{"truncated MAC", 401, "invalid_partner_signature", func() (int, string) { b := body(); return post(w.ConsumerKey, now, sign(now, b)[:40], b) }},
			{"body altered after signing", 401, "invalid_partner_signature", func() (int, string) {
				b := body()
				return post(w.ConsumerKey, now, sign(now, b), strings.Replace(b, "readOnly", "admin", 1))
			}},
			{"stale timestamp", 401, "signature_expired", func() (int, string) {
				b, ts := body(), time.Now().Add(-10*time.Minute).UTC().Format(time.RFC3339)
				return post(w.ConsumerKey, ts, sign(ts, b), b)
			}},
			{"future timestamp", 401, "signature_expired", func() (int, string) {
				b, ts := body(), time.Now().Add(10*time.Minute).UTC().Format(time.RFC3339)
				return post(w.ConsumerKey, ts, sign(ts, b), b)
			}},
			{"timestamp in year 9999", 401, "signature_expired", func() (int, string) {
				b, ts := body(), "9999-12-31T23:59:59Z"
				return post(w.ConsumerKey, ts, sign(ts, b), b)
			}},
			{"timestamp in year 1", 401, "signature_expired", func() (int, string) {
				b, ts := body(), "0001-01-01T00:00:00Z"
				return post(w.ConsumerKey, ts, sign(ts, b), b)
			}},
			{"comma fraction", 400, "validation_error", func() (int, string) {
				b, ts := body(), time.Now().UTC().Format("2006-01-02T15:04:05")+",5Z"
				return post(w.ConsumerKey, ts, sign(ts, b), b)
			}},
			{"offset +24:00", 400, "validation_error", func() (int, string) {
				b, ts := body(), time.Now().UTC().Format("2006-01-02T15:04:05")+"+24:00"
				return post(w.ConsumerKey, ts, sign(ts, b), b)
			}},
			{"replayed nonce", 401, "replayed_request", func() (int, string) {
				b := body()
				if st, out := post(w.ConsumerKey, now, sign(now, b), b); st != 200 {
					t.Fatalf("first use: %d %s", st, out)
				}
				return post(w.ConsumerKey, now, sign(now, b), b)
			}},
		}
		for _, c := range checks {
			st, out := c.send()
			if st != c.status || !strings.Contains(out, `"`+c.code+`"`) {
				t.Errorf("%s: %d %s, want %d %s", c.name, st, out, c.status, c.code)
			}
		}
		// The login step: a JSON body is no token, a foreign Origin is refused
		// once allowed_origins is set, and a person gets a page.
		tokenOf := func() string {
			b := body()
			st, out := post(w.ConsumerKey, now, sign(now, b), b)
			if st != 200 {
				t.Fatalf("step 1: %d %s", st, out)
			}
			var r struct{ Token string }
			json.Unmarshal([]byte(out), &r)
			return r.Token
		}
		jsonReq, _ := http.NewRequest("POST", s.Base+"/sso/hmac/login", strings.NewReader(`{"token":"`+tokenOf()+`"}`))
		jsonReq.Header.Set("Content-Type", "application/json")
		if resp, err := s.Browser.Do(jsonReq); err != nil || resp.StatusCode != 401 || !strings.Contains(readAll(resp), "invalid_login_token") {
			t.Errorf("login with a JSON body: %v %v", resp, err)
		}
		s.MustAPI("PATCH", "/api/v1/orgs/acme/partners/"+w.PartnerID, map[string]any{"allowed_origins": []string{"https://portal.example.test"}}, 200, nil)
		lt := tokenOf()
		originReq, _ := http.NewRequest("GET", s.Base+"/sso/hmac/login?token="+url.QueryEscape(lt), nil)
		originReq.Header.Set("Origin", "https://evil.example")
		originReq.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
		if resp, err := s.Browser.Do(originReq); err != nil || resp.StatusCode != 403 {
			t.Errorf("login from a foreign Origin: %v %v", resp, err)
		} else if page := readAll(resp); !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(page, "origin_not_allowed") {
			t.Errorf("a browser refused at the login step gets %q: %.300s", resp.Header.Get("Content-Type"), page)
		}
		if resp, err := s.Browser.Get(s.Base + "/sso/hmac/login?token=" + url.QueryEscape(lt)); err != nil || resp.StatusCode != 401 {
			t.Errorf("the refused login token must be spent: %v %v", resp, err)
		}
		s.MustAPI("PATCH", "/api/v1/orgs/acme/partners/"+w.PartnerID, map[string]any{"allowed_origins": nil}, 200, nil)

		// Spoofed X-Forwarded-For from an untrusted peer: the partner only
		// allows 203.0.113.7, the peer (127.0.0.1) claims to be it.
		s.MustAPI("PATCH", "/api/v1/orgs/acme/partners/"+w.PartnerID, map[string]any{"allowed_source_ips": []string{"203.0.113.7"}}, 200, nil)
		b = body()
		if st, out := post(w.ConsumerKey, now, sign(now, b), b, "X-Forwarded-For", "203.0.113.7"); st != 403 || !strings.Contains(out, "source_ip_not_allowed") {
			t.Errorf("spoofed X-Forwarded-For: %d %s", st, out)
		}
	})

	t.Run("kid uploads", func(t *testing.T) {
		pub, err := os.ReadFile(strings.TrimSuffix(w.KeyFile, ".key") + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		path := "/api/v1/orgs/acme/partners/" + w.PartnerID + "/keys"
		for _, kid := range []string{"a/b", "../x", "k%2Fk", "..", strings.Repeat("k", 129)} {
			if st, out := s.API("POST", path, map[string]any{"pem": string(pub), "kid": kid}); st != 400 || !strings.Contains(string(out), `"kid: `) {
				t.Errorf("kid %q: %d %s", kid, st, out)
			}
		}
		// The seeded key again, under a new kid or another partner: one owner.
		var other struct{ ID string }
		s.MustAPI("POST", "/api/v1/orgs/acme/partners", map[string]any{"name": "Second portal"}, 201, &other)
		for _, p := range []string{path, "/api/v1/orgs/acme/partners/" + other.ID + "/keys"} {
			if st, out := s.API("POST", p, map[string]any{"pem": string(pub), "kid": "same-key-new-kid"}); st != 409 || !strings.Contains(string(out), "conflict") {
				t.Errorf("the same public key again at %s: %d %s", p, st, out)
			}
		}
	})

	t.Run("session boundaries", func(t *testing.T) {
		// Organization beta also has a tenant "t1", and an admin signed in to it.
		s.MustAPI("POST", "/api/v1/orgs", map[string]any{"id": "beta", "name": "Beta"}, 201, nil)
		s.MustAPI("POST", "/api/v1/orgs/beta/tenants", map[string]any{"id": "t1", "name": "Beta's t1", "redirect_url": "https://beta.example.test/"}, 201, nil)
		var bp struct{ ID string }
		s.MustAPI("POST", "/api/v1/orgs/beta/partners", map[string]any{"name": "Beta portal"}, 201, &bp)
		stem := filepath.Join(t.TempDir(), "beta")
		Run(t, "keygen", "--out", stem, "--bits", "2048")
		pub, err := os.ReadFile(stem + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		s.MustAPI("POST", "/api/v1/orgs/beta/partners/"+bp.ID+"/keys", map[string]any{"pem": string(pub)}, 201, nil)
		beta := signInCookie(t, s, Run(t, "sign", "--key", stem+".key", "--org", "beta", "--tenant", "t1", "--email", "mallory@beta.example", "--role", "admin"))
		acme := signInCookie(t, s, w.Sign(t, "t1", "ann@example.com", "readOnly"))
		do := func(method, path string, cookie *http.Cookie, hdr ...string) (int, http.Header, string) {
			t.Helper()
			req, _ := http.NewRequest(method, s.Base+path, nil)
			if cookie != nil {
				req.AddCookie(cookie)
			}
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			resp, err := s.Browser.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, resp.Header, string(b)
		}
		for q, want := range map[string]int{
			"?tenant=t1": 400, "?tenant=t1&role=admin": 400, "?org=acme&tenant=t1": 403, "?org=acme&tenant=t1&role=admin": 403,
			"?org=acme&tennant=t1": 400, "?org=acme&org=beta&tenant=t1": 400, "?org=beta&tenant=t1;org=acme": 400,
			"?org=beta&tenant=": 400, "?org=beta&tenant=t1": 200,
		} {
			code, h, body := do("GET", "/auth/verify"+q, beta)
			if code != want {
				t.Errorf("beta's admin, /auth/verify%s: %d, want %d", q, code, want)
			}
			if want == 400 && !strings.Contains(body, `"InvalidRequest"`) {
				t.Errorf("/auth/verify%s: body %.200s", q, body)
			}
			if want != 200 && h.Get("X-Gatehouse-User") != "" {
				t.Errorf("/auth/verify%s: identity on a %d", q, code)
			}
		}
		for _, origin := range []string{"https://evil.example", "null", s.Base + ".evil.example", strings.Replace(s.Base, "http://", "https://", 1)} {
			if code, _, body := do("POST", "/logout", acme, "Origin", origin); code != 403 || !strings.Contains(body, "AccessDenied") {
				t.Errorf("logout from %s: %d %.200s", origin, code, body)
			}
		}
		if code, _, _ := do("GET", "/auth/verify", acme); code != 200 {
			t.Fatalf("a cross-site logout ended the session: %d", code)
		}
		for _, p := range []string{"/metrics", "/metrics/", "//metrics", "/METRICS", "/%6detrics", "/api/v1/metrics"} {
			if code, _, body := do("GET", p, acme, "Accept", "text/plain"); code != 404 || strings.Contains(body, "gatehouse_") {
				t.Errorf("public %s: %d %.100q", p, code, body)
			}
		}
		if code, _, _ := do("POST", "/logout", acme, "Origin", s.Base); code != 303 {
			t.Errorf("logout from Gatehouse's own origin: %d", code)
		}
	})

	t.Run("slow headers are cut off", func(t *testing.T) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.Base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		io.WriteString(conn, "POST /sso/jwt HTTP/1.1\r\nHost: x\r\n")
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err = io.ReadAll(conn)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the server held a connection with unfinished headers for 20s")
		}
		if took := time.Since(start); took > 15*time.Second {
			t.Fatalf("closed after %s", took)
		}
	})
}
