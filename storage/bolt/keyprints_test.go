package bolt_test

import (
	"context"
	"errors"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"gatehouse/storage"
	"gatehouse/storage/bolt"
)

// TestUpgradeIndexesKeyFingerprints: a schema-1 file (written by the release
// before the fingerprint index) comes out of the upgrade with every stored
// key indexed, so re-adding one of its public keys under a new kid, in
// either partner, is refused.
func TestUpgradeIndexesKeyFingerprints(t *testing.T) {
	m, path := loadV1(t)
	store, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	checked := 0
	for _, p := range m.Partners {
		if p.Kid == "" {
			continue
		}
		k, err := store.GetKey(ctx, p.OrgID, p.Kid)
		if err != nil {
			t.Fatalf("key %s of %s: %v", p.Kid, p.OrgID, err)
		}
		dup := k
		dup.Kid = "copy-of-" + p.Kid
		if err := store.CreateKey(ctx, dup); !errors.Is(err, storage.ErrExists) {
			t.Errorf("the upgraded file let the same public key in again as %s: %v", dup.Kid, err)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("the v1 fixture names no keys")
	}
}

// TestKeyPrintIndexSurvivesOldDuplicates: a file that already holds one
// public key under two kids (possible before the index) opens; deleting one
// leaves the other indexed, deleting both frees the key.
func TestKeyPrintIndexSurvivesOldDuplicates(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/gatehouse.db"
	store, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateOrg(ctx, storage.Org{ID: "o"}); err != nil {
		t.Fatal(err)
	}
	if err := store.CreatePartner(ctx, storage.Partner{ID: "p", OrgID: "o", Name: "P", ConsumerKey: "ck"}); err != nil {
		t.Fatal(err)
	}
	a := storage.Key{Kid: "a", OrgID: "o", PartnerID: "p", Fingerprint: "SHA256:ff", DER: []byte{1}}
	if err := store.CreateKey(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	// Write the duplicate behind the index's back, as an old release could
	// have, and drop the index as a schema-2 file would not have it.
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("keys"))
		if err := b.Put([]byte("o\x00b"), []byte(`{"kid":"b","org_id":"o","partner_id":"p","fingerprint":"SHA256:ff","der":"AQ=="}`)); err != nil {
			return err
		}
		if err := tx.DeleteBucket([]byte("key_prints")); err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Put([]byte("version"), []byte{0, 0, 0, 0, 0, 0, 0, 2})
	})
	if err != nil || db.Close() != nil {
		t.Fatal(err)
	}
	store, err = bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("a file with an old duplicate key must open: %v", err)
	}
	defer store.Close()
	c := a
	c.Kid = "c"
	for _, del := range []string{"a", "b"} {
		if err := store.CreateKey(ctx, c); !errors.Is(err, storage.ErrExists) {
			t.Fatalf("before deleting %s: the duplicate key got in as c: %v", del, err)
		}
		if err := store.DeleteKey(ctx, "o", del); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.CreateKey(ctx, c); err != nil {
		t.Fatalf("both copies deleted, the key must be free: %v", err)
	}
	if err := store.Check(); err != nil {
		t.Error(err)
	}
}
