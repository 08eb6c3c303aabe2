package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"gatehouse/app"
	"gatehouse/app/jwks"
	"gatehouse/storage/postgres"
	"gatehouse/storage/postgres/pgtest"
)

// TestJWKSSetSharedByInstances: on PostgreSQL (SPEC §7) a partner registered
// through one instance with a jwks_url signs in through another at once, from
// the set stored in the database, while the partner's key server is down; and
// a refresh made by one instance (a rotation) is what the other verifies with.
func TestJWKSSetSharedByInstances(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	openStore := func() *postgres.Store {
		s, err := postgres.Open(ctx, url, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a := newJWKSFixture(t, openStore())
	c, d := moreKeys(t)
	a.js.serve(jwkOf("c-1", &c.PublicKey))
	id := a.createJWKSPartner(t, "IdP")

	// Instance B: its own store connection, service and fetcher; same database and clock.
	storeB := openStore()
	svc, err := app.New(app.Options{Store: storeB, Config: a.svc.Config(), Now: a.clock.Now,
		JWKSFetcher: jwks.New(jwks.Options{Now: a.clock.Now})})
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
	b := &fixture{t: t, store: storeB, svc: svc, srv: srv, handler: h, clock: a.clock, logs: &strings.Builder{}}

	a.js.fail(503)
	hits := a.js.hits.Load()
	b.wantSignIn(t, "instance B, stored set, key server down", b.kidToken(c, "c-1"), 302, "")
	if a.js.hits.Load() != hits {
		t.Error("instance B fetched a set it already had in the database")
	}

	// A rotates (its refresh stores the new set); B verifies with it.
	a.js.serve(jwkOf("d-1", &d.PublicKey))
	a.clock.Advance(a.svc.Config().SSO.JWKSRefresh)
	if n, err := a.svc.RefreshDueJWKS(ctx); err != nil || n != 1 {
		t.Fatalf("refresh on A: %d %v", n, err)
	}
	a.js.fail(503)
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for i := 0; i < 40 && !ok(); i++ { // B's key cache lives at most 500 ms
			time.Sleep(50 * time.Millisecond)
		}
		if !ok() {
			t.Fatal(what)
		}
	}
	waitFor("instance B never verified with the set instance A refreshed", func() bool {
		return b.signIn(b.kidToken(d, "d-1")).Code == 302
	})
	if code := b.signIn(b.kidToken(c, "c-1")).Code; code != 401 {
		t.Errorf("instance B still accepts the key A's refresh dropped: %d", code)
	}
	ks := a.partnerKeys(t, id)
	if len(ks) != 1 || ks["d-1"]["source"] != "jwks" {
		t.Errorf("keys after A's refresh = %v", ks)
	}
}
