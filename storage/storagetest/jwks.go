package storagetest

import (
	"errors"
	"testing"
	"time"

	"gatehouse/storage"
)

// testSyncJWKSKeys: a partner's JWKS keys are replaced as a set together with
// the partner record; uploads and other partners' keys are never touched and
// win every kid or fingerprint collision.
func testSyncJWKSKeys(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s) // partner A has uploaded key kid-a (fp-a)
	keyB := storage.Key{Kid: "kid-b", OrgID: "org-1", PartnerID: "p-b", Fingerprint: "fp-b", Bits: 2048, DER: []byte{0x30, 2}, CreatedAt: t0}
	mustNil(t, "CreateKey B", s.CreateKey(ctx, keyB))
	jwk := func(kid, fp string, der byte, at time.Time) storage.Key {
		return storage.Key{Kid: kid, Fingerprint: fp, Bits: 2048, DER: []byte{0x30, der}, CreatedAt: at}
	}
	fetched := t0.Add(time.Minute)
	setURL := func(p storage.Partner) (storage.Partner, error) {
		p.JWKSURL, p.JWKSFetchedAt = "https://idp.example/jwks.json", fetched
		return p, nil
	}

	p, stored, err := s.SyncJWKSKeys(ctx, "org-1", "p-a", []storage.Key{
		jwk("j-1", "fp-j1", 10, t0),
		jwk("j-2", "fp-j2", 11, t0),
		jwk("kid-a", "fp-x", 12, t0), // kid of A's own upload
		jwk("kid-b", "fp-y", 13, t0), // kid of B's key
		jwk("j-3", "fp-b", 14, t0),   // B's public key under another kid
		jwk("j-1", "fp-z", 15, t0),   // repeated kid within the set
	}, setURL)
	mustNil(t, "SyncJWKSKeys", err)
	if p.JWKSURL == "" || !p.JWKSFetchedAt.Equal(fetched) || p.Name != fx.partnerA.Name {
		t.Errorf("returned partner = %+v", p)
	}
	want := []storage.Key{jwk("j-1", "fp-j1", 10, t0), jwk("j-2", "fp-j2", 11, t0)}
	for i := range want {
		want[i].OrgID, want[i].PartnerID, want[i].Source = "org-1", "p-a", storage.KeySourceJWKS
	}
	equal(t, "stored keys", stored, want)
	got, err := s.GetPartner(ctx, "org-1", "p-a")
	mustNil(t, "GetPartner", err)
	equal(t, "partner after sync", got, p)
	all, err := s.ListKeys(ctx, "org-1", "p-a")
	mustNil(t, "ListKeys", err)
	equal(t, "partner A's keys", all, []storage.Key{want[0], want[1], fx.key})
	b, err := s.GetKey(ctx, "org-1", "kid-b")
	mustNil(t, "GetKey kid-b", err)
	equal(t, "B's key untouched", b, keyB)

	// A refresh: j-1 unchanged keeps its CreatedAt, j-2 disappears, j-4 arrives.
	later := t0.Add(time.Hour)
	_, stored, err = s.SyncJWKSKeys(ctx, "org-1", "p-a", []storage.Key{jwk("j-1", "fp-j1", 10, later), jwk("j-4", "fp-j4", 16, later)},
		func(p storage.Partner) (storage.Partner, error) { p.JWKSFetchedAt = later; return p, nil })
	mustNil(t, "SyncJWKSKeys refresh", err)
	if len(stored) != 2 || !stored[0].CreatedAt.Equal(t0) || !stored[1].CreatedAt.Equal(later) {
		t.Errorf("refresh stored %+v; an unchanged key must keep its CreatedAt", stored)
	}
	_, err = s.GetKey(ctx, "org-1", "j-2")
	wantErr(t, "GetKey of a key gone from the set", err, storage.ErrNotFound)
	// The same kid with another key is a new key.
	_, stored, err = s.SyncJWKSKeys(ctx, "org-1", "p-a", []storage.Key{jwk("j-1", "fp-new", 17, later.Add(time.Hour))},
		func(p storage.Partner) (storage.Partner, error) { return p, nil })
	mustNil(t, "SyncJWKSKeys rotation under one kid", err)
	if len(stored) != 1 || !stored[0].CreatedAt.Equal(later.Add(time.Hour)) || stored[0].Fingerprint != "fp-new" {
		t.Errorf("rotated key = %+v", stored)
	}

	// fn's error aborts everything.
	_, _, err = s.SyncJWKSKeys(ctx, "org-1", "p-a", nil, func(p storage.Partner) (storage.Partner, error) { return p, errBoom })
	if !errors.Is(err, errBoom) {
		t.Fatalf("SyncJWKSKeys with failing fn = %v, want errBoom", err)
	}
	if _, err := s.GetKey(ctx, "org-1", "j-1"); err != nil {
		t.Errorf("a failed sync removed keys: %v", err)
	}

	// Clearing: no keys, the URL gone; the upload stays.
	_, stored, err = s.SyncJWKSKeys(ctx, "org-1", "p-a", nil, func(p storage.Partner) (storage.Partner, error) {
		p.JWKSURL, p.JWKSFetchedAt = "", time.Time{}
		return p, nil
	})
	mustNil(t, "SyncJWKSKeys clear", err)
	if len(stored) != 0 {
		t.Errorf("clear stored %d keys", len(stored))
	}
	all, err = s.ListKeys(ctx, "org-1", "p-a")
	mustNil(t, "ListKeys after clear", err)
	equal(t, "keys after clear", all, []storage.Key{fx.key})

	_, _, err = s.SyncJWKSKeys(ctx, "org-1", "p-missing", nil, func(p storage.Partner) (storage.Partner, error) { return p, nil })
	wantErr(t, "SyncJWKSKeys of a missing partner", err, storage.ErrNotFound)

	// Deactivation through a sync ends the partner's sessions, as UpdatePartner does.
	fx.signIn(t, "a@example.com", "s-a", t0)
	_, _, err = s.SyncJWKSKeys(ctx, "org-1", "p-a", nil, func(p storage.Partner) (storage.Partner, error) { p.Active = false; return p, nil })
	mustNil(t, "SyncJWKSKeys deactivating", err)
	sessionGone(t, s, "s-a")

	// Deleting the partner deletes its JWKS keys too.
	_, _, err = s.SyncJWKSKeys(ctx, "org-1", "p-b", []storage.Key{jwk("jb", "fp-jb", 20, t0)}, func(p storage.Partner) (storage.Partner, error) { return p, nil })
	mustNil(t, "SyncJWKSKeys B", err)
	mustNil(t, "DeletePartner B", s.DeletePartner(ctx, "org-1", "p-b"))
	_, err = s.GetKey(ctx, "org-1", "jb")
	wantErr(t, "GetKey of a deleted partner's JWKS key", err, storage.ErrNotFound)
}
