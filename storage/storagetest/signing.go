package storagetest

import (
	"errors"
	"testing"
	"time"

	"gatehouse/storage"
)

func signingKey(kid string, at time.Time) storage.SigningKey {
	return storage.SigningKey{Kid: kid, Private: &storage.Sealed{Version: 1, Nonce: []byte("n-" + kid), Ciphertext: []byte("c-" + kid)},
		Public: []byte("pub-" + kid), CreatedAt: at}
}

func testSigningKeys(t *testing.T, s storage.Store) {
	ctx := t.Context()
	_, err := s.GetSigningKeys(ctx)
	wantErr(t, "GetSigningKeys on an empty store", err, storage.ErrNotFound)

	// First start: fn sees nil and creates.
	first := storage.SigningKeys{Current: signingKey("k1", t0), SIDSecret: &storage.Sealed{Version: 1, Nonce: []byte("sn"), Ciphertext: []byte("sc")}}
	got, err := s.UpdateSigningKeys(ctx, func(cur *storage.SigningKeys) (storage.SigningKeys, error) {
		if cur != nil {
			t.Errorf("fn got %+v on an empty store", *cur)
		}
		return first, nil
	})
	mustNil(t, "UpdateSigningKeys create", err)
	equal(t, "created", got, first)
	stored, err := s.GetSigningKeys(ctx)
	mustNil(t, "GetSigningKeys", err)
	equal(t, "stored", stored, first)

	// A second "first start" keeps what is there.
	got, err = s.UpdateSigningKeys(ctx, func(cur *storage.SigningKeys) (storage.SigningKeys, error) {
		if cur == nil {
			t.Fatal("fn got nil with a key stored")
		}
		return *cur, nil
	})
	mustNil(t, "UpdateSigningKeys keep", err)
	equal(t, "kept", got, first)

	// Rotation: one atomic swap.
	rotatedAt := t0.Add(time.Hour)
	got, err = s.UpdateSigningKeys(ctx, func(cur *storage.SigningKeys) (storage.SigningKeys, error) {
		prev := cur.Current
		cur.Previous, cur.Current, cur.RotatedAt = &prev, signingKey("k2", rotatedAt), rotatedAt
		return *cur, nil
	})
	mustNil(t, "UpdateSigningKeys rotate", err)
	stored, err = s.GetSigningKeys(ctx)
	mustNil(t, "GetSigningKeys", err)
	equal(t, "rotated", stored, got)
	if stored.Current.Kid != "k2" || stored.Previous == nil || stored.Previous.Kid != "k1" || !stored.RotatedAt.Equal(rotatedAt) {
		t.Fatalf("after rotation %+v", stored)
	}
	// The caller's copy is not the store's: changing it changes nothing stored.
	got.Current.Public[0] = 'X'
	again, _ := s.GetSigningKeys(ctx)
	equal(t, "isolated", again, stored)

	// fn's error comes back as is, nothing written.
	_, err = s.UpdateSigningKeys(ctx, func(*storage.SigningKeys) (storage.SigningKeys, error) {
		return storage.SigningKeys{}, errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Errorf("UpdateSigningKeys with a failing fn: %v", err)
	}
	again, _ = s.GetSigningKeys(ctx)
	equal(t, "unchanged", again, stored)
}
