package memory

import (
	"context"
	"fmt"
	"time"

	"gatehouse/storage"
)

// ReplaySeen reports whether key is recorded and unexpired at now.
func (s *Store) ReplaySeen(ctx context.Context, key string, now time.Time) (bool, error) {
	seen := false
	err := s.view(ctx, func() error {
		exp, ok := s.replays[key]
		seen = ok && live(exp, now)
		return nil
	})
	return seen, err
}

// RecordReplay records r; ErrReplay while the key is recorded and unexpired.
// An expired marker is overwritten rather than waiting for Sweep.
func (s *Store) RecordReplay(ctx context.Context, r storage.Replay, now time.Time) error {
	return s.update(ctx, func() error {
		if exp, ok := s.replays[r.Key]; ok && live(exp, now) {
			return fmt.Errorf("replay key: %w", storage.ErrReplay)
		}
		s.replays[r.Key] = r.ExpiresAt
		return nil
	})
}

// GetSession returns the session whether or not it has expired; judging
// expiry is the caller's, who knows the time.
func (s *Store) GetSession(ctx context.Context, id string) (storage.Session, error) {
	var out storage.Session
	err := s.view(ctx, func() error {
		ss, ok := s.sessions[id]
		if !ok {
			return fmt.Errorf("session: %w", storage.ErrNotFound)
		}
		out = ss
		return nil
	})
	return out, err
}

// GetSessionUser reads the session and its user under one lock.
func (s *Store) GetSessionUser(ctx context.Context, id string) (storage.Session, storage.User, error) {
	var sess storage.Session
	var u storage.User
	err := s.view(ctx, func() error {
		ss, ok := s.sessions[id]
		if !ok {
			return fmt.Errorf("session: %w", storage.ErrNotFound)
		}
		sess = ss
		uu, ok := s.users[ss.UserID]
		if !ok {
			return fmt.Errorf("user %q: %w", ss.UserID, storage.ErrNotFound)
		}
		u = uu
		return nil
	})
	return sess, u, err
}

// DeleteSession removes the session; ErrNotFound when unknown.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return s.update(ctx, func() error {
		if _, ok := s.sessions[id]; !ok {
			return fmt.Errorf("session: %w", storage.ErrNotFound)
		}
		delete(s.sessions, id)
		return nil
	})
}

// CountSessions counts the user's sessions unexpired at now.
func (s *Store) CountSessions(ctx context.Context, userID string, now time.Time) (int, error) {
	return s.countSessions(ctx, func(ss storage.Session) bool { return ss.UserID == userID && live(ss.ExpiresAt, now) })
}

// CountActiveSessions counts every session unexpired at now.
func (s *Store) CountActiveSessions(ctx context.Context, now time.Time) (int, error) {
	return s.countSessions(ctx, func(ss storage.Session) bool { return live(ss.ExpiresAt, now) })
}

func (s *Store) countSessions(ctx context.Context, match func(storage.Session) bool) (int, error) {
	n := 0
	err := s.view(ctx, func() error {
		for _, ss := range s.sessions {
			if match(ss) {
				n++
			}
		}
		return nil
	})
	return n, err
}

// CreateLoginToken stores t; ErrExists when the id is taken.
func (s *Store) CreateLoginToken(ctx context.Context, t storage.LoginToken) error {
	return s.update(ctx, func() error {
		if _, ok := s.loginTokens[t.ID]; ok {
			return fmt.Errorf("login token: %w", storage.ErrExists)
		}
		s.loginTokens[t.ID] = t
		return nil
	})
}

// ConsumeLoginToken deletes and returns the token. The write lock makes the
// check and the delete one step, so exactly one concurrent caller wins.
func (s *Store) ConsumeLoginToken(ctx context.Context, id string, now time.Time) (storage.LoginToken, error) {
	var out storage.LoginToken
	err := s.update(ctx, func() error {
		t, ok := s.loginTokens[id]
		if !ok {
			return fmt.Errorf("login token: %w", storage.ErrNotFound)
		}
		// An expired token is useless; dropping it now spares Sweep the work.
		delete(s.loginTokens, id)
		if !live(t.ExpiresAt, now) {
			return fmt.Errorf("login token expired: %w", storage.ErrNotFound)
		}
		out = t
		return nil
	})
	return out, err
}

// CreateAdminToken stores t; ErrExists when the id or hash is taken.
func (s *Store) CreateAdminToken(ctx context.Context, t storage.AdminToken) error {
	return s.update(ctx, func() error {
		if _, ok := s.adminTokens[t.ID]; ok {
			return fmt.Errorf("admin token %q: %w", t.ID, storage.ErrExists)
		}
		if _, ok := s.adminHashes[t.Hash]; ok {
			return fmt.Errorf("admin token hash: %w", storage.ErrExists)
		}
		s.adminTokens[t.ID] = t
		s.adminHashes[t.Hash] = t.ID
		return nil
	})
}

// GetAdminTokenByHash resolves a presented bearer token's hash.
func (s *Store) GetAdminTokenByHash(ctx context.Context, hash string) (storage.AdminToken, error) {
	var out storage.AdminToken
	err := s.view(ctx, func() error {
		id, ok := s.adminHashes[hash]
		if !ok {
			return fmt.Errorf("admin token: %w", storage.ErrNotFound)
		}
		out = s.adminTokens[id]
		return nil
	})
	return out, err
}

// ListAdminTokens returns the org's admin tokens ordered by id.
func (s *Store) ListAdminTokens(ctx context.Context, orgID string) ([]storage.AdminToken, error) {
	var out []storage.AdminToken
	err := s.view(ctx, func() error {
		for _, t := range sortedBy(s.adminTokens, func(t storage.AdminToken) string { return t.ID }) {
			if t.OrgID == orgID {
				out = append(out, t)
			}
		}
		return nil
	})
	return out, err
}

// DeleteAdminToken removes the token; ErrNotFound when it is unknown or
// belongs to another org, so one org's admin cannot probe another's ids.
func (s *Store) DeleteAdminToken(ctx context.Context, orgID, id string) error {
	return s.update(ctx, func() error {
		t, ok := s.adminTokens[id]
		if !ok || t.OrgID != orgID {
			return fmt.Errorf("admin token %q: %w", id, storage.ErrNotFound)
		}
		delete(s.adminTokens, id)
		delete(s.adminHashes, t.Hash)
		return nil
	})
}

// TouchAdminToken sets the token's LastUsedAt.
func (s *Store) TouchAdminToken(ctx context.Context, id string, at time.Time) error {
	return s.update(ctx, func() error {
		t, ok := s.adminTokens[id]
		if !ok {
			return fmt.Errorf("admin token %q: %w", id, storage.ErrNotFound)
		}
		t.LastUsedAt = at
		s.adminTokens[id] = t
		return nil
	})
}

// Sweep deletes sessions, replay markers and login tokens expired at now.
func (s *Store) Sweep(ctx context.Context, now time.Time) (storage.SweepResult, error) {
	var r storage.SweepResult
	err := s.update(ctx, func() error {
		for id, ss := range s.sessions {
			if !live(ss.ExpiresAt, now) {
				delete(s.sessions, id)
				r.Sessions++
			}
		}
		for k, exp := range s.replays {
			if !live(exp, now) {
				delete(s.replays, k)
				r.Replays++
			}
		}
		for id, t := range s.loginTokens {
			if !live(t.ExpiresAt, now) {
				delete(s.loginTokens, id)
				r.LoginTokens++
			}
		}
		return nil
	})
	return r, err
}
