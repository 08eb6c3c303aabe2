package memory

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"gatehouse/storage"
)

var _ storage.Store = (*Store)(nil)

// errClosed is a backend failure, not a sentinel: callers have no business
// using a store after Close.
var errClosed = errors.New("memory store is closed")

// orgKey names a record whose identity is only unique within an organization.
type orgKey struct{ org, id string }

// Store is an in-memory storage.Store. The zero value is not usable; call New.
type Store struct {
	mu     sync.RWMutex
	closed bool

	orgs         map[string]storage.Org
	tenants      map[orgKey]storage.Tenant
	partners     map[orgKey]storage.Partner
	partnerNames map[orgKey]string // (org, name) → partner id
	consumerKeys map[string]orgKey // consumer key → (org, partner id)
	keys         map[orgKey]storage.Key
	users        map[string]storage.User
	emails       map[orgKey]string // (org, email) → user id: emails are unique per organization
	sessions     map[string]storage.Session
	replays      map[string]time.Time
	loginTokens  map[string]storage.LoginToken
	adminTokens  map[string]storage.AdminToken
	adminHashes  map[string]string // hash → admin token id
	signing      *storage.SigningKeys

	// audit is kept in Seq order. lastSeq and lastHash survive a prune of
	// every event so the chain keeps counting instead of restarting at 1.
	audit    []storage.AuditEvent
	lastSeq  uint64
	lastHash string
}

// New returns an empty store.
func New() *Store {
	return &Store{
		orgs:         map[string]storage.Org{},
		tenants:      map[orgKey]storage.Tenant{},
		partners:     map[orgKey]storage.Partner{},
		partnerNames: map[orgKey]string{},
		consumerKeys: map[string]orgKey{},
		keys:         map[orgKey]storage.Key{},
		users:        map[string]storage.User{},
		emails:       map[orgKey]string{},
		sessions:     map[string]storage.Session{},
		replays:      map[string]time.Time{},
		loginTokens:  map[string]storage.LoginToken{},
		adminTokens:  map[string]storage.AdminToken{},
		adminHashes:  map[string]string{},
	}
}

// view runs fn under the read lock; update under the write lock. They mirror
// bbolt's View and Update so the method bodies read like the bolt backend's,
// and they are the one place that honours ctx and Close.
func (s *Store) view(ctx context.Context, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errClosed
	}
	return fn()
}

func (s *Store) update(ctx context.Context, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	return fn()
}

// Ping reports an error once the store is closed.
func (s *Store) Ping(ctx context.Context) error {
	return s.view(ctx, func() error { return nil })
}

// Close marks the store closed; there is nothing to release.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// live is the one expiry rule of the store: a record expiring at exactly now
// is already expired.
func live(expiresAt, now time.Time) bool { return expiresAt.After(now) }

// dump is the Backup format: every record, sorted so that two backups of the
// same state are byte-identical.
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

// Backup writes a JSON dump of every record. It is encoded under the read
// lock (so it is consistent) and written after releasing it (so a slow writer
// does not stall the store).
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var b []byte
	err := s.view(ctx, func() error {
		d := dump{
			Orgs:        sortedBy(s.orgs, func(o storage.Org) string { return o.ID }),
			Tenants:     sortedBy(s.tenants, func(t storage.Tenant) string { return t.OrgID + "\x00" + t.ID }),
			Partners:    sortedBy(s.partners, func(p storage.Partner) string { return p.OrgID + "\x00" + p.ID }),
			Keys:        sortedBy(s.keys, func(k storage.Key) string { return k.OrgID + "\x00" + k.Kid }),
			Users:       sortedBy(s.users, func(u storage.User) string { return u.ID }),
			Sessions:    sortedBy(s.sessions, func(ss storage.Session) string { return ss.ID }),
			LoginTokens: sortedBy(s.loginTokens, func(t storage.LoginToken) string { return t.ID }),
			AdminTokens: sortedBy(s.adminTokens, func(t storage.AdminToken) string { return t.ID }),
			Audit:       s.audit,
		}
		for _, k := range slices.Sorted(maps.Keys(s.replays)) {
			d.Replays = append(d.Replays, storage.Replay{Key: k, ExpiresAt: s.replays[k]})
		}
		var err error
		b, err = json.MarshalIndent(d, "", "  ")
		if err != nil {
			return fmt.Errorf("encode backup: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	if err != nil {
		return int64(n), fmt.Errorf("write backup: %w", err)
	}
	return int64(n), nil
}

// sortedBy returns m's values ordered by key(v). Values are returned as
// stored: callers copy what they hand out.
func sortedBy[K comparable, V any](m map[K]V, key func(V) string) []V {
	return slices.SortedFunc(maps.Values(m), func(a, b V) int { return cmp.Compare(key(a), key(b)) })
}
