package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/storage"
)

var _ storage.Dumper = (*Store)(nil)

// dumpTimeout bounds Export, Import and Backup when the caller set no
// deadline: they move the whole database, which the per-query default is
// not sized for.
const dumpTimeout = 30 * time.Minute

// exportQueries read every kind in storage.RecordKinds order, each ordered
// like the other backends' exports.
var exportQueries = []struct {
	kind string
	sql  string
}{
	{storage.KindOrgs, "SELECT data, NULL::timestamptz FROM orgs ORDER BY id"},
	{storage.KindTenants, "SELECT data, NULL::timestamptz FROM tenants ORDER BY org_id, id"},
	{storage.KindPartners, "SELECT data, NULL::timestamptz FROM partners ORDER BY id"},
	{storage.KindKeys, "SELECT data, last_used_at FROM keys ORDER BY org_id, kid"},
	{storage.KindUsers, "SELECT data, NULL::timestamptz FROM users ORDER BY id"},
	{storage.KindSessions, "SELECT data, NULL::timestamptz FROM sessions ORDER BY id"},
	{storage.KindReplays, "SELECT json_build_object('Key', key), expires_at FROM replays ORDER BY key"},
	{storage.KindLoginTokens, "SELECT data, NULL::timestamptz FROM login_tokens ORDER BY id"},
	{storage.KindAdminTokens, "SELECT data, last_used_at FROM admin_tokens ORDER BY id"},
	{storage.KindSigningKeys, "SELECT data, NULL::timestamptz FROM signing_keys WHERE data IS NOT NULL"},
	{storage.KindAudit, "SELECT data, NULL::timestamptz FROM audit ORDER BY seq"},
}

// Export calls fn for every record from one REPEATABLE READ, READ ONLY
// transaction: one snapshot of the whole database, which blocks no writer on
// any instance while it is read.
func (s *Store) Export(ctx context.Context, fn func(storage.Record) error) error {
	ctx, cancel := withDefaultDeadline(ctx, dumpTimeout)
	defer cancel()
	var fnErr error
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		// fn may be slow (it writes another store): the snapshot must
		// outlive the guard against transactions left idle.
		if _, err := tx.Exec(ctx, "SET LOCAL idle_in_transaction_session_timeout = 0"); err != nil {
			return err
		}
		for _, q := range exportQueries {
			rows, err := tx.Query(ctx, q.sql)
			if err != nil {
				return err
			}
			for rows.Next() {
				var raw []byte
				var at *time.Time
				if err := rows.Scan(&raw, &at); err != nil {
					rows.Close()
					return err
				}
				r, err := decodeRecord(q.kind, raw, at)
				if err != nil {
					rows.Close()
					return err
				}
				if err := fn(r); err != nil {
					rows.Close()
					fnErr = err
					return err
				}
			}
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if fnErr != nil {
		return fnErr // as is, per the contract
	}
	if err != nil {
		return fmt.Errorf("export: %w", classify(err))
	}
	return nil
}

// decodeRecord builds a Record of kind from its data column; at is the
// row's separately kept instant (a key's or admin token's last use, a replay
// marker's expiry).
func decodeRecord(kind string, raw []byte, at *time.Time) (storage.Record, error) {
	var r storage.Record
	var target any
	switch kind {
	case storage.KindOrgs:
		r.Org = &storage.Org{}
		target = r.Org
	case storage.KindTenants:
		r.Tenant = &storage.Tenant{}
		target = r.Tenant
	case storage.KindPartners:
		r.Partner = &storage.Partner{}
		target = r.Partner
	case storage.KindKeys:
		r.Key = &storage.Key{}
		target = r.Key
	case storage.KindUsers:
		r.User = &storage.User{}
		target = r.User
	case storage.KindSessions:
		r.Session = &storage.Session{}
		target = r.Session
	case storage.KindReplays:
		r.Replay = &storage.Replay{}
		target = r.Replay
	case storage.KindLoginTokens:
		r.LoginToken = &storage.LoginToken{}
		target = r.LoginToken
	case storage.KindAdminTokens:
		r.AdminToken = &storage.AdminToken{}
		target = r.AdminToken
	case storage.KindSigningKeys:
		r.SigningKeys = &storage.SigningKeys{}
		target = r.SigningKeys
	case storage.KindAudit:
		r.Audit = &storage.AuditEvent{}
		target = r.Audit
	}
	if err := json.Unmarshal(raw, target); err != nil {
		return r, fmt.Errorf("decode %s record: %w", kind, err)
	}
	if at != nil {
		switch {
		case r.Key != nil:
			r.Key.LastUsedAt = utc(*at)
		case r.AdminToken != nil:
			r.AdminToken.LastUsedAt = utc(*at)
		case r.Replay != nil:
			r.Replay.ExpiresAt = utc(*at)
		}
	}
	return r, nil
}

// importBatch is how many records Import sends per round trip.
const importBatch = 500

// Import stores src's records in ONE transaction, so a failed import leaves
// the database empty. The destination must be empty, its audit chain too
// (a pruned log still counts: its head has moved). References are checked
// by the schema's foreign keys, uniqueness by its unique indexes, as for
// the regular writes.
func (s *Store) Import(ctx context.Context, src func(put func(storage.Record) error) error) error {
	ctx, cancel := withDefaultDeadline(ctx, dumpTimeout)
	defer cancel()
	var srcErr error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL idle_in_transaction_session_timeout = 0"); err != nil {
			return err
		}
		// Lock the chain head first: two imports (or an import and an
		// append) into one database cannot interleave.
		var seq int64
		if err := tx.QueryRow(ctx, "SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE").Scan(&seq); err != nil {
			return err
		}
		var empty bool
		if err := tx.QueryRow(ctx, `SELECT NOT (EXISTS (SELECT 1 FROM orgs) OR EXISTS (SELECT 1 FROM tenants)
			OR EXISTS (SELECT 1 FROM partners) OR EXISTS (SELECT 1 FROM keys) OR EXISTS (SELECT 1 FROM users)
			OR EXISTS (SELECT 1 FROM sessions) OR EXISTS (SELECT 1 FROM replays) OR EXISTS (SELECT 1 FROM login_tokens)
			OR EXISTS (SELECT 1 FROM admin_tokens) OR EXISTS (SELECT 1 FROM audit)
			OR EXISTS (SELECT 1 FROM signing_keys WHERE data IS NOT NULL))`).Scan(&empty); err != nil {
			return err
		}
		if !empty || seq != 0 {
			return storage.ErrNotEmpty
		}
		var order storage.ImportOrder
		var last *storage.AuditEvent
		b := &pgx.Batch{}
		flush := func() error {
			if b.Len() == 0 {
				return nil
			}
			err := tx.SendBatch(ctx, b).Close()
			b = &pgx.Batch{}
			return err
		}
		err := src(func(r storage.Record) error {
			if err := order.Next(r); err != nil {
				return err
			}
			if err := queueRecord(b, r); err != nil {
				return err
			}
			if r.Audit != nil {
				last = r.Audit
			}
			if b.Len() >= importBatch {
				return flush()
			}
			return nil
		})
		if err != nil {
			srcErr = err
			return err
		}
		if err := flush(); err != nil {
			return err
		}
		if last != nil {
			if _, err := tx.Exec(ctx, "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", int64(last.Seq), last.Hash); err != nil {
				return err
			}
		}
		return nil
	})
	if srcErr != nil {
		return fmt.Errorf("import: %w", srcErr)
	}
	if err != nil {
		return fmt.Errorf("import: %w", classify(err))
	}
	return nil
}

// queueRecord adds the insert of one record to b, as the regular writes
// would store it.
func queueRecord(b *pgx.Batch, r storage.Record) error {
	var data []byte
	var err error
	switch {
	case r.Org != nil:
		if data, err = encode(r.Org); err == nil {
			b.Queue("INSERT INTO orgs (id, data) VALUES ($1, $2)", r.Org.ID, data)
		}
	case r.Tenant != nil:
		if data, err = encode(r.Tenant); err == nil {
			b.Queue("INSERT INTO tenants (org_id, id, data) VALUES ($1, $2, $3)", r.Tenant.OrgID, r.Tenant.ID, data)
		}
	case r.Partner != nil:
		p := r.Partner
		if data, err = encode(p); err == nil {
			b.Queue(`INSERT INTO partners (org_id, id, name, consumer_key, active, data) VALUES ($1, $2, $3, $4, $5, $6)`,
				p.OrgID, p.ID, p.Name, p.ConsumerKey, p.Active, data)
		}
	case r.Key != nil:
		k := r.Key
		if data, err = encode(k); err == nil {
			// An old file's second copy of one public key is kept, outside the
			// fingerprint index (as the migration keeps it), never refused.
			b.Queue(`INSERT INTO keys (org_id, kid, partner_id, last_used_at, data, fingerprint)
				SELECT $1, $2, $3, $4, $5, CASE WHEN EXISTS (SELECT 1 FROM keys WHERE org_id = $1 AND fingerprint = $6::text) THEN '' ELSE $6::text END`,
				k.OrgID, k.Kid, k.PartnerID, nullTime(k.LastUsedAt), data, k.Fingerprint)
		}
	case r.User != nil:
		var args []any
		if args, err = userArgs(*r.User); err == nil {
			b.Queue(insertUserSQL, args...)
		}
	case r.Session != nil:
		ss := r.Session
		if data, err = encode(ss); err == nil {
			b.Queue(`INSERT INTO sessions (id, user_id, org_id, partner_id, expires_at, data) VALUES ($1, $2, $3, $4, $5, $6)`,
				ss.ID, ss.UserID, ss.OrgID, ss.PartnerID, ss.ExpiresAt.UTC(), data)
		}
	case r.Replay != nil:
		b.Queue("INSERT INTO replays (key, expires_at) VALUES ($1, $2)", r.Replay.Key, r.Replay.ExpiresAt.UTC())
	case r.LoginToken != nil:
		t := r.LoginToken
		if data, err = encode(t); err == nil {
			b.Queue("INSERT INTO login_tokens (id, org_id, email, expires_at, data) VALUES ($1, $2, $3, $4, $5)",
				t.ID, t.OrgID, t.Email, t.ExpiresAt.UTC(), data)
		}
	case r.AdminToken != nil:
		t := r.AdminToken
		if data, err = encode(t); err == nil {
			b.Queue("INSERT INTO admin_tokens (id, org_id, hash, last_used_at, data) VALUES ($1, $2, $3, $4, $5)",
				t.ID, t.OrgID, t.Hash, nullTime(t.LastUsedAt), data)
		}
	case r.SigningKeys != nil:
		// The row exists from the migration; a second record finds data set.
		if data, err = encode(r.SigningKeys); err == nil {
			b.Queue("UPDATE signing_keys SET data = $1 WHERE id = 1 AND data IS NULL", data)
		}
	case r.Audit != nil:
		// Stored exactly as given (Seq and hashes preserved); Details are
		// canonicalised like every append's, which the hash covers.
		e := *r.Audit
		if err = storage.CanonicalizeDetails(&e); err == nil {
			if data, err = encode(e); err == nil {
				b.Queue("INSERT INTO audit (seq, time, org_id, type, data) VALUES ($1, $2, $3, $4, $5)",
					int64(e.Seq), e.Time.UTC(), e.OrgID, e.Type, data)
			}
		}
	default:
		return errors.New("import: a record with no single kind")
	}
	return err
}
