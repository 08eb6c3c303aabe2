package bolt

import (
	"bytes"
	"encoding/json"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"gatehouse/storage"
)

// bktKeyPrints indexes public keys by fingerprint within an organization
// (org\0fingerprint → kid), so "one public key, one owner" is checked in the
// same transaction as the key's write. The fingerprint is taken over the
// canonical PKIX encoding of (n, e), so it names the same keys the RFC 7638
// thumbprint does.
var bktKeyPrints = []byte("key_prints")

// keyPrintOwner is the kid holding fingerprint fp in org, or nil.
func keyPrintOwner(tx *bbolt.Tx, orgID, fp string) []byte {
	if fp == "" {
		return nil
	}
	return tx.Bucket(bktKeyPrints).Get(join(orgID, fp))
}

// putKey writes a new key and its fingerprint entry; ErrExists when the kid
// or the public key is already in the organization.
func putKey(tx *bbolt.Tx, k storage.Key) error {
	b := tx.Bucket(bktKeys)
	if b.Get(join(k.OrgID, k.Kid)) != nil {
		return storage.ErrExists
	}
	if owner := keyPrintOwner(tx, k.OrgID, k.Fingerprint); owner != nil {
		return fmt.Errorf("the same public key is kid %q: %w", owner, storage.ErrExists)
	}
	if k.Fingerprint != "" {
		if err := tx.Bucket(bktKeyPrints).Put(join(k.OrgID, k.Fingerprint), []byte(k.Kid)); err != nil {
			return err
		}
	}
	return putJSON(b, join(k.OrgID, k.Kid), k)
}

// deleteKey removes a key and its fingerprint entry. A file written before
// the index existed may hold one public key under two kids; the entry then
// moves to the key that remains, so the index never forgets a stored key.
func deleteKey(tx *bbolt.Tx, orgID, kid string) error {
	b := tx.Bucket(bktKeys)
	data := b.Get(join(orgID, kid))
	if data == nil {
		return storage.ErrNotFound
	}
	var k storage.Key
	if err := json.Unmarshal(data, &k); err != nil {
		return fmt.Errorf("decode key %q: %w", kid, err)
	}
	if err := b.Delete(join(orgID, kid)); err != nil {
		return err
	}
	if k.Fingerprint == "" || !bytes.Equal(keyPrintOwner(tx, orgID, k.Fingerprint), []byte(kid)) {
		return nil
	}
	prints := tx.Bucket(bktKeyPrints)
	if err := prints.Delete(join(orgID, k.Fingerprint)); err != nil {
		return err
	}
	var heir []byte
	err := scanPrefix(b, prefix(orgID), func(_, v []byte) error {
		var other storage.Key
		if err := json.Unmarshal(v, &other); err != nil {
			return fmt.Errorf("decode key: %w", err)
		}
		if heir == nil && other.Fingerprint == k.Fingerprint {
			heir = []byte(other.Kid)
		}
		return nil
	})
	if err != nil || heir == nil {
		return err
	}
	return prints.Put(join(orgID, k.Fingerprint), heir)
}

// indexKeyPrint records an imported or migrated key's fingerprint unless
// another kid already holds it (an old file's duplicate is kept, not lost).
func indexKeyPrint(tx *bbolt.Tx, k storage.Key) error {
	if k.Fingerprint == "" {
		return nil
	}
	if owner := keyPrintOwner(tx, k.OrgID, k.Fingerprint); owner != nil && tx.Bucket(bktKeys).Get(join(k.OrgID, string(owner))) != nil {
		return nil
	}
	return tx.Bucket(bktKeyPrints).Put(join(k.OrgID, k.Fingerprint), []byte(k.Kid))
}

// migrateKeyPrints (2 → 3) builds the fingerprint index from the stored keys.
// It is idempotent: an entry that already names a stored key is kept.
func migrateKeyPrints(tx *bbolt.Tx) error {
	if _, err := tx.CreateBucketIfNotExists(bktKeyPrints); err != nil {
		return fmt.Errorf("create %s: %w", bktKeyPrints, err)
	}
	keys := tx.Bucket(bktKeys)
	if keys == nil {
		return nil
	}
	var all []storage.Key
	err := keys.ForEach(func(id, v []byte) error {
		var k storage.Key
		if err := json.Unmarshal(v, &k); err != nil {
			return fmt.Errorf("key %q: %w", id, err)
		}
		all = append(all, k)
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range all {
		if err := indexKeyPrint(tx, k); err != nil {
			return err
		}
	}
	return nil
}
