package web

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/app"
	"gatehouse/storage"
	"gatehouse/storage/memory"
)

// testKeys are fixed test-only keys from testdata: generating RSA keys under
// the fuzzer's coverage instrumentation took most of each worker's budget.
var (
	testKeysOnce sync.Once
	testKeyA     *rsa.PrivateKey
	testKeyB     *rsa.PrivateKey
)

func keys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	testKeysOnce.Do(func() {
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
		testKeyA, testKeyB = load("a.pem"), load("b.pem")
	})
	return testKeyA, testKeyB
}

func pubPEM(t testing.TB, k *rsa.PrivateKey) string {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// fixture is a running public handler over a store seeded with org "acme",
// tenants "t1" (allowed return URLs under https://dash.example.test/t1/) and
// "t2", a partner "Portal" with key A, and a clock tests can move.
type fixture struct {
	t       testing.TB
	store   storage.Store
	svc     *app.Service
	srv     *Server
	handler http.Handler
	clock   *testClock
	partner app.PartnerView
	kid     string
	logs    *strings.Builder
}

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type syncBuilder struct {
	mu sync.Mutex
	*strings.Builder
}

func (b *syncBuilder) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Builder.Write(p)
}

func newFixture(t testing.TB, mutate ...func(*app.Config)) *fixture {
	return newFixtureWithStore(t, memory.New(), mutate...)
}

// harnessEpoch is where every fixture's injected clock starts. Tests build
// their instants from it (never from the wall clock), so they pass on any date.
var harnessEpoch = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func newFixtureWithStore(t testing.TB, store storage.Store, mutate ...func(*app.Config)) *fixture {
	t.Helper()
	return newFixtureWithOptions(t, store, nil, mutate...)
}

// newFixtureWithOptions is newFixtureWithStore with a last say over the
// service's options (a JWKS fetcher that trusts a test CA, an observer).
func newFixtureWithOptions(t testing.TB, store storage.Store, options func(*app.Options), mutate ...func(*app.Config)) *fixture {
	t.Helper()
	cfg := app.Defaults()
	cfg.Server.PublicURL = "https://sso.example.test"
	cfg.RateLimit.SigninPerIP = 0
	for _, m := range mutate {
		m(&cfg)
	}
	clock := &testClock{now: harnessEpoch}
	ring, err := app.NewKeyRing(map[int][]byte{1: make([]byte, 32)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &strings.Builder{}
	logger := slog.New(slog.NewTextHandler(&syncBuilder{Builder: logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := app.Options{Store: store, Config: cfg, KeyRing: ring, Now: clock.Now, Logger: logger,
		Limiter: app.NewPartnerLimiter(cfg.RateLimit.SigninPerPartner)}
	if options != nil {
		options(&opts)
	}
	svc, err := app.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Service: svc, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	h, err := srv.PublicHandler()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, store: store, svc: svc, srv: srv, handler: h, clock: clock, logs: logs}
	ctx := context.Background()
	must(t, func() error {
		_, err := svc.CreateOrg(ctx, app.Operator, app.OrgInput{ID: "acme", Name: "Acme"})
		return err
	})
	must(t, func() error {
		_, err := svc.CreateTenant(ctx, app.Operator, "acme", app.TenantInput{ID: "t1", Name: "One",
			RedirectURL: "https://dash.example.test/t1", AllowedReturnURLs: []string{"https://dash.example.test/t1/"}})
		return err
	})
	must(t, func() error {
		_, err := svc.CreateTenant(ctx, app.Operator, "acme", app.TenantInput{ID: "t2", Name: "Two"})
		return err
	})
	must(t, func() error {
		var err error
		f.partner, err = svc.CreatePartner(ctx, app.Operator, "acme", app.PartnerInput{Name: "Portal"})
		return err
	})
	a, _ := keys(t)
	must(t, func() error {
		k, err := svc.AddKey(ctx, app.Operator, "acme", f.partner.ID, app.KeyInput{PEM: pubPEM(t, a)})
		f.kid = k.Kid
		return err
	})
	return f
}

func must(t testing.TB, fn func() error) {
	t.Helper()
	if err := fn(); err != nil {
		t.Fatal(err)
	}
}

// claims returns valid claims for alice in t1, expiring in 5 minutes.
func (f *fixture) claims() map[string]any {
	now := f.clock.Now()
	return map[string]any{
		"organizationId": "acme", "tenantId": "t1", "role": "admin", "email": "alice@example.com",
		"name": "Alice", "exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(),
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// signRaw signs arbitrary header and payload bytes with RS256, so tests can
// craft tokens no well-behaved library would produce.
func signRaw(t testing.TB, k *rsa.PrivateKey, header, payload string) string {
	t.Helper()
	input := b64([]byte(header)) + "." + b64([]byte(payload))
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(sig)
}

func (f *fixture) token(claims map[string]any) string {
	a, _ := keys(f.t)
	p, err := json.Marshal(claims)
	if err != nil {
		f.t.Fatal(err)
	}
	return signRaw(f.t, a, `{"alg":"RS256","typ":"JWT"}`, string(p))
}

// post sends a form-encoded sign-in.
func (f *fixture) post(form url.Values, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/sso/jwt", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return f.do(req)
}

func (f *fixture) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec
}

func (f *fixture) signIn(token string) *httptest.ResponseRecorder {
	return f.post(url.Values{"token": {token}})
}

func decodeError(t testing.TB, rec *httptest.ResponseRecorder) (code, message string) {
	t.Helper()
	var e struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"request_id"`
	}
	body, _ := io.ReadAll(rec.Body)
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body is not JSON: %q", body)
	}
	if e.RequestID == "" {
		t.Errorf("error body has no request_id: %s", body)
	}
	return e.Code, e.Message
}

// counts is what a sign-in could write.
type counts struct{ users, sessions int }

func (f *fixture) counts() counts {
	ctx := context.Background()
	users, _ := f.store.CountUsers(ctx, "acme", "")
	sessions, _ := f.store.CountActiveSessions(ctx, f.clock.Now())
	return counts{users, sessions}
}

func sessionCookie(rec *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}
