package bolt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"gatehouse/storage"
)

var signingKeysKey = []byte("keys")

// GetSigningKeys returns the assertion signing state.
func (s *Store) GetSigningKeys(ctx context.Context) (storage.SigningKeys, error) {
	var out storage.SigningKeys
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return getJSON(tx.Bucket(bktSigning), signingKeysKey, &out)
	})
	if err != nil {
		return storage.SigningKeys{}, fmt.Errorf("get signing keys: %w", err)
	}
	return out, nil
}

// UpdateSigningKeys applies fn to the signing state inside the writer, so
// instances (and callers) racing to create or rotate it serialise.
func (s *Store) UpdateSigningKeys(ctx context.Context, fn func(*storage.SigningKeys) (storage.SigningKeys, error)) (storage.SigningKeys, error) {
	var out storage.SigningKeys
	err := s.write(ctx, func(tx *bbolt.Tx) (writeSet, error) {
		var cur *storage.SigningKeys
		var old storage.SigningKeys
		switch err := getJSON(tx.Bucket(bktSigning), signingKeysKey, &old); {
		case err == nil:
			cur = &old
		case !errors.Is(err, storage.ErrNotFound):
			return nil, err
		}
		next, err := fn(cur)
		if err != nil {
			return nil, err
		}
		if next.Current.Kid == "" {
			return nil, errors.New("signing keys: current key has no kid")
		}
		data, err := json.Marshal(next)
		if err != nil {
			return nil, fmt.Errorf("encode signing keys: %w", err)
		}
		var ws writeSet
		ws.put(bktSigning, signingKeysKey, data)
		out = next
		return ws, nil
	})
	if err != nil {
		return storage.SigningKeys{}, fmt.Errorf("update signing keys: %w", err)
	}
	return out, nil
}
