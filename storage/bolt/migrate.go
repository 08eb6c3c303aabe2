package bolt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"gatehouse/storage"
)

// migrations[v] turns a schema-v database into a schema-(v+1) one inside
// initSchema's transaction. Each must be idempotent: it may find its work
// already partly or wholly done and must then change nothing more.
var migrations = map[uint64]func(tx *bbolt.Tx) error{
	1: migrateOrgScopedEmails,
	2: migrateKeyPrints,
}

// bktV1UserEmails is schema 1's global email index (email → user id). Schema 2
// identifies users by (organization, email), which org_users already indexes.
var bktV1UserEmails = []byte("user_emails")

// migrateOrgScopedEmails (1 → 2) makes org_users the only email index: every
// user is checked against it (a missing or stale entry is rewritten from the
// user record, an entry whose user is gone is removed), then the global
// user_emails bucket is dropped, so the same address can exist once per
// organization. Two users of one organization with one email cannot come
// from a schema-1 file (its index was global); finding them anyway is
// refused rather than guessed at.
func migrateOrgScopedEmails(tx *bbolt.Tx) error {
	users := tx.Bucket(bktUsers)
	index, err := tx.CreateBucketIfNotExists(bktOrgUsers)
	if err != nil {
		return fmt.Errorf("create %s: %w", bktOrgUsers, err)
	}
	if users != nil {
		n, fixes, err := checkOrgUsersIndex(users, index)
		if err != nil {
			return err
		}
		for _, f := range fixes {
			if cur := index.Get(f.key); cur != nil && userOwnsEntry(users, f.key, cur) {
				return fmt.Errorf("users %q and %q share one email in one organization (%q)", indexedUserID(cur), indexedUserID(f.val), f.key)
			}
			if err := index.Put(f.key, f.val); err != nil {
				return err
			}
		}
		// Every user now has its entry; more entries than users means some
		// point at users that are gone or changed: drop those.
		if index.Stats().KeyN != n {
			var dangling [][]byte
			_ = index.ForEach(func(k, v []byte) error {
				if !userOwnsEntry(users, k, v) {
					dangling = append(dangling, bytes.Clone(k))
				}
				return nil
			})
			for _, k := range dangling {
				if err := index.Delete(k); err != nil {
					return err
				}
			}
		}
	}
	if err := tx.DeleteBucket(bktV1UserEmails); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
		return fmt.Errorf("drop %s: %w", bktV1UserEmails, err)
	}
	return nil
}

type indexFix struct{ key, val []byte }

// checkOrgUsersIndex counts the users and lists the org_users entries that
// are missing or stale. It only reads: bbolt forbids writing a bucket while
// a cursor walks it, and the list is usually empty.
func checkOrgUsersIndex(users, index *bbolt.Bucket) (int, []indexFix, error) {
	n := 0
	var fixes []indexFix
	err := users.ForEach(func(id, data []byte) error {
		var u storage.User
		if err := json.Unmarshal(data, &u); err != nil {
			return fmt.Errorf("user %q: %w", id, err)
		}
		if u.OrgID == "" || u.Email == "" || u.ID != string(id) {
			return fmt.Errorf("user %q: record has no organization, email or matching id", id)
		}
		n++
		key, want := join(u.OrgID, u.Email), join(u.TenantID, u.ID)
		if !bytes.Equal(index.Get(key), want) {
			fixes = append(fixes, indexFix{key, want})
		}
		return nil
	})
	return n, fixes, err
}

// userOwnsEntry reports whether the org_users entry k → v is the one its
// user's record implies.
func userOwnsEntry(users *bbolt.Bucket, k, v []byte) bool {
	data := users.Get(indexedUserID(v))
	if data == nil {
		return false
	}
	var u storage.User
	if json.Unmarshal(data, &u) != nil {
		return false
	}
	return bytes.Equal(k, join(u.OrgID, u.Email)) && bytes.Equal(v, join(u.TenantID, u.ID))
}
