package bolt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"gatehouse/storage"
)

// decodeCache remembers the decoded form of records by their exact stored
// bytes. A lookup hits only when the bytes in the current transaction equal
// the bytes that were decoded, so it can never return a stale record: a
// changed, deleted or revoked record simply misses (or is not found at
// all), and nothing ever needs invalidating. It saves the JSON decode that
// was a fifth of a forward-auth check (session + user) and most of the
// sign-in's partner read.
//
// Memory is bounded: past max entries an arbitrary one is dropped per
// insert, which keeps the hot records of a large database without tracking
// recency.
type decodeCache[T any] struct {
	mu    sync.Mutex
	max   int
	m     map[string]decodedRecord[T]
	clone func(T) T // deep copy for types holding slices or pointers; nil: value copy is enough
}

type decodedRecord[T any] struct {
	raw []byte
	v   T
}

func newDecodeCache[T any](max int, clone func(T) T) *decodeCache[T] {
	return &decodeCache[T]{max: max, m: make(map[string]decodedRecord[T]), clone: clone}
}

// decode returns raw (the value stored under key) decoded into a T, from
// the cache when raw is exactly what was decoded before.
func (c *decodeCache[T]) decode(key, raw []byte, dec func([]byte, *T) error) (T, error) {
	c.mu.Lock()
	e, ok := c.m[string(key)]
	c.mu.Unlock()
	if ok && bytes.Equal(e.raw, raw) {
		return c.copyOf(e.v), nil
	}
	var v T
	if err := dec(raw, &v); err != nil {
		return v, err
	}
	c.mu.Lock()
	if _, present := c.m[string(key)]; !present && len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	// raw points into bbolt's map, valid only during the transaction.
	c.m[string(key)] = decodedRecord[T]{raw: bytes.Clone(raw), v: c.copyOf(v)}
	c.mu.Unlock()
	return v, nil
}

func (c *decodeCache[T]) copyOf(v T) T {
	if c.clone != nil {
		return c.clone(v)
	}
	return v
}

func decodeJSON[T any](raw []byte, v *T) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode record: %w", err)
	}
	return nil
}

// clonePartner deep-copies what a caller could modify in place.
func clonePartner(p storage.Partner) storage.Partner {
	p.AllowedEmailDomains = cloneList(p.AllowedEmailDomains)
	p.AllowedSourceIPs = cloneList(p.AllowedSourceIPs)
	p.AllowedRoles = cloneList(p.AllowedRoles)
	p.AllowedTenants = cloneList(p.AllowedTenants)
	p.AllowedOrigins = cloneList(p.AllowedOrigins)
	if p.MaxUsers != nil {
		n := *p.MaxUsers
		p.MaxUsers = &n
	}
	p.Secret = cloneSealed(p.Secret)
	p.PreviousSecret = cloneSealed(p.PreviousSecret)
	return p
}

func cloneTenant(t storage.Tenant) storage.Tenant {
	t.AllowedReturnURLs = cloneList(t.AllowedReturnURLs)
	return t
}

// cloneList keeps the nil / empty distinction the policies depend on.
func cloneList(l []string) []string {
	if l == nil {
		return nil
	}
	return append(make([]string, 0, len(l)), l...)
}

func cloneSealed(s *storage.Sealed) *storage.Sealed {
	if s == nil {
		return nil
	}
	c := *s
	c.Nonce, c.Ciphertext = slices.Clone(s.Nonce), slices.Clone(s.Ciphertext)
	return &c
}
