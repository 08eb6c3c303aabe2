package memory

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"gatehouse/storage"
)

// CreateUser stores u; ErrExists when the id, or the email within u's
// organization, is taken.
func (s *Store) CreateUser(ctx context.Context, u storage.User) error {
	return s.update(ctx, func() error {
		if _, ok := s.users[u.ID]; ok {
			return fmt.Errorf("user %q: %w", u.ID, storage.ErrExists)
		}
		if _, ok := s.emails[orgKey{u.OrgID, u.Email}]; ok {
			return fmt.Errorf("user email: %w", storage.ErrExists)
		}
		if err := s.checkTenant(u); err != nil {
			return err
		}
		s.users[u.ID] = u
		s.emails[orgKey{u.OrgID, u.Email}] = u.ID
		return nil
	})
}

// GetUser returns the user; ErrNotFound when unknown.
func (s *Store) GetUser(ctx context.Context, id string) (storage.User, error) {
	var out storage.User
	err := s.view(ctx, func() error {
		u, ok := s.users[id]
		if !ok {
			return fmt.Errorf("user %q: %w", id, storage.ErrNotFound)
		}
		out = u
		return nil
	})
	return out, err
}

// GetUserByEmail returns the organization's user with the (normalised) email.
func (s *Store) GetUserByEmail(ctx context.Context, orgID, email string) (storage.User, error) {
	var out storage.User
	err := s.view(ctx, func() error {
		id, ok := s.emails[orgKey{orgID, email}]
		if !ok {
			return fmt.Errorf("user email: %w", storage.ErrNotFound)
		}
		out = s.users[id]
		return nil
	})
	return out, err
}

// ListUsers returns one page of the org's users ordered by email. The cursor
// is the last email of the previous page, so pages stay gap-free while users
// are added or removed between calls. Limit <= 0 means no limit.
func (s *Store) ListUsers(ctx context.Context, q storage.UserQuery) ([]storage.User, string, error) {
	after, err := decodeUserCursor(q.Cursor)
	if err != nil {
		return nil, "", err
	}
	needle := strings.ToLower(q.Q)
	var out []storage.User
	err = s.view(ctx, func() error {
		for _, u := range s.users {
			if u.OrgID != q.OrgID || (q.TenantID != "" && u.TenantID != q.TenantID) {
				continue
			}
			if q.Cursor != "" && u.Email <= after {
				continue
			}
			if needle != "" && !strings.Contains(strings.ToLower(u.Email), needle) && !strings.Contains(strings.ToLower(u.Name), needle) {
				continue
			}
			out = append(out, u)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	slices.SortFunc(out, func(a, b storage.User) int { return strings.Compare(a.Email, b.Email) })
	if q.Limit <= 0 || len(out) <= q.Limit {
		return out, "", nil
	}
	out = out[:q.Limit]
	return out, base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].Email)), nil
}

func decodeUserCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", fmt.Errorf("user cursor %q: %w", c, storage.ErrInvalidCursor)
	}
	return string(b), nil
}

// CountUsers counts the org's users, or one tenant's when tenantID is set.
func (s *Store) CountUsers(ctx context.Context, orgID, tenantID string) (int, error) {
	n := 0
	err := s.view(ctx, func() error {
		for _, u := range s.users {
			if u.OrgID == orgID && (tenantID == "" || u.TenantID == tenantID) {
				n++
			}
		}
		return nil
	})
	return n, err
}

// CountPartnerUsers counts the users whose PartnerID is partnerID.
func (s *Store) CountPartnerUsers(ctx context.Context, partnerID string) (int, error) {
	n := 0
	err := s.view(ctx, func() error {
		n = s.countPartnerUsers(partnerID)
		return nil
	})
	return n, err
}

// DeleteUser removes the user and every session of it.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.update(ctx, func() error {
		u, ok := s.users[id]
		if !ok {
			return fmt.Errorf("user %q: %w", id, storage.ErrNotFound)
		}
		delete(s.users, id)
		delete(s.emails, orgKey{u.OrgID, u.Email})
		for sid, ss := range s.sessions {
			if ss.UserID == id {
				delete(s.sessions, sid)
			}
		}
		return nil
	})
}

// SignIn applies w atomically. Every check, Provision included, runs before
// the first mutation, so any error leaves the store exactly as it was.
//
// The replay marker is judged against w.Now, which is required. The session's partner is checked under the same lock that
// UpdatePartner takes, so a sign-in racing a deactivation either lands first
// (and its session is revoked with the others) or is refused.
func (s *Store) SignIn(ctx context.Context, w storage.SignInWrite) (storage.User, error) {
	if w.Now.IsZero() {
		return storage.User{}, errors.New("sign-in: Now is zero")
	}
	if w.OrgID == "" || w.Email == "" {
		return storage.User{}, errors.New("sign-in: organization or email is empty")
	}
	if w.Session.OrgID != w.OrgID {
		return storage.User{}, fmt.Errorf("sign-in: session organization %q differs from the user's %q", w.Session.OrgID, w.OrgID)
	}
	now := w.Now
	var out storage.User
	err := s.update(ctx, func() error {
		if p, ok := s.partners[orgKey{w.Session.OrgID, w.Session.PartnerID}]; !ok || !p.Active {
			return fmt.Errorf("sign-in: partner %q: %w", w.Session.PartnerID, storage.ErrPartnerInactive)
		}
		if w.Replay != nil {
			if exp, ok := s.replays[w.Replay.Key]; ok && live(exp, now) {
				return fmt.Errorf("sign-in: %w", storage.ErrReplay)
			}
		}
		var existing *storage.User
		if id, ok := s.emails[orgKey{w.OrgID, w.Email}]; ok {
			u := s.users[id]
			existing = &u
		}
		u, err := w.Provision(existing, s.countPartnerUsers)
		if err != nil {
			return err
		}
		if err := s.checkProvisioned(w.OrgID, w.Email, existing, u); err != nil {
			return err
		}
		if _, ok := s.sessions[w.Session.ID]; ok {
			return fmt.Errorf("session: %w", storage.ErrExists)
		}
		// A key deleted since it verified the token is skipped: the
		// verification already happened and the record is gone. An older
		// touch never moves LastUsedAt back.
		var key orgKey
		touch := false
		if w.TouchKey != nil {
			key = orgKey{w.TouchKey.OrgID, w.TouchKey.Kid}
			k, ok := s.keys[key]
			touch = ok && w.TouchKey.At.After(k.LastUsedAt)
		}
		var event storage.AuditEvent
		if w.Audit != nil {
			if event, err = s.chain(*w.Audit); err != nil {
				return err
			}
		}

		if w.Replay != nil {
			s.replays[w.Replay.Key] = w.Replay.ExpiresAt
		}
		s.users[u.ID] = u
		s.emails[orgKey{u.OrgID, u.Email}] = u.ID
		session := w.Session
		session.UserID = u.ID
		s.sessions[session.ID] = session
		if touch {
			k := s.keys[key]
			k.LastUsedAt = w.TouchKey.At
			s.keys[key] = k
		}
		if w.Audit != nil {
			s.appendChained(event)
		}
		out = u
		return nil
	})
	return out, err
}

// checkProvisioned refuses a provisioned user that would break the email or
// id index: it must keep the organization and email the sign-in selected by,
// keep the existing user's id, or (for a new user) bring an unused id.
func (s *Store) checkProvisioned(orgID, email string, existing *storage.User, u storage.User) error {
	switch {
	case u.ID == "":
		return fmt.Errorf("sign-in: provisioned user has no id")
	case u.OrgID != orgID:
		return fmt.Errorf("sign-in: provisioned user's organization %q differs from %q: %w", u.OrgID, orgID, storage.ErrConflict)
	case u.Email != email:
		return fmt.Errorf("sign-in: provisioned email %q differs from %q: %w", u.Email, email, storage.ErrConflict)
	case existing != nil && u.ID != existing.ID:
		return fmt.Errorf("sign-in: provisioned user changed id: %w", storage.ErrConflict)
	}
	if _, taken := s.users[u.ID]; existing == nil && taken {
		return fmt.Errorf("user %q: %w", u.ID, storage.ErrExists)
	}
	return s.checkTenant(u)
}

// checkTenant refuses a user bound to a tenant its organization does not
// have; the caller holds the lock, so a tenant deletion cannot slip between.
func (s *Store) checkTenant(u storage.User) error {
	if _, ok := s.tenants[orgKey{u.OrgID, u.TenantID}]; !ok {
		return fmt.Errorf("user %q: tenant %q: %w", u.Email, u.TenantID, storage.ErrNoTenant)
	}
	return nil
}

// countPartnerUsers is handed to Provision; the caller already holds the lock.
// No user is counted for the empty partner id, as in bolt's index.
func (s *Store) countPartnerUsers(partnerID string) int {
	if partnerID == "" {
		return 0
	}
	n := 0
	for _, u := range s.users {
		if u.PartnerID == partnerID {
			n++
		}
	}
	return n
}
