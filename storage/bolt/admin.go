package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"gatehouse/storage"
)

// CreateAdminToken stores an admin token; ErrExists when its ID or hash is taken.
func (s *Store) CreateAdminToken(ctx context.Context, t storage.AdminToken) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b, idx := tx.Bucket(bktAdminTokens), tx.Bucket(bktAdminTokenIdx)
		if b.Get([]byte(t.ID)) != nil {
			return storage.ErrExists
		}
		if t.Hash != "" {
			if idx.Get([]byte(t.Hash)) != nil {
				return storage.ErrExists
			}
			if err := idx.Put([]byte(t.Hash), []byte(t.ID)); err != nil {
				return err
			}
		}
		return putJSON(b, []byte(t.ID), t)
	})
	if err != nil {
		return fmt.Errorf("create admin token: %w", err)
	}
	return nil
}

// GetAdminTokenByHash finds the token whose value hashes to hash.
func (s *Store) GetAdminTokenByHash(ctx context.Context, hash string) (storage.AdminToken, error) {
	var t storage.AdminToken
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if hash == "" {
			return storage.ErrNotFound
		}
		id := tx.Bucket(bktAdminTokenIdx).Get([]byte(hash))
		if id == nil {
			return storage.ErrNotFound
		}
		return getJSON(tx.Bucket(bktAdminTokens), id, &t)
	})
	if err != nil {
		return storage.AdminToken{}, fmt.Errorf("get admin token: %w", err)
	}
	return t, nil
}

// ListAdminTokens returns an organization's admin tokens ordered by ID. There
// are few tokens, so a scan is cheaper than keeping another index.
func (s *Store) ListAdminTokens(ctx context.Context, orgID string) ([]storage.AdminToken, error) {
	var out []storage.AdminToken
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bktAdminTokens).ForEach(func(_, v []byte) error {
			var t storage.AdminToken
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("decode admin token: %w", err)
			}
			if t.OrgID == orgID {
				out = append(out, t)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list admin tokens: %w", err)
	}
	return out, nil
}

// DeleteAdminToken removes a token of an organization; a token of another
// organization is ErrNotFound, so one organization cannot revoke another's.
func (s *Store) DeleteAdminToken(ctx context.Context, orgID, id string) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bktAdminTokens)
		var t storage.AdminToken
		if err := getJSON(b, []byte(id), &t); err != nil {
			return err
		}
		if t.OrgID != orgID {
			return storage.ErrNotFound
		}
		if t.Hash != "" {
			if err := tx.Bucket(bktAdminTokenIdx).Delete([]byte(t.Hash)); err != nil {
				return err
			}
		}
		return b.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("delete admin token: %w", err)
	}
	return nil
}

// TouchAdminToken records the token's last use.
func (s *Store) TouchAdminToken(ctx context.Context, id string, at time.Time) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bktAdminTokens)
		var t storage.AdminToken
		if err := getJSON(b, []byte(id), &t); err != nil {
			return err
		}
		t.LastUsedAt = at
		return putJSON(b, []byte(id), t)
	})
	if err != nil {
		return fmt.Errorf("touch admin token: %w", err)
	}
	return nil
}
