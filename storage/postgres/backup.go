package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/storage"
)

// backupTimeout bounds Backup when the caller set no deadline: it reads the
// whole database, which the per-query default is not sized for.
const backupTimeout = 10 * time.Minute

// dump is Backup's format: every record, ordered, the same shape as
// storage/memory's backup.
type dump struct {
	Orgs        []storage.Org        `json:"orgs"`
	Tenants     []storage.Tenant     `json:"tenants"`
	Partners    []storage.Partner    `json:"partners"`
	Keys        []storage.Key        `json:"keys"`
	Users       []storage.User       `json:"users"`
	Sessions    []storage.Session    `json:"sessions"`
	Replays     []storage.Replay     `json:"replays"`
	LoginTokens []storage.LoginToken `json:"login_tokens"`
	AdminTokens []storage.AdminToken `json:"admin_tokens"`
	Audit       []storage.AuditEvent `json:"audit"`
}

// Backup writes a JSON dump of every record, read in one REPEATABLE READ,
// READ ONLY transaction: one snapshot of the whole database, taken without
// blocking any writer on any instance. (`gatehouse backup` turns a postgres
// store into a bbolt file through the Store interface; this dump is the
// backend's own consistent export.)
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	ctx, cancel := withDefaultDeadline(ctx, backupTimeout)
	defer cancel()
	var d dump
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if d.Orgs, err = listJSON[storage.Org](ctx, tx, "SELECT data FROM orgs ORDER BY id"); err != nil {
			return err
		}
		if d.Tenants, err = listJSON[storage.Tenant](ctx, tx, "SELECT data FROM tenants ORDER BY org_id, id"); err != nil {
			return err
		}
		if d.Partners, err = listJSON[storage.Partner](ctx, tx, "SELECT data FROM partners ORDER BY org_id, id"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, keyColumns+"ORDER BY org_id, kid")
		if err != nil {
			return err
		}
		for rows.Next() {
			k, err := scanKey(rows)
			if err != nil {
				rows.Close()
				return err
			}
			d.Keys = append(d.Keys, k)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if d.Users, err = listJSON[storage.User](ctx, tx, "SELECT data FROM users ORDER BY id"); err != nil {
			return err
		}
		if d.Sessions, err = listJSON[storage.Session](ctx, tx, "SELECT data FROM sessions ORDER BY id"); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, "SELECT key, expires_at FROM replays ORDER BY key")
		if err != nil {
			return err
		}
		for rows.Next() {
			var r storage.Replay
			if err := rows.Scan(&r.Key, &r.ExpiresAt); err != nil {
				rows.Close()
				return err
			}
			r.ExpiresAt = utc(r.ExpiresAt)
			d.Replays = append(d.Replays, r)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if d.LoginTokens, err = listJSON[storage.LoginToken](ctx, tx, "SELECT data FROM login_tokens ORDER BY id"); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, adminTokenColumns+"ORDER BY id")
		if err != nil {
			return err
		}
		for rows.Next() {
			t, err := scanAdminToken(rows)
			if err != nil {
				rows.Close()
				return err
			}
			d.AdminTokens = append(d.AdminTokens, t)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		d.Audit, err = listJSON[storage.AuditEvent](ctx, tx, "SELECT data FROM audit ORDER BY seq")
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("backup: %w", classify(err))
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return 0, fmt.Errorf("encode backup: %w", err)
	}
	n, err := w.Write(b)
	if err != nil {
		return int64(n), fmt.Errorf("write backup: %w", err)
	}
	return int64(n), nil
}
