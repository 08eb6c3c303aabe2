package web

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/app"
	"gatehouse/app/jwks"
	"gatehouse/storage"
	"gatehouse/storage/bolt"
	"gatehouse/storage/memory"
)

// Tests of partner keys from a JWKS URL (SPEC §4.7): a real key set served
// over https on loopback by httptest, real RSA keys and tokens, and the
// fixture's injected clock for refresh, rotation and outage.

var (
	moreKeysOnce sync.Once
	testKeyC     *rsa.PrivateKey
	testKeyD     *rsa.PrivateKey
)

// moreKeys are two further fixed test keys (c.pem, d.pem) for rotations.
func moreKeys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	moreKeysOnce.Do(func() {
		load := func(name string) *rsa.PrivateKey {
			data, err := os.ReadFile(filepath.Join("testdata", "keys", name))
			if err != nil {
				panic(err)
			}
			k, err := app.LoadPrivateKeyPEM(data)
			if err != nil {
				panic(err)
			}
			return k
		}
		testKeyC, testKeyD = load("c.pem"), load("d.pem")
	})
	return testKeyC, testKeyD
}

// jwkOf is the JWK a partner publishes for pub.
func jwkOf(kid string, pub *rsa.PublicKey) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())}
}

// jwksServer is a partner's key set endpoint whose answer tests change.
type jwksServer struct {
	t    testing.TB
	srv  *httptest.Server
	hits atomic.Int64

	mu      sync.Mutex
	status  int
	body    []byte
	handler http.HandlerFunc // when set, answers instead
}

func newJWKSServer(t testing.TB, tls bool) *jwksServer {
	j := &jwksServer{t: t, status: 200}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.hits.Add(1)
		j.mu.Lock()
		status, body, override := j.status, j.body, j.handler
		j.mu.Unlock()
		if override != nil {
			override(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		w.Write(body)
	})
	if tls {
		j.srv = httptest.NewTLSServer(h)
	} else {
		j.srv = httptest.NewServer(h)
	}
	t.Cleanup(j.srv.Close)
	return j
}

func (j *jwksServer) URL() string { return j.srv.URL + "/.well-known/jwks.json" }

func (j *jwksServer) serve(keys ...map[string]any) {
	b, err := json.Marshal(map[string]any{"keys": append([]map[string]any{}, keys...)})
	if err != nil {
		j.t.Fatal(err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.status, j.body, j.handler = 200, b, nil
}

func (j *jwksServer) fail(status int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.status, j.body, j.handler = status, []byte(`{"error":"down"}`), nil
}

func (j *jwksServer) answer(h http.HandlerFunc) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.handler = h
}

// jwksFixture is the standard fixture (partner "Portal" with uploaded key A)
// whose service fetches key sets with a client trusting server's test CA,
// and records metrics.
type jwksFixture struct {
	*fixture
	js      *jwksServer
	metrics *Metrics
}

func newJWKSFixture(t testing.TB, store storage.Store, mutate ...func(*app.Config)) *jwksFixture {
	t.Helper()
	js := newJWKSServer(t, true)
	pool := x509.NewCertPool()
	pool.AddCert(js.srv.Certificate())
	metrics := NewMetrics(nil)
	f := newFixtureWithOptions(t, store, func(o *app.Options) {
		o.JWKSFetcher = jwks.New(jwks.Options{RootCAs: pool, Now: o.Now, AllowInsecure: o.Config.SSO.AllowInsecureJWKS})
		o.Observer = metrics
	}, mutate...)
	return &jwksFixture{fixture: f, js: js, metrics: metrics}
}

// kidToken signs valid claims for alice with k under kid ("" = no kid header).
func (f *fixture) kidToken(k *rsa.PrivateKey, kid string) string {
	f.t.Helper()
	p, err := json.Marshal(f.claims())
	if err != nil {
		f.t.Fatal(err)
	}
	header := `{"alg":"RS256","typ":"JWT"}`
	if kid != "" {
		header = fmt.Sprintf(`{"alg":"RS256","typ":"JWT","kid":%q}`, kid)
	}
	return signRaw(f.t, k, header, string(p))
}

// wantSignIn asserts the sign-in's status and, for a refusal, its code.
func (f *fixture) wantSignIn(t *testing.T, what, token string, status int, code string) {
	t.Helper()
	rec := f.signIn(token)
	if rec.Code != status {
		t.Fatalf("%s: status %d, want %d (%s)", what, rec.Code, status, rec.Body)
	}
	if code != "" {
		if got, msg := decodeError(t, rec); got != code {
			t.Fatalf("%s: code %s (%s), want %s", what, got, msg, code)
		}
	}
}

func (f *jwksFixture) createJWKSPartner(t *testing.T, name string) string {
	t.Helper()
	code, p := f.admin(t, "POST", "/api/v1/orgs/acme/partners", fmt.Sprintf(`{"name":%q,"jwks_url":%q}`, name, f.js.URL()))
	if code != 201 {
		t.Fatalf("create with jwks_url: %d %v", code, p)
	}
	return p["id"].(string)
}

func (f *fixture) partnerKeys(t *testing.T, partnerID string) map[string]map[string]any {
	t.Helper()
	code, body := f.admin(t, "GET", "/api/v1/orgs/acme/partners/"+partnerID+"/keys", "")
	if code != 200 {
		t.Fatalf("list keys: %d %v", code, body)
	}
	out := map[string]map[string]any{}
	for _, k := range body["keys"].([]any) {
		m := k.(map[string]any)
		out[m["kid"].(string)] = m
	}
	return out
}

func (f *fixture) partnerCount(t *testing.T) int {
	t.Helper()
	ps, err := f.store.ListPartners(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	return len(ps)
}

func (f *jwksFixture) auditCount(t *testing.T, typ string) int {
	t.Helper()
	evs, _, err := f.store.ListAudit(context.Background(), storage.AuditQuery{OrgID: "acme", Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

func (f *jwksFixture) failureMetric(t *testing.T, partnerID string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	f.metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	prefix := fmt.Sprintf(`gatehouse_jwks_refresh_failures_total{partner=%q} `, partnerID)
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return v
		}
	}
	return "absent"
}

func TestJWKSPartnerRegistrationAndSignIn(t *testing.T) {
	f := newJWKSFixture(t, memory.New())
	c, _ := moreKeys(t)
	f.js.serve(jwkOf("c-1", &c.PublicKey), map[string]any{"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"})
	code, p := f.admin(t, "POST", "/api/v1/orgs/acme/partners", fmt.Sprintf(`{"name":"IdP","jwks_url":%q}`, f.js.URL()))
	if code != 201 {
		t.Fatalf("create: %d %v", code, p)
	}
	if p["jwks_url"] != f.js.URL() || p["jwks_fetched_at"] != f.clock.Now().Format(time.RFC3339) {
		t.Errorf("jwks fields = %v, %v; want the URL and the injected clock's now", p["jwks_url"], p["jwks_fetched_at"])
	}
	id := p["id"].(string)
	ks := f.partnerKeys(t, id)
	if len(ks) != 1 || ks["c-1"]["source"] != "jwks" || ks["c-1"]["bits"].(float64) != 2048 {
		t.Fatalf("keys of the JWKS partner = %v", ks)
	}
	if pem := f.partnerKeys(t, f.partner.ID); pem[f.kid]["source"] != "pem" {
		t.Errorf("uploaded key source = %v", pem[f.kid]["source"])
	}
	_, portal := f.admin(t, "GET", "/api/v1/orgs/acme/partners/"+f.partner.ID, "")
	if v, ok := portal["jwks_url"]; !ok || v != nil || portal["jwks_fetched_at"] != nil {
		t.Errorf("a PEM partner's jwks_url/jwks_fetched_at must be null: %v", portal)
	}

	f.wantSignIn(t, "kid of the set", f.kidToken(c, "c-1"), 302, "")
	f.wantSignIn(t, "no kid: every key tried", f.kidToken(c, ""), 302, "")
	a, _ := keys(t)
	f.wantSignIn(t, "PEM partner still signs in", f.kidToken(a, f.kid), 302, "")
	f.wantSignIn(t, "kid of the set, wrong key", f.kidToken(a, "c-1"), 401, app.CodeInvalidToken)
	var users []storage.User
	users, _, _ = f.store.ListUsers(context.Background(), storage.UserQuery{OrgID: "acme"})
	if len(users) != 1 || users[0].PartnerID != id {
		t.Errorf("the first sign-in (key c-1) creates the user for the JWKS partner: %+v", users)
	}

	// The keys API cannot delete a JWKS key; clearing jwks_url does.
	code, body := f.admin(t, "DELETE", "/api/v1/orgs/acme/partners/"+id+"/keys/c-1", "")
	if code != 409 || body["code"] != app.CodeConflict || !strings.Contains(body["message"].(string), "jwks_url") {
		t.Fatalf("delete of a JWKS key: %d %v", code, body)
	}
	code, body = f.admin(t, "PATCH", "/api/v1/orgs/acme/partners/"+id, `{"jwks_url":null}`)
	if code != 200 || body["jwks_url"] != nil || body["jwks_fetched_at"] != nil {
		t.Fatalf("clear jwks_url: %d %v", code, body)
	}
	if ks := f.partnerKeys(t, id); len(ks) != 0 {
		t.Fatalf("keys after clearing jwks_url = %v", ks)
	}
	hits := f.js.hits.Load()
	f.wantSignIn(t, "cleared key", f.kidToken(c, "c-1"), 401, app.CodeInvalidToken)
	if f.js.hits.Load() != hits {
		t.Error("a partner without jwks_url was fetched")
	}
	evs, _, _ := f.store.ListAudit(context.Background(), storage.AuditQuery{OrgID: "acme", Type: "partner.update"})
	if len(evs) == 0 || !strings.Contains(fmt.Sprint(evs[0].Details), "jwks_url") {
		t.Errorf("clearing jwks_url is not audited: %+v", evs)
	}
}

func TestJWKSURLRules(t *testing.T) {
	f := newJWKSFixture(t, memory.New())
	c, _ := moreKeys(t)
	f.js.serve(jwkOf("c-1", &c.PublicKey))
	plain := newJWKSServer(t, false)
	plain.serve(jwkOf("c-1", &c.PublicKey))
	before := f.partnerCount(t)
	for _, url := range []string{
		plain.URL(), // http without sso.allow_insecure_jwks
		strings.Replace(f.js.URL(), "https://", "https://user:pw@", 1),
		strings.Replace(f.js.URL(), "https://", "https://user@", 1),
		"ftp://127.0.0.1/jwks.json",
		"not a url",
		"",
		"/relative/jwks.json",
		f.js.URL() + "#frag",
	} {
		for _, method := range []string{"POST", "PATCH"} {
			path, body := "/api/v1/orgs/acme/partners", fmt.Sprintf(`{"name":"X","jwks_url":%q}`, url)
			if method == "PATCH" {
				path, body = path+"/"+f.partner.ID, fmt.Sprintf(`{"jwks_url":%q}`, url)
			}
			code, res := f.admin(t, method, path, body)
			if code != 400 || res["code"] != app.CodeValidation || !strings.HasPrefix(res["message"].(string), "jwks_url: ") {
				t.Errorf("%s %q: %d %v", method, url, code, res)
			}
		}
	}
	code, res := f.admin(t, "POST", "/api/v1/orgs/acme/partners", `{"name":"X","jwks_url":7}`)
	if code != 400 || !strings.Contains(res["message"].(string), "jwks_url") {
		t.Errorf("non-string jwks_url: %d %v", code, res)
	}
	if n := f.partnerCount(t); n != before {
		t.Fatalf("refused registrations wrote partners: %d → %d", before, n)
	}
	if plain.hits.Load() != 0 {
		t.Errorf("a refused http URL was fetched %d times", plain.hits.Load())
	}
	_, portal := f.admin(t, "GET", "/api/v1/orgs/acme/partners/"+f.partner.ID, "")
	if portal["jwks_url"] != nil {
		t.Errorf("a refused PATCH changed the partner: %v", portal["jwks_url"])
	}

	// With allow_insecure_jwks, http on a literal loopback IP is accepted.
	g := newJWKSFixture(t, memory.New(), func(c *app.Config) { c.SSO.AllowInsecureJWKS = true })
	code, res = g.admin(t, "POST", "/api/v1/orgs/acme/partners", fmt.Sprintf(`{"name":"Local","jwks_url":%q}`, plain.URL()))
	if code != 201 {
		t.Fatalf("http loopback with allow_insecure_jwks: %d %v", code, res)
	}
	for _, url := range []string{"http://localhost:1/jwks.json", "http://192.0.2.1/jwks.json", "http://user@127.0.0.1:1/jwks.json"} {
		code, res = g.admin(t, "POST", "/api/v1/orgs/acme/partners", fmt.Sprintf(`{"name":"Y","jwks_url":%q}`, url))
		if code != 400 || !strings.HasPrefix(res["message"].(string), "jwks_url: ") {
			t.Errorf("insecure mode, %s: %d %v", url, code, res)
		}
	}
}

func TestJWKSUnusableSetsRefused(t *testing.T) {
	f := newJWKSFixture(t, memory.New())
	a, _ := keys(t)
	c, _ := moreKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	with := func(kid string, pub *rsa.PublicKey, change map[string]any) map[string]any {
		m := jwkOf(kid, pub)
		for k, v := range change {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	tests := []struct {
		name string
		set  func()
		want string
	}{
		{"HTTP 404", func() { f.js.fail(404) }, "HTTP 404"},
		{"not JSON", func() {
			f.js.answer(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>") })
		}, "not a JSON key set"},
		{"empty set", func() { f.js.serve() }, "no usable key"},
		{"only unusable keys", func() {
			f.js.serve(
				with("enc", &c.PublicKey, map[string]any{"use": "enc"}),
				with("ps256", &c.PublicKey, map[string]any{"alg": "PS256"}),
				with("small", &small.PublicKey, nil),
				with("bad/kid", &c.PublicKey, nil),
				with("..", &c.PublicKey, nil),
				with("", &c.PublicKey, nil),
				map[string]any{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
			)
		}, "no usable key"},
		{"only collisions", func() {
			// Portal's uploaded key A under a new kid (same thumbprint), and
			// another key under Portal's kid.
			f.js.serve(jwkOf("fresh", &a.PublicKey), jwkOf(f.kid, &c.PublicKey))
		}, "already belongs to partner " + f.partner.ID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.set()
			before := f.partnerCount(t)
			code, res := f.admin(t, "POST", "/api/v1/orgs/acme/partners", fmt.Sprintf(`{"name":"IdP","jwks_url":%q}`, f.js.URL()))
			if code != 400 || res["code"] != app.CodeValidation || !strings.HasPrefix(res["message"].(string), "jwks_url: ") ||
				!strings.Contains(res["message"].(string), tt.want) {
				t.Fatalf("create: %d %v, want validation_error with %q", code, res, tt.want)
			}
			if f.partnerCount(t) != before {
				t.Fatal("a refused registration wrote a partner")
			}
			code, res = f.admin(t, "PATCH", "/api/v1/orgs/acme/partners/"+f.partner.ID, fmt.Sprintf(`{"jwks_url":%q}`, f.js.URL()))
			if code != 400 || !strings.HasPrefix(res["message"].(string), "jwks_url: ") {
				t.Fatalf("patch: %d %v", code, res)
			}
		})
	}
	if !strings.Contains(f.logs.String(), "jwks key ignored") {
		t.Error("ignored keys are not logged")
	}
}

func TestJWKSCollisionsIgnoredKeepTheRest(t *testing.T) {
	f := newJWKSFixture(t, memory.New())
	a, b := keys(t)
	c, _ := moreKeys(t)
	f.js.serve(jwkOf("c-1", &c.PublicKey), jwkOf("steal-a", &a.PublicKey), jwkOf(f.kid, &b.PublicKey))
	id := f.createJWKSPartner(t, "IdP")
	ks := f.partnerKeys(t, id)
	if len(ks) != 1 || ks["c-1"] == nil {
		t.Fatalf("stored %v, want only c-1", ks)
	}
	// Portal's key stays Portal's: a token with its kid signs Portal's users in.
	f.wantSignIn(t, "Portal's kid", f.kidToken(a, f.kid), 302, "")
	f.wantSignIn(t, "key B under Portal's kid", f.kidToken(b, f.kid), 401, app.CodeInvalidToken)
	for _, want := range []string{"kid=steal-a", "thumbprint", "kid=" + f.kid} {
		if !strings.Contains(f.logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, f.logs.String())
		}
	}
	// A second JWKS partner publishing the first one's keys gets none of them.
	code, res := f.admin(t, "POST", "/api/v1/orgs/acme/partners", fmt.Sprintf(`{"name":"Copycat","jwks_url":%q}`, f.js.URL()))
	if code != 400 || !strings.Contains(res["message"].(string), "already belongs to partner "+id) {
		t.Fatalf("copycat: %d %v", code, res)
	}
}

func TestJWKSRotationRefreshAndOutage(t *testing.T) {
	f := newJWKSFixture(t, memory.New())
	cfg := f.svc.Config().SSO
	c, d := moreKeys(t)
	ctx := context.Background()
	f.js.serve(jwkOf("c-1", &c.PublicKey))
	id := f.createJWKSPartner(t, "IdP")
	hits := f.js.hits.Load()
	// The registration's fetch counts toward jwks_min_interval.
	f.js.serve(jwkOf("d-1", &d.PublicKey))
	f.wantSignIn(t, "new kid right after registration", f.kidToken(d, "d-1"), 401, app.CodeInvalidToken)
	if f.js.hits.Load() != hits {
		t.Fatal("an unknown kid fetched within jwks_min_interval of the registration")
	}
	f.clock.Advance(cfg.JWKSMinInterval)

	// The partner rotates: a token naming the new kid fetches at once.
	f.js.serve(jwkOf("d-1", &d.PublicKey))
	f.wantSignIn(t, "new kid, fetched at once", f.kidToken(d, "d-1"), 302, "")
	if f.js.hits.Load() != hits+1 {
		t.Fatalf("hits %d → %d, want one fetch", hits, f.js.hits.Load())
	}
	f.wantSignIn(t, "key gone from the set", f.kidToken(c, "c-1"), 401, app.CodeInvalidToken)

	// Within jwks_min_interval an unknown kid does not fetch again.
	f.js.serve(jwkOf("c-2", &c.PublicKey))
	f.wantSignIn(t, "unknown kid within min interval", f.kidToken(c, "c-2"), 401, app.CodeInvalidToken)
	if f.js.hits.Load() != hits+1 {
		t.Fatal("an unknown kid fetched again within jwks_min_interval")
	}
	f.clock.Advance(cfg.JWKSMinInterval)
	f.wantSignIn(t, "unknown kid after min interval", f.kidToken(c, "c-2"), 302, "")
	if f.js.hits.Load() != hits+2 {
		t.Fatal("the unknown kid did not fetch after jwks_min_interval")
	}

	// Background refresh: not due yet, then due after jwks_refresh.
	f.js.serve(jwkOf("d-2", &d.PublicKey))
	if n, err := f.svc.RefreshDueJWKS(ctx); err != nil || n != 0 {
		t.Fatalf("refresh right after a fetch: %d %v", n, err)
	}
	f.clock.Advance(cfg.JWKSRefresh)
	if n, err := f.svc.RefreshDueJWKS(ctx); err != nil || n != 1 {
		t.Fatalf("due refresh: %d %v", n, err)
	}
	if ks := f.partnerKeys(t, id); len(ks) != 1 || ks["d-2"] == nil {
		t.Fatalf("keys after refresh = %v", ks)
	}
	f.wantSignIn(t, "refreshed key", f.kidToken(d, "d-2"), 302, "")
	f.wantSignIn(t, "key dropped at refresh", f.kidToken(c, "c-2"), 401, app.CodeInvalidToken)
	_, p := f.admin(t, "GET", "/api/v1/orgs/acme/partners/"+id, "")
	if p["jwks_fetched_at"] != f.clock.Now().Format(time.RFC3339) {
		t.Errorf("jwks_fetched_at %v, want %v", p["jwks_fetched_at"], f.clock.Now())
	}
	goodFetch := p["jwks_fetched_at"]

	// Outage: the last good set keeps verifying; the failure is counted,
	// shown and audited once per refresh interval.
	f.js.fail(503)
	f.clock.Advance(cfg.JWKSRefresh)
	if n, _ := f.svc.RefreshDueJWKS(ctx); n != 1 {
		t.Fatalf("refresh during outage: %d", n)
	}
	f.wantSignIn(t, "last good set during outage", f.kidToken(d, "d-2"), 302, "")
	_, p = f.admin(t, "GET", "/api/v1/orgs/acme/partners/"+id, "")
	if !strings.Contains(fmt.Sprint(p["jwks_last_error"]), "HTTP 503") || p["jwks_fetched_at"] != goodFetch || p["jwks_last_error_at"] == nil {
		t.Errorf("partner during outage: %v", p)
	}
	if got := f.failureMetric(t, id); got != "1" {
		t.Errorf("failure metric = %s, want 1", got)
	}
	if n := f.auditCount(t, "partner.jwks_refresh_failed"); n != 1 {
		t.Errorf("failure audit events = %d, want 1", n)
	}
	f.clock.Advance(cfg.JWKSMinInterval) // an unknown kid retries: fails, counted, not audited again
	f.wantSignIn(t, "unknown kid during outage", f.kidToken(c, "c-9"), 401, app.CodeInvalidToken)
	if got := f.failureMetric(t, id); got != "2" {
		t.Errorf("failure metric = %s, want 2", got)
	}
	if n := f.auditCount(t, "partner.jwks_refresh_failed"); n != 1 {
		t.Errorf("audited twice within one refresh interval: %d", n)
	}
	f.clock.Advance(cfg.JWKSRefresh)
	f.svc.RefreshDueJWKS(ctx)
	if n := f.auditCount(t, "partner.jwks_refresh_failed"); n != 2 {
		t.Errorf("failure audit after another interval = %d, want 2", n)
	}
	evs, _, _ := f.store.ListAudit(ctx, storage.AuditQuery{OrgID: "acme", Type: "partner.jwks_refresh_failed"})
	if evs[0].PartnerID != id || evs[0].Outcome != "failure" || !strings.Contains(fmt.Sprint(evs[0].Details), "HTTP 503") {
		t.Errorf("audit event = %+v", evs[0])
	}

	// Recovery clears the error.
	f.js.serve(jwkOf("d-2", &d.PublicKey))
	f.clock.Advance(cfg.JWKSRefresh)
	f.svc.RefreshDueJWKS(ctx)
	_, p = f.admin(t, "GET", "/api/v1/orgs/acme/partners/"+id, "")
	if _, has := p["jwks_last_error"]; has || p["jwks_fetched_at"] != f.clock.Now().Format(time.RFC3339) {
		t.Errorf("partner after recovery: %v", p)
	}
}

// TestJWKSConcurrentUnknownKidShareOneFetch: sign-ins that all name a new
// kid wait for one fetch and all use the new set.
func TestJWKSConcurrentUnknownKidShareOneFetch(t *testing.T) {
	f := newJWKSFixture(t, memory.New())
	c, d := moreKeys(t)
	f.js.serve(jwkOf("c-1", &c.PublicKey))
	f.createJWKSPartner(t, "IdP")
	f.clock.Advance(f.svc.Config().SSO.JWKSMinInterval)
	hits := f.js.hits.Load()
	release := make(chan struct{})
	rotated, _ := json.Marshal(map[string]any{"keys": []any{jwkOf("d-1", &d.PublicKey)}})
	f.js.answer(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Write(rotated)
	})
	const n = 16
	tokens := make([]string, n)
	for i := range tokens {
		claims := f.claims()
		claims["email"] = fmt.Sprintf("user%d@example.com", i)
		p, _ := json.Marshal(claims)
		tokens[i] = signRaw(t, d, `{"alg":"RS256","kid":"d-1"}`, string(p))
	}
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = f.signIn(tokens[i]).Code
		}()
	}
	time.Sleep(100 * time.Millisecond) // let them queue on the one fetch (correctness does not depend on it)
	close(release)
	wg.Wait()
	for i, s := range statuses {
		if s != 302 {
			t.Errorf("sign-in %d: %d", i, s)
		}
	}
	if got := f.js.hits.Load() - hits; got != 1 {
		t.Errorf("%d fetches for %d concurrent sign-ins, want 1", got, n)
	}
}

// TestJWKSSetSurvivesRestart: the set is in the database; a new process
// verifies with it while the partner's server is down.
func TestJWKSSetSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	store, err := bolt.Open(path, bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f := newJWKSFixture(t, store)
	c, _ := moreKeys(t)
	f.js.serve(jwkOf("c-1", &c.PublicKey))
	id := f.createJWKSPartner(t, "IdP")
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	f.js.fail(500)

	reopened, err := bolt.Open(path, bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reopened.Close() })
	svc, err := app.New(app.Options{Store: reopened, Config: f.svc.Config(), Now: f.clock.Now,
		JWKSFetcher: jwks.New(jwks.Options{Now: f.clock.Now})})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	h, err := srv.PublicHandler()
	if err != nil {
		t.Fatal(err)
	}
	g := &fixture{t: t, store: reopened, svc: svc, srv: srv, handler: h, clock: f.clock, logs: &strings.Builder{}}
	hits := f.js.hits.Load()
	g.wantSignIn(t, "stored set after restart", g.kidToken(c, "c-1"), 302, "")
	if f.js.hits.Load() != hits {
		t.Error("a known kid fetched the set")
	}
	if ks := g.partnerKeys(t, id); ks["c-1"]["source"] != "jwks" {
		t.Errorf("keys after restart = %v", ks)
	}
}

// TestJWKSSlowFetchDoesNotStallOtherSignIns: sign-ins waiting on a partner's
// slow key server give their CPU slot back, so everyone else's sign-ins go
// on while the fetch hangs.
func TestJWKSSlowFetchDoesNotStallOtherSignIns(t *testing.T) {
	f := newJWKSFixture(t, memory.New())
	c, d := moreKeys(t)
	f.js.serve(jwkOf("c-1", &c.PublicKey))
	f.createJWKSPartner(t, "IdP")
	f.clock.Advance(f.svc.Config().SSO.JWKSMinInterval)
	release := make(chan struct{})
	f.js.answer(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		http.Error(w, "late", 503)
	})
	var waiting sync.WaitGroup
	for i := 0; i < 8; i++ { // more than there are verify slots
		waiting.Add(1)
		go func() {
			defer waiting.Done()
			f.signIn(f.kidToken(d, "d-1"))
		}()
	}
	time.Sleep(100 * time.Millisecond) // let them reach the fetch
	a, _ := keys(t)
	done := make(chan int, 1)
	go func() { done <- f.signIn(f.kidToken(a, f.kid)).Code }()
	select {
	case code := <-done:
		if code != 302 {
			t.Errorf("Portal's sign-in during the slow fetch: %d", code)
		}
	case <-time.After(4 * time.Second): // the fetch itself would end at 5 s
		t.Error("a sign-in with a known key waited on another partner's slow key server")
	}
	close(release)
	waiting.Wait()
}
