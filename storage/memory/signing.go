package memory

import (
	"context"
	"errors"
	"fmt"

	"gatehouse/storage"
)

// GetSigningKeys returns the assertion signing state.
func (s *Store) GetSigningKeys(ctx context.Context) (storage.SigningKeys, error) {
	var out storage.SigningKeys
	err := s.view(ctx, func() error {
		if s.signing == nil {
			return fmt.Errorf("signing keys: %w", storage.ErrNotFound)
		}
		out = cloneSigningKeys(*s.signing)
		return nil
	})
	return out, err
}

// UpdateSigningKeys applies fn under the write lock.
func (s *Store) UpdateSigningKeys(ctx context.Context, fn func(*storage.SigningKeys) (storage.SigningKeys, error)) (storage.SigningKeys, error) {
	var out storage.SigningKeys
	err := s.update(ctx, func() error {
		var cur *storage.SigningKeys
		if s.signing != nil {
			c := cloneSigningKeys(*s.signing)
			cur = &c
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		if next.Current.Kid == "" {
			return errors.New("signing keys: current key has no kid")
		}
		stored := cloneSigningKeys(next)
		s.signing = &stored
		out = cloneSigningKeys(next)
		return nil
	})
	return out, err
}

// cloneSigningKeys deep-copies the state so callers never share its slices.
func cloneSigningKeys(k storage.SigningKeys) storage.SigningKeys {
	cloneKey := func(sk storage.SigningKey) storage.SigningKey {
		sk.Private = cloneSealed(sk.Private)
		sk.Public = append([]byte(nil), sk.Public...)
		return sk
	}
	k.Current = cloneKey(k.Current)
	if k.Previous != nil {
		p := cloneKey(*k.Previous)
		k.Previous = &p
	}
	k.SIDSecret = cloneSealed(k.SIDSecret)
	return k
}
