package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"gatehouse/storage"
)

// GetSigningKeys returns the assertion signing state; ErrNotFound before the
// first key was made.
func (s *Store) GetSigningKeys(ctx context.Context) (storage.SigningKeys, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	var raw []byte
	if err := s.pool.QueryRow(ctx, "SELECT data FROM signing_keys WHERE id = 1").Scan(&raw); err != nil {
		return storage.SigningKeys{}, classify(err)
	}
	if raw == nil {
		return storage.SigningKeys{}, fmt.Errorf("signing keys: %w", storage.ErrNotFound)
	}
	var k storage.SigningKeys
	if err := json.Unmarshal(raw, &k); err != nil {
		return storage.SigningKeys{}, fmt.Errorf("decode signing keys: %w", err)
	}
	return k, nil
}

// UpdateSigningKeys applies fn under the signing row's lock, so instances
// making the first key or rotating at once apply one change after the other
// (the second sees the first's key).
func (s *Store) UpdateSigningKeys(ctx context.Context, fn func(*storage.SigningKeys) (storage.SigningKeys, error)) (storage.SigningKeys, error) {
	var out storage.SigningKeys
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var raw []byte
		if err := tx.QueryRow(ctx, "SELECT data FROM signing_keys WHERE id = 1 FOR UPDATE").Scan(&raw); err != nil {
			return err
		}
		var cur *storage.SigningKeys
		if raw != nil {
			cur = &storage.SigningKeys{}
			if err := json.Unmarshal(raw, cur); err != nil {
				return fmt.Errorf("decode signing keys: %w", err)
			}
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		if next.Current.Kid == "" {
			return errors.New("signing keys: current key has no kid")
		}
		data, err := encode(next)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE signing_keys SET data = $1 WHERE id = 1", data); err != nil {
			return err
		}
		out = next
		return nil
	})
	return out, err
}
