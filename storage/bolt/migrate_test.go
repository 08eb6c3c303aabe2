package bolt

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"gatehouse/storage"
)

// downgradeToV1 turns a closed schema-2 file back into the schema-1 layout
// (version 1, a global email index built from the users) and then lets
// tamper damage it, the way a half-maintained index might look.
func downgradeToV1(t *testing.T, path string, tamper func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	mustNil(t, err)
	defer db.Close()
	mustNil(t, db.Update(func(tx *bbolt.Tx) error {
		mustNil(t, tx.Bucket(bktMeta).Put(metaVersion, u64(1)))
		global, err := tx.CreateBucketIfNotExists(bktV1UserEmails)
		mustNil(t, err)
		mustNil(t, tx.Bucket(bktUsers).ForEach(func(id, data []byte) error {
			var u storage.User
			mustNil(t, json.Unmarshal(data, &u))
			return global.Put([]byte(u.Email), id)
		}))
		if tamper != nil {
			return tamper(tx)
		}
		return nil
	}))
}

func orgUsersIndex(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	mustNil(t, s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bktOrgUsers).ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	}))
	return out
}

func TestMigrateV1RepairsTheEmailIndex(t *testing.T) {
	s, path := openTemp(t, Options{})
	seed(t, s)
	ctx := t.Context()
	for _, e := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		mustNil(t, s.CreateUser(ctx, storage.User{ID: "u-" + e, Email: e, OrgID: "o1", TenantID: "t1", CreatedAt: t0}))
	}
	want := orgUsersIndex(t, s)
	mustNil(t, s.Close())

	downgradeToV1(t, path, func(tx *bbolt.Tx) error {
		idx := tx.Bucket(bktOrgUsers)
		mustNil(t, idx.Delete(join("o1", "a@example.com")))                                  // missing
		mustNil(t, idx.Put(join("o1", "b@example.com"), join("t-stale", "u-b@example.com"))) // stale tenant
		mustNil(t, idx.Put(join("o1", "gone@example.com"), join("t1", "u-gone")))            // user is gone
		mustNil(t, idx.Put(join("o9", "c@example.com"), join("t1", "u-c@example.com")))      // wrong org
		return nil
	})

	r, err := Open(path, Options{})
	mustNil(t, err)
	defer r.Close()
	if got := orgUsersIndex(t, r); len(got) != len(want) {
		t.Errorf("index after migration %q, want %q", got, want)
	} else {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("index[%q] = %q, want %q", k, got[k], v)
			}
		}
	}
	mustNil(t, r.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bktV1UserEmails) != nil {
			t.Error("schema 1's global email index survived the migration")
		}
		if v := tx.Bucket(bktMeta).Get(metaVersion); !bytes.Equal(v, u64(formatVersion)) {
			t.Errorf("version %x after migration, want %d", v, formatVersion)
		}
		return nil
	}))
	for _, e := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		u, err := r.GetUserByEmail(ctx, "o1", e)
		if err != nil || u.ID != "u-"+e {
			t.Errorf("%s after migration: %q, %v", e, u.ID, err)
		}
	}
	mustNil(t, r.Check())
}

// A migration that meets data it cannot place refuses, names the problem and
// leaves the file exactly as it was (one transaction).
func TestMigrateV1RefusesDuplicateEmails(t *testing.T) {
	s, path := openTemp(t, Options{})
	seed(t, s)
	mustNil(t, s.CreateUser(t.Context(), storage.User{ID: "u-1", Email: "dup@example.com", OrgID: "o1", TenantID: "t1", CreatedAt: t0}))
	mustNil(t, s.Close())
	downgradeToV1(t, path, func(tx *bbolt.Tx) error {
		b, _ := json.Marshal(storage.User{ID: "u-2", Email: "dup@example.com", OrgID: "o1", TenantID: "t1", CreatedAt: t0})
		return tx.Bucket(bktUsers).Put([]byte("u-2"), b)
	})
	before, err := os.ReadFile(path)
	mustNil(t, err)

	r, err := Open(path, Options{})
	if err == nil {
		r.Close()
		t.Fatal("Open migrated a file with two users of one email in one organization")
	}
	for _, want := range []string{"migrate schema 1 → 2", "u-1", "u-2", path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	after, err := os.ReadFile(path)
	mustNil(t, err)
	if !bytes.Equal(before, after) {
		t.Error("the refused migration changed the file")
	}
}

// TestMigrationsCoverEveryVersion: each version below formatVersion has a
// migration, so no released file can be stranded.
func TestMigrationsCoverEveryVersion(t *testing.T) {
	for v := uint64(1); v < formatVersion; v++ {
		if migrations[v] == nil {
			t.Errorf("no migration from schema %d", v)
		}
	}
	if _, err := os.Stat(filepath.Join("testdata", "v1", "gatehouse.db")); err != nil {
		t.Errorf("the schema-1 fixture is missing: %v", err)
	}
}
