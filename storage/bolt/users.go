package bolt

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	bbolt "go.etcd.io/bbolt"

	"gatehouse/storage"
)

// planUser plans storing u (whose previous state is old, nil when new) with
// every index entry it needs, after checking that its email is free in its
// organization. Only index entries whose inputs changed are rewritten, which
// keeps a repeat sign-in down to the user record itself.
//
// org_users (org\0email → tenant\0id) is the one email index: a user is
// identified by its email within its organization, so the same address in
// another organization is a different key and never collides.
func planUser(tx *bbolt.Tx, ws *writeSet, old *storage.User, u storage.User) error {
	if u.ID == "" {
		return errors.New("user id is empty")
	}
	if u.Email == "" {
		return errors.New("user email is empty")
	}
	if u.OrgID == "" {
		return errors.New("user organization is empty")
	}
	// The tenant is checked in the write's own transaction: a sign-in
	// racing a tenant deletion must not leave a user bound to nothing.
	if tx.Bucket(bktTenants).Get(join(u.OrgID, u.TenantID)) == nil {
		return fmt.Errorf("user %q: tenant %q: %w", u.Email, u.TenantID, storage.ErrNoTenant)
	}
	key := join(u.OrgID, u.Email)
	if v := tx.Bucket(bktOrgUsers).Get(key); v != nil && string(indexedUserID(v)) != u.ID {
		return fmt.Errorf("email %q in organization %q: %w", u.Email, u.OrgID, storage.ErrExists)
	}
	data, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("encode user: %w", err)
	}
	ws.put(bktUsers, []byte(u.ID), data)

	if old == nil || old.OrgID != u.OrgID || old.Email != u.Email || old.TenantID != u.TenantID {
		if old != nil {
			ws.del(bktOrgUsers, join(old.OrgID, old.Email))
		}
		ws.put(bktOrgUsers, key, join(u.TenantID, u.ID))
	}
	if old == nil || old.PartnerID != u.PartnerID {
		if old != nil && old.PartnerID != "" {
			ws.del(bktPartnerUsers, join(old.PartnerID, old.ID))
		}
		if u.PartnerID != "" {
			ws.put(bktPartnerUsers, join(u.PartnerID, u.ID), []byte{})
		}
	}
	return nil
}

// indexedUserID is the user id of an org_users value (tenant\0id).
func indexedUserID(v []byte) []byte {
	_, id, _ := bytes.Cut(v, []byte{0})
	return id
}

// userByEmail reads the organization's user with email, or nil when there is none.
func (s *Store) userByEmail(tx *bbolt.Tx, orgID, email string) (*storage.User, error) {
	v := tx.Bucket(bktOrgUsers).Get(join(orgID, email))
	if v == nil {
		return nil, nil
	}
	id := indexedUserID(v)
	u, err := s.getUser(tx, id)
	if err != nil {
		return nil, fmt.Errorf("user %q of email index: %w", id, err)
	}
	return &u, nil
}

// getUser reads one user through the decode cache.
func (s *Store) getUser(tx *bbolt.Tx, id []byte) (storage.User, error) {
	raw := tx.Bucket(bktUsers).Get(id)
	if raw == nil {
		return storage.User{}, storage.ErrNotFound
	}
	return s.userCache.decode(id, raw, decodeJSON[storage.User])
}

// countPartnerUsers counts the keys under a partner in partner_users: no
// record is decoded, which is why that index exists.
func countPartnerUsers(tx *bbolt.Tx, partnerID string) int {
	n := 0
	_ = scanPrefix(tx.Bucket(bktPartnerUsers), prefix(partnerID), func(_, _ []byte) error {
		n++
		return nil
	})
	return n
}

// CreateUser stores a new user; ErrExists when the ID, or the email within
// the user's organization, is taken.
func (s *Store) CreateUser(ctx context.Context, u storage.User) error {
	err := s.write(ctx, func(tx *bbolt.Tx) (writeSet, error) {
		if u.ID != "" && tx.Bucket(bktUsers).Get([]byte(u.ID)) != nil {
			return nil, fmt.Errorf("user id: %w", storage.ErrExists)
		}
		var ws writeSet
		if err := planUser(tx, &ws, nil, u); err != nil {
			return nil, err
		}
		return ws, nil
	})
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Email, err)
	}
	return nil
}

// GetUser returns a user by ID.
func (s *Store) GetUser(ctx context.Context, id string) (storage.User, error) {
	var u storage.User
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		u, err = s.getUser(tx, []byte(id))
		return err
	})
	if err != nil {
		return storage.User{}, fmt.Errorf("get user %q: %w", id, err)
	}
	return u, nil
}

// GetUserByEmail returns the organization's user with the (normalised) email.
func (s *Store) GetUserByEmail(ctx context.Context, orgID, email string) (storage.User, error) {
	var u *storage.User
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		u, err = s.userByEmail(tx, orgID, email)
		if err == nil && u == nil {
			err = storage.ErrNotFound
		}
		return err
	})
	if err != nil {
		return storage.User{}, fmt.Errorf("get user by email: %w", err)
	}
	return *u, nil
}

// ListUsers pages through an organization's users in email order. The
// cursor is the last email of the previous page, encoded so callers treat it
// as opaque.
func (s *Store) ListUsers(ctx context.Context, q storage.UserQuery) ([]storage.User, string, error) {
	var after []byte
	if q.Cursor != "" {
		c, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil {
			return nil, "", fmt.Errorf("list users: %w", storage.ErrInvalidCursor)
		}
		after = c
	}
	needle := strings.ToLower(q.Q)
	var tenant []byte
	if q.TenantID != "" {
		tenant = append([]byte(q.TenantID), 0)
	}

	var out []storage.User
	next := ""
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		users := tx.Bucket(bktUsers)
		p := prefix(q.OrgID)
		c := tx.Bucket(bktOrgUsers).Cursor()
		start := p
		if after != nil {
			start = join(q.OrgID, string(after))
		}
		for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			email := k[len(p):]
			if after != nil && bytes.Compare(email, after) <= 0 {
				continue
			}
			if tenant != nil && !bytes.HasPrefix(v, tenant) {
				continue
			}
			id := indexedUserID(v)
			var u storage.User
			if err := getJSON(users, id, &u); err != nil {
				return fmt.Errorf("user %q of org index: %w", id, err)
			}
			if needle != "" && !strings.Contains(strings.ToLower(u.Email), needle) &&
				!strings.Contains(strings.ToLower(u.Name), needle) {
				continue
			}
			if q.Limit > 0 && len(out) == q.Limit {
				// One more match exists, so the page is not the last.
				next = base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].Email))
				return nil
			}
			out = append(out, u)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list users: %w", err)
	}
	return out, next, nil
}

// CountUsers counts an organization's users, or one tenant's, from the
// org_users index without decoding users.
func (s *Store) CountUsers(ctx context.Context, orgID, tenantID string) (int, error) {
	n := 0
	var tenant []byte
	if tenantID != "" {
		tenant = append([]byte(tenantID), 0)
	}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return scanPrefix(tx.Bucket(bktOrgUsers), prefix(orgID), func(_, v []byte) error {
			if tenant == nil || bytes.HasPrefix(v, tenant) {
				n++
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// CountPartnerUsers counts the users whose PartnerID is partnerID from the
// partner_users index, the same count Provision's partnerUsers reads.
func (s *Store) CountPartnerUsers(ctx context.Context, partnerID string) (int, error) {
	n := 0
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		n = countPartnerUsers(tx, partnerID)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count partner users: %w", err)
	}
	return n, nil
}

// DeleteUser removes a user, its index entries and every session of it.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *bbolt.Tx) (writeSet, error) {
		var u storage.User
		if err := getJSON(tx.Bucket(bktUsers), []byte(id), &u); err != nil {
			return nil, err
		}
		var ws writeSet
		ws.del(bktUsers, []byte(u.ID))
		ws.del(bktOrgUsers, join(u.OrgID, u.Email))
		if u.PartnerID != "" {
			ws.del(bktPartnerUsers, join(u.PartnerID, u.ID))
		}
		for _, k := range sessionKeysWhere(tx, func(v []byte) bool { return sessionHas(v, "user_id", u.ID) }) {
			ws.del(bktSessions, k)
		}
		return ws, nil
	})
	if err != nil {
		return fmt.Errorf("delete user %q: %w", id, err)
	}
	return nil
}
