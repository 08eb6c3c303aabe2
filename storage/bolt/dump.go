package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"

	"gatehouse/storage"
)

var _ storage.Dumper = (*Store)(nil)

// Export walks every bucket inside one read transaction: one consistent
// snapshot, while sign-ins keep committing (bbolt readers never block the
// writer). fn runs inside that transaction, so it must not write to this
// store; writing to another store (a migration) is what it is for.
func (s *Store) Export(ctx context.Context, fn func(storage.Record) error) error {
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		each := func(name []byte, emit func(k, v []byte) error) error {
			return tx.Bucket(name).ForEach(func(k, v []byte) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				return emit(k, v)
			})
		}
		decode := func(v []byte, into any) error {
			if err := json.Unmarshal(v, into); err != nil {
				return fmt.Errorf("decode record: %w", err)
			}
			return nil
		}
		steps := []struct {
			bucket []byte
			emit   func(k, v []byte) error
		}{
			{bktOrgs, func(_, v []byte) error {
				var o storage.Org
				if err := decode(v, &o); err != nil {
					return err
				}
				return fn(storage.Record{Org: &o})
			}},
			{bktTenants, func(_, v []byte) error {
				var t storage.Tenant
				if err := decode(v, &t); err != nil {
					return err
				}
				return fn(storage.Record{Tenant: &t})
			}},
			{bktPartners, func(_, v []byte) error {
				var p storage.Partner
				if err := decode(v, &p); err != nil {
					return err
				}
				return fn(storage.Record{Partner: &p})
			}},
			{bktKeys, func(_, v []byte) error {
				var k storage.Key
				if err := decode(v, &k); err != nil {
					return err
				}
				return fn(storage.Record{Key: &k})
			}},
			{bktUsers, func(_, v []byte) error {
				var u storage.User
				if err := decode(v, &u); err != nil {
					return err
				}
				return fn(storage.Record{User: &u})
			}},
			{bktSessions, func(_, v []byte) error {
				var ss storage.Session
				if err := decSession(v, &ss); err != nil {
					return err
				}
				return fn(storage.Record{Session: &ss})
			}},
			{bktReplays, func(k, v []byte) error {
				if len(v) != 8 {
					return fmt.Errorf("replay marker %q: bad expiry", k)
				}
				return fn(storage.Record{Replay: &storage.Replay{Key: string(k), ExpiresAt: decTime(v)}})
			}},
			{bktLoginTokens, func(_, v []byte) error {
				var t storage.LoginToken
				if err := decode(v, &t); err != nil {
					return err
				}
				return fn(storage.Record{LoginToken: &t})
			}},
			{bktAdminTokens, func(_, v []byte) error {
				var t storage.AdminToken
				if err := decode(v, &t); err != nil {
					return err
				}
				return fn(storage.Record{AdminToken: &t})
			}},
			{bktSigning, func(_, v []byte) error {
				var k storage.SigningKeys
				if err := decode(v, &k); err != nil {
					return err
				}
				return fn(storage.Record{SigningKeys: &k})
			}},
			{bktAudit, func(_, v []byte) error {
				var e storage.AuditEvent
				if err := decode(v, &e); err != nil {
					return err
				}
				return fn(storage.Record{Audit: &e})
			}},
		}
		for _, st := range steps {
			if err := each(st.bucket, st.emit); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// Import writes every record in ONE write transaction, bypassing the group
// writer: a failed import rolls back to the empty store it started from.
// That transaction holds everything it writes in memory until it commits,
// which suits a migration tool, not a live server.
func (s *Store) Import(ctx context.Context, src func(put func(storage.Record) error) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	err := s.dbUpdate(func(tx *bbolt.Tx) error {
		if !isEmpty(tx) {
			return storage.ErrNotEmpty
		}
		var order storage.ImportOrder
		var lastSeq uint64
		lastHash := ""
		err := src(func(r storage.Record) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := order.Next(r); err != nil {
				return err
			}
			if r.Audit != nil {
				lastSeq, lastHash = r.Audit.Seq, r.Audit.Hash
			}
			return importRecord(tx, r)
		})
		if err != nil {
			return err
		}
		if lastSeq > 0 {
			if err := tx.Bucket(bktAudit).SetSequence(lastSeq); err != nil {
				return err
			}
			return tx.Bucket(bktMeta).Put(metaAuditHead, []byte(lastHash))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	return nil
}

// isEmpty reports whether no record bucket holds anything and the audit log
// never did (a log pruned to nothing still has a chain head and a Seq).
func isEmpty(tx *bbolt.Tx) bool {
	for _, name := range allBuckets {
		if string(name) == string(bktMeta) {
			continue
		}
		if k, _ := tx.Bucket(name).Cursor().First(); k != nil {
			return false
		}
	}
	return tx.Bucket(bktAudit).Sequence() == 0 && tx.Bucket(bktMeta).Get(metaAuditHead) == nil
}

// importRecord stores one record with the index entries the regular writes
// keep, checking identities and references the way they do.
func importRecord(tx *bbolt.Tx, r storage.Record) error {
	exists := func(bucket, key []byte, what string) error {
		if tx.Bucket(bucket).Get(key) != nil {
			return fmt.Errorf("%s %q: %w", what, key, storage.ErrExists)
		}
		return nil
	}
	switch {
	case r.Org != nil:
		if err := exists(bktOrgs, []byte(r.Org.ID), "org"); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bktOrgs), []byte(r.Org.ID), r.Org)
	case r.Tenant != nil:
		t := r.Tenant
		if tx.Bucket(bktOrgs).Get([]byte(t.OrgID)) == nil {
			return fmt.Errorf("tenant %q: org %q: %w", t.ID, t.OrgID, storage.ErrNotFound)
		}
		if err := exists(bktTenants, join(t.OrgID, t.ID), "tenant"); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bktTenants), join(t.OrgID, t.ID), t)
	case r.Partner != nil:
		p := *r.Partner
		if tx.Bucket(bktOrgs).Get([]byte(p.OrgID)) == nil {
			return fmt.Errorf("partner %q: org %q: %w", p.ID, p.OrgID, storage.ErrNotFound)
		}
		if err := exists(bktPartners, []byte(p.ID), "partner"); err != nil {
			return err
		}
		if err := checkPartnerIndexes(tx, p); err != nil {
			return err
		}
		if err := putPartnerIndexes(tx, nil, p); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bktPartners), []byte(p.ID), p)
	case r.Key != nil:
		k := r.Key
		if _, err := getPartner(tx, k.OrgID, k.PartnerID); err != nil {
			return fmt.Errorf("key %q: partner %q: %w", k.Kid, k.PartnerID, err)
		}
		if err := exists(bktKeys, join(k.OrgID, k.Kid), "key"); err != nil {
			return err
		}
		if err := indexKeyPrint(tx, *k); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bktKeys), join(k.OrgID, k.Kid), k)
	case r.User != nil:
		if err := exists(bktUsers, []byte(r.User.ID), "user"); err != nil {
			return err
		}
		var ws writeSet
		if err := planUser(tx, &ws, nil, *r.User); err != nil {
			return err
		}
		return ws.apply(tx)
	case r.Session != nil:
		ss := *r.Session
		if tx.Bucket(bktUsers).Get([]byte(ss.UserID)) == nil {
			return fmt.Errorf("session: user %q: %w", ss.UserID, storage.ErrNotFound)
		}
		data, err := encSession(ss)
		if err != nil {
			return err
		}
		return tx.Bucket(bktSessions).Put([]byte(ss.ID), data)
	case r.Replay != nil:
		return tx.Bucket(bktReplays).Put([]byte(r.Replay.Key), encTime(r.Replay.ExpiresAt))
	case r.LoginToken != nil:
		return putJSON(tx.Bucket(bktLoginTokens), []byte(r.LoginToken.ID), r.LoginToken)
	case r.AdminToken != nil:
		t := r.AdminToken
		if t.Hash != "" {
			if err := exists(bktAdminTokenIdx, []byte(t.Hash), "admin token hash"); err != nil {
				return err
			}
			if err := tx.Bucket(bktAdminTokenIdx).Put([]byte(t.Hash), []byte(t.ID)); err != nil {
				return err
			}
		}
		return putJSON(tx.Bucket(bktAdminTokens), []byte(t.ID), t)
	case r.SigningKeys != nil:
		if err := exists(bktSigning, signingKeysKey, "signing keys"); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bktSigning), signingKeysKey, r.SigningKeys)
	case r.Audit != nil:
		// Stored as given: Seq, PrevHash and Hash are the source's, and
		// HashEvent recomputes the same hash from the decoded event.
		return putJSON(bucket(tx, bktAudit), u64(r.Audit.Seq), r.Audit)
	}
	return nil
}

// decTime reverses encTime (in UTC; a clamped instant stays clamped).
func decTime(b []byte) time.Time {
	n := int64(binary.BigEndian.Uint64(b))
	if n == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// WriteCopy writes a consistent bbolt copy of any store to w: it exports src
// (one snapshot) into a fresh bbolt file in dir, checks it, and streams the
// file. It is how a PostgreSQL deployment keeps the one backup format.
func WriteCopy(ctx context.Context, src storage.Dumper, dir string, w io.Writer) (int64, error) {
	tmp, err := os.MkdirTemp(dir, ".gatehouse-copy-")
	if err != nil {
		return 0, fmt.Errorf("bbolt copy: %w", err)
	}
	defer os.RemoveAll(tmp)
	path := filepath.Join(tmp, "gatehouse.db")
	dst, err := Open(path, Options{NoGroupCommit: true})
	if err != nil {
		return 0, fmt.Errorf("bbolt copy: %w", err)
	}
	if _, err := storage.Copy(ctx, dst, src); err != nil {
		_ = dst.Close()
		return 0, fmt.Errorf("bbolt copy: %w", err)
	}
	if err := dst.Check(); err != nil {
		_ = dst.Close()
		return 0, fmt.Errorf("bbolt copy: %w", err)
	}
	n, err := dst.Backup(ctx, w)
	if cerr := dst.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return n, err
}
