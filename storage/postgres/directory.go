package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"gatehouse/storage"
)

// getJSON reads one record's data column; no row is ErrNotFound naming what.
// Every call decodes afresh, so callers always get a copy of their own.
func getJSON[T any](ctx context.Context, q querier, what, sql string, args ...any) (T, error) {
	var v T
	var raw []byte
	if err := q.QueryRow(ctx, sql, args...).Scan(&raw); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return v, fmt.Errorf("%s: %w", what, storage.ErrNotFound)
		}
		return v, classify(err)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("decode %s: %w", what, err)
	}
	return v, nil
}

// listJSON reads the data column of every row.
func listJSON[T any](ctx context.Context, q querier, sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, classify(err)
	}
	var out []T
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			rows.Close()
			return nil, classify(err)
		}
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("decode record: %w", err)
		}
		out = append(out, v)
	}
	return out, classify(rows.Err())
}

func encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	return b, nil
}

// nullTime is NULL for the zero instant (never used), else the instant in UTC.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// CreateOrg stores o; ErrExists when the id is taken.
func (s *Store) CreateOrg(ctx context.Context, o storage.Org) error {
	data, err := encode(o)
	if err != nil {
		return err
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	_, err = s.pool.Exec(ctx, "INSERT INTO orgs (id, data) VALUES ($1, $2)", o.ID, data)
	if err != nil {
		return fmt.Errorf("org %q: %w", o.ID, classify(err))
	}
	return nil
}

// GetOrg returns the organization; ErrNotFound when unknown.
func (s *Store) GetOrg(ctx context.Context, id string) (storage.Org, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	return getJSON[storage.Org](ctx, s.pool, fmt.Sprintf("org %q", id), "SELECT data FROM orgs WHERE id = $1", id)
}

// ListOrgs returns every organization ordered by id.
func (s *Store) ListOrgs(ctx context.Context) ([]storage.Org, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	return listJSON[storage.Org](ctx, s.pool, "SELECT data FROM orgs ORDER BY id")
}

// CreateTenant stores t; ErrNotFound without its org (the foreign key),
// ErrExists when the id is taken within the org.
func (s *Store) CreateTenant(ctx context.Context, t storage.Tenant) error {
	data, err := encode(t)
	if err != nil {
		return err
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	_, err = s.pool.Exec(ctx, "INSERT INTO tenants (org_id, id, data) VALUES ($1, $2, $3)", t.OrgID, t.ID, data)
	if err != nil {
		return fmt.Errorf("tenant %q: %w", t.ID, classify(err))
	}
	return nil
}

// GetTenant returns the tenant; ErrNotFound when unknown in the org.
func (s *Store) GetTenant(ctx context.Context, orgID, id string) (storage.Tenant, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	return getJSON[storage.Tenant](ctx, s.pool, fmt.Sprintf("tenant %q", id),
		"SELECT data FROM tenants WHERE org_id = $1 AND id = $2", orgID, id)
}

// ListTenants returns the org's tenants ordered by id.
func (s *Store) ListTenants(ctx context.Context, orgID string) ([]storage.Tenant, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	return listJSON[storage.Tenant](ctx, s.pool, "SELECT data FROM tenants WHERE org_id = $1 ORDER BY id", orgID)
}

// UpdateTenant replaces the tenant with fn's result under a row lock, so two
// instances updating one tenant apply their changes one after the other.
func (s *Store) UpdateTenant(ctx context.Context, orgID, id string, fn func(storage.Tenant) (storage.Tenant, error)) (storage.Tenant, error) {
	var out storage.Tenant
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		cur, err := getJSON[storage.Tenant](ctx, tx, fmt.Sprintf("tenant %q", id),
			"SELECT data FROM tenants WHERE org_id = $1 AND id = $2 FOR UPDATE", orgID, id)
		if err != nil {
			return err
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		if next.ID != id || next.OrgID != orgID {
			return fmt.Errorf("tenant %q: id and org are immutable: %w", id, storage.ErrConflict)
		}
		data, err := encode(next)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE tenants SET data = $3 WHERE org_id = $1 AND id = $2", orgID, id, data); err != nil {
			return err
		}
		out = next
		return nil
	})
	return out, err
}

// DeleteTenant removes the tenant; ErrConflict while a user is bound to it.
func (s *Store) DeleteTenant(ctx context.Context, orgID, id string) error {
	return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM tenants WHERE org_id = $1 AND id = $2", orgID, id)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23503" && pe.ConstraintName == usersTenantFK {
			// A user bound to it, perhaps one a sign-in just committed.
			return fmt.Errorf("tenant %q has users: %w", id, storage.ErrConflict)
		}
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("tenant %q: %w", id, storage.ErrNotFound)
		}
		var bound bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM users WHERE org_id = $1 AND tenant_id = $2)", orgID, id).Scan(&bound); err != nil {
			return err
		}
		if bound {
			return fmt.Errorf("tenant %q has users: %w", id, storage.ErrConflict)
		}
		return nil
	})
}

// CreatePartner stores p; ErrNotFound without its org, ErrExists when the id
// or name (within the org) or the consumer key is taken.
func (s *Store) CreatePartner(ctx context.Context, p storage.Partner) error {
	data, err := encode(p)
	if err != nil {
		return err
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	_, err = s.pool.Exec(ctx, `INSERT INTO partners (org_id, id, name, consumer_key, active, data)
		VALUES ($1, $2, $3, $4, $5, $6)`, p.OrgID, p.ID, p.Name, p.ConsumerKey, p.Active, data)
	if err != nil {
		return fmt.Errorf("partner %q: %w", p.ID, classify(err))
	}
	return nil
}

// GetPartner returns the partner; ErrNotFound when unknown in the org.
func (s *Store) GetPartner(ctx context.Context, orgID, id string) (storage.Partner, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	return getJSON[storage.Partner](ctx, s.pool, fmt.Sprintf("partner %q", id),
		"SELECT data FROM partners WHERE org_id = $1 AND id = $2", orgID, id)
}

// GetPartnerByConsumerKey resolves an HMAC consumer key to its partner.
func (s *Store) GetPartnerByConsumerKey(ctx context.Context, consumerKey string) (storage.Partner, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	return getJSON[storage.Partner](ctx, s.pool, "consumer key", "SELECT data FROM partners WHERE consumer_key = $1", consumerKey)
}

// ListPartners returns the org's partners ordered by id.
func (s *Store) ListPartners(ctx context.Context, orgID string) ([]storage.Partner, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	return listJSON[storage.Partner](ctx, s.pool, "SELECT data FROM partners WHERE org_id = $1 ORDER BY id", orgID)
}

// UpdatePartner replaces the partner with fn's result. It locks the row FOR
// UPDATE, which waits for every sign-in holding it FOR SHARE; when fn
// deactivates the partner, its sessions are deleted in the same transaction,
// after those sign-ins committed theirs, and sign-ins that come later find
// the partner inactive.
func (s *Store) UpdatePartner(ctx context.Context, orgID, id string, fn func(storage.Partner) (storage.Partner, error)) (storage.Partner, error) {
	var out storage.Partner
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		cur, err := getJSON[storage.Partner](ctx, tx, fmt.Sprintf("partner %q", id),
			"SELECT data FROM partners WHERE org_id = $1 AND id = $2 FOR UPDATE", orgID, id)
		if err != nil {
			return err
		}
		wasActive := cur.Active
		next, err := fn(cur)
		if err != nil {
			return err
		}
		if next.ID != id || next.OrgID != orgID {
			return fmt.Errorf("partner %q: id and org are immutable: %w", id, storage.ErrConflict)
		}
		data, err := encode(next)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE partners SET name = $3, consumer_key = $4, active = $5, data = $6
			WHERE org_id = $1 AND id = $2`, orgID, id, next.Name, next.ConsumerKey, next.Active, data); err != nil {
			return fmt.Errorf("partner %q: %w", id, classify(err))
		}
		if wasActive && !next.Active {
			if _, err := tx.Exec(ctx, "DELETE FROM sessions WHERE org_id = $1 AND partner_id = $2", orgID, id); err != nil {
				return err
			}
		}
		out = next
		return nil
	})
	return out, err
}

// DeletePartner removes the partner, its keys (the foreign key cascades) and
// the sessions it signed in. Users keep their PartnerID: it records history.
func (s *Store) DeletePartner(ctx context.Context, orgID, id string) error {
	return s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM partners WHERE org_id = $1 AND id = $2", orgID, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("partner %q: %w", id, storage.ErrNotFound)
		}
		_, err = tx.Exec(ctx, "DELETE FROM sessions WHERE org_id = $1 AND partner_id = $2", orgID, id)
		return err
	})
}

// CreateKey stores k; ErrNotFound when its partner is not in the org (the
// foreign key), ErrExists when the kid is taken within the org.
func (s *Store) CreateKey(ctx context.Context, k storage.Key) error {
	data, err := encode(k)
	if err != nil {
		return err
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	// keys_fingerprint_unique makes "one public key, one owner" atomic.
	_, err = s.pool.Exec(ctx, `INSERT INTO keys (org_id, kid, partner_id, last_used_at, data, fingerprint)
		VALUES ($1, $2, $3, $4, $5, $6)`, k.OrgID, k.Kid, k.PartnerID, nullTime(k.LastUsedAt), data, k.Fingerprint)
	if err != nil {
		return fmt.Errorf("key %q: %w", k.Kid, classify(err))
	}
	return nil
}

// keyColumns reads a key: its record plus last_used_at, which sign-ins move
// without rewriting the record.
const keyColumns = "SELECT data, last_used_at FROM keys "

func scanKey(row pgx.Row) (storage.Key, error) {
	var raw []byte
	var last *time.Time
	if err := row.Scan(&raw, &last); err != nil {
		return storage.Key{}, err
	}
	var k storage.Key
	if err := json.Unmarshal(raw, &k); err != nil {
		return storage.Key{}, fmt.Errorf("decode key: %w", err)
	}
	if last != nil {
		k.LastUsedAt = utc(*last)
	}
	return k, nil
}

// GetKey returns the key; ErrNotFound when the kid is unknown in the org.
func (s *Store) GetKey(ctx context.Context, orgID, kid string) (storage.Key, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	k, err := scanKey(s.pool.QueryRow(ctx, keyColumns+"WHERE org_id = $1 AND kid = $2", orgID, kid))
	if errors.Is(err, pgx.ErrNoRows) {
		return k, fmt.Errorf("key %q: %w", kid, storage.ErrNotFound)
	}
	return k, classify(err)
}

// ListKeys returns the keys of one partner, or of the whole org when
// partnerID is empty, ordered by kid.
func (s *Store) ListKeys(ctx context.Context, orgID, partnerID string) ([]storage.Key, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, keyColumns+"WHERE org_id = $1 AND ($2 = '' OR partner_id = $2) ORDER BY kid", orgID, partnerID)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []storage.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, classify(err)
		}
		out = append(out, k)
	}
	return out, classify(rows.Err())
}

// DeleteKey removes the key; ErrNotFound when unknown.
func (s *Store) DeleteKey(ctx context.Context, orgID, kid string) error {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, "DELETE FROM keys WHERE org_id = $1 AND kid = $2", orgID, kid)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("key %q: %w", kid, storage.ErrNotFound)
	}
	return nil
}

// SyncJWKSKeys applies fn to the partner and replaces its JWKS keys by keys,
// in one transaction that holds the partner's row and the organization's
// key rows, so two instances refreshing one partner apply one set after the
// other. Keys whose kid or fingerprint another key of the organization holds
// are skipped; a key already stored with the same kid and DER keeps its
// CreatedAt and LastUsedAt.
func (s *Store) SyncJWKSKeys(ctx context.Context, orgID, partnerID string, keys []storage.Key, fn func(storage.Partner) (storage.Partner, error)) (storage.Partner, []storage.Key, error) {
	var outP storage.Partner
	var outK []storage.Key
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		outK = nil
		cur, err := getJSON[storage.Partner](ctx, tx, fmt.Sprintf("partner %q", partnerID),
			"SELECT data FROM partners WHERE org_id = $1 AND id = $2 FOR UPDATE", orgID, partnerID)
		if err != nil {
			return err
		}
		wasActive := cur.Active
		next, err := fn(cur)
		if err != nil {
			return err
		}
		if next.ID != partnerID || next.OrgID != orgID {
			return fmt.Errorf("partner %q: id and org are immutable: %w", partnerID, storage.ErrConflict)
		}
		rows, err := tx.Query(ctx, keyColumns+"WHERE org_id = $1 ORDER BY kid FOR UPDATE", orgID)
		if err != nil {
			return err
		}
		old := map[string]storage.Key{}
		held := map[string]bool{}  // kids that stay
		taken := map[string]bool{} // fingerprints of keys that stay
		var drop []string
		for rows.Next() {
			k, err := scanKey(rows)
			if err != nil {
				rows.Close()
				return err
			}
			if k.PartnerID == partnerID && k.Source == storage.KeySourceJWKS {
				old[k.Kid] = k
				drop = append(drop, k.Kid)
			} else {
				held[k.Kid] = true
				taken[k.Fingerprint] = true
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		b := &pgx.Batch{}
		if len(drop) > 0 {
			b.Queue("DELETE FROM keys WHERE org_id = $1 AND kid = ANY($2)", orgID, drop)
		}
		for _, k := range keys {
			k.OrgID, k.PartnerID, k.Source = orgID, partnerID, storage.KeySourceJWKS
			if held[k.Kid] || taken[k.Fingerprint] {
				continue
			}
			if prev, ok := old[k.Kid]; ok && bytes.Equal(prev.DER, k.DER) {
				k.CreatedAt, k.LastUsedAt = prev.CreatedAt, prev.LastUsedAt
			}
			data, err := encode(k)
			if err != nil {
				return err
			}
			b.Queue(`INSERT INTO keys (org_id, kid, partner_id, last_used_at, data, fingerprint) VALUES ($1, $2, $3, $4, $5, $6)`,
				k.OrgID, k.Kid, k.PartnerID, nullTime(k.LastUsedAt), data, k.Fingerprint)
			held[k.Kid], taken[k.Fingerprint] = true, true
			outK = append(outK, k)
		}
		data, err := encode(next)
		if err != nil {
			return err
		}
		b.Queue(`UPDATE partners SET name = $3, consumer_key = $4, active = $5, data = $6
			WHERE org_id = $1 AND id = $2`, orgID, partnerID, next.Name, next.ConsumerKey, next.Active, data)
		if wasActive && !next.Active {
			b.Queue("DELETE FROM sessions WHERE org_id = $1 AND partner_id = $2", orgID, partnerID)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("partner %q: %w", partnerID, classify(err))
		}
		outP = next
		return nil
	})
	if err != nil {
		return storage.Partner{}, nil, err
	}
	return outP, outK, nil
}
