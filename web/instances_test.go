package web

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/app"
	"gatehouse/storage"
	"gatehouse/storage/memory"
)

// freshness is SPEC §7's bound: a change made through one instance applies
// on every instance within 1 second of the change's answer.
const freshness = time.Second

// instance is a second Gatehouse on the fixture's database: its own Service
// (own caches), Server and public handler, sharing only the store's data.
type instance struct {
	svc     *app.Service
	handler http.Handler
}

func (f *fixture) peer(t *testing.T, store storage.Store) *instance {
	t.Helper()
	ring, err := app.NewKeyRing(map[int][]byte{1: make([]byte, 32)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := app.New(app.Options{Store: store, Config: f.svc.Config(), KeyRing: ring, Now: f.clock.Now,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Service: svc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h, err := srv.PublicHandler()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.RunChangeFeed(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &instance{svc: svc, handler: h}
}

func (in *instance) signIn(token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/sso/jwt", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	in.handler.ServeHTTP(rec, req)
	return rec
}

func verifyOn(h http.Handler, c *http.Cookie) int {
	req := httptest.NewRequest(http.MethodGet, "/auth/verify", nil)
	req.AddCookie(c)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// within polls cond until it holds, failing the test when it still does
// not hold freshness after since (the moment the change was answered).
func within(t *testing.T, what string, since time.Time, cond func() bool) {
	t.Helper()
	for {
		if cond() {
			t.Logf("%s: seen after %v", what, time.Since(since).Round(time.Millisecond))
			return
		}
		if time.Since(since) > freshness {
			t.Fatalf("%s: not seen on the other instance %v after the change", what, freshness)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runTwoInstances checks SPEC §7's contract across two instances whose
// stores share one database: A is the fixture's instance, B a peer on
// storeB. Every change is made on A and must be seen on B in time.
func runTwoInstances(t *testing.T, storeA, storeB storage.Store) {
	f := newFixtureWithStore(t, storeA)
	b := f.peer(t, storeB)
	ctx := context.Background()
	_, keyB := keys(t)
	jti := 0
	tokenWith := func(key, tenant, role, email string) string {
		jti++
		c := f.claims()
		c["tenantId"], c["role"], c["email"], c["jti"] = tenant, role, email, fmt.Sprintf("jti-%d-%d", time.Now().UnixNano(), jti)
		p, _ := json.Marshal(c)
		k, _ := keys(t)
		if key == "b" {
			k = keyB
		}
		return signRaw(t, k, `{"alg":"RS256","typ":"JWT"}`, string(p))
	}

	// A session made on B is known on A; a jti used on B is refused on A.
	tok := tokenWith("a", "t1", "admin", "alice@example.com")
	rec := b.signIn(tok)
	if rec.Code != http.StatusFound {
		t.Fatalf("sign-in on B: %d %s", rec.Code, rec.Body)
	}
	cookie := sessionCookie(rec, f.srv.cookie.name)
	if code := verifyOn(f.handler, cookie); code != http.StatusOK {
		t.Fatalf("B's session on A: forward-auth %d", code)
	}
	if code := f.signIn(tok).Code; code != http.StatusUnauthorized {
		t.Errorf("a jti used on B, replayed on A: %d, want 401", code)
	}

	// Key upload on A: B verifies tokens of the new key.
	kv, err := f.svc.AddKey(ctx, app.Operator, "acme", f.partner.ID, app.KeyInput{PEM: pubPEM(t, keyB)})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	within(t, "key upload", at, func() bool {
		return b.signIn(tokenWith("b", "t1", "admin", "bob@example.com")).Code == http.StatusFound
	})

	// Key removal on A: B refuses the removed key's tokens.
	if err := f.svc.DeleteKey(ctx, app.Operator, "acme", f.partner.ID, f.kid); err != nil {
		t.Fatal(err)
	}
	at = time.Now()
	within(t, "key removal", at, func() bool {
		return b.signIn(tokenWith("a", "t1", "admin", "carol@example.com")).Code == http.StatusUnauthorized
	})
	_ = kv

	// Policy change on A: B applies it.
	if _, err := f.svc.UpdatePartner(ctx, app.Operator, "acme", f.partner.ID, app.PartnerPatch{
		PartnerPolicies: app.PartnerPolicies{AllowedRoles: app.Val([]string{"readOnly"})}}); err != nil {
		t.Fatal(err)
	}
	at = time.Now()
	within(t, "policy change", at, func() bool {
		return b.signIn(tokenWith("b", "t1", "admin", "dave@example.com")).Code == http.StatusForbidden
	})

	// Tenant change on A: B redirects to the new URL.
	if _, err := f.svc.UpdateTenant(ctx, app.Operator, "acme", "t2", app.TenantPatch{RedirectURL: app.Val("https://moved.example.test/t2")}); err != nil {
		t.Fatal(err)
	}
	at = time.Now()
	within(t, "tenant change", at, func() bool {
		r := b.signIn(tokenWith("b", "t2", "readOnly", "erin@example.com"))
		return r.Code == http.StatusFound && r.Header().Get("Location") == "https://moved.example.test/t2"
	})

	// User deletion on A: the user's session made on B dies on B.
	rec = b.signIn(tokenWith("b", "t1", "readOnly", "frank@example.com"))
	if rec.Code != http.StatusFound {
		t.Fatalf("sign-in on B: %d %s", rec.Code, rec.Body)
	}
	frank := sessionCookie(rec, f.srv.cookie.name)
	id, err := b.svc.Authenticate(ctx, frank.Value)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DeleteUser(ctx, app.Operator, "acme", id.User.ID); err != nil {
		t.Fatal(err)
	}
	at = time.Now()
	within(t, "user deletion", at, func() bool { return verifyOn(b.handler, frank) == http.StatusUnauthorized })

	// Partner deactivation on A: sessions it signed in die on B, and B
	// refuses its sign-ins.
	rec = b.signIn(tokenWith("b", "t1", "readOnly", "grace@example.com"))
	if rec.Code != http.StatusFound {
		t.Fatalf("sign-in on B: %d %s", rec.Code, rec.Body)
	}
	grace := sessionCookie(rec, f.srv.cookie.name)
	if _, err := f.svc.DeactivatePartner(ctx, app.Operator, "acme", f.partner.ID); err != nil {
		t.Fatal(err)
	}
	at = time.Now()
	within(t, "partner deactivation (sessions)", at, func() bool { return verifyOn(b.handler, grace) == http.StatusUnauthorized })
	within(t, "partner deactivation (sign-ins)", at, func() bool {
		return b.signIn(tokenWith("b", "t1", "readOnly", "heidi@example.com")).Code != http.StatusFound
	})
}

// TestTwoInstancesOneMemoryStore: two Services (two sets of caches) on one
// store, with no change feed at all: the cache TTL alone keeps B within
// the 1-second rule. The PostgreSQL run (storage/postgres) adds LISTEN/NOTIFY.
func TestTwoInstancesOneMemoryStore(t *testing.T) {
	s := memory.New()
	runTwoInstances(t, s, s)
}
