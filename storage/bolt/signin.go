package bolt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"gatehouse/storage"
)

// SignIn applies a sign-in atomically through the group writer. Every check
// (replay, Provision, uniqueness) runs before anything is planned for
// writing, so a refused sign-in leaves no trace in the shared transaction.
//
// The replay check treats a marker as live while its expiry is after w.Now,
// which is required. The partner named by
// the session must exist in the session's organization and be active in the
// same transaction, so a sign-in racing a deactivation either commits before
// it (and its session is revoked with the others) or is refused.
func (s *Store) SignIn(ctx context.Context, w storage.SignInWrite) (storage.User, error) {
	var audit *preparedAudit
	if w.Audit != nil {
		p, err := prepareAudit(*w.Audit)
		if err != nil {
			return storage.User{}, fmt.Errorf("sign in: %w", err)
		}
		audit = &p
	}
	if w.Provision == nil {
		return storage.User{}, errors.New("sign in: no provision function")
	}
	if w.OrgID == "" || w.Email == "" {
		return storage.User{}, errors.New("sign in: organization or email is empty")
	}
	if w.Session.OrgID != w.OrgID {
		return storage.User{}, fmt.Errorf("sign in: session organization %q differs from the user's %q", w.Session.OrgID, w.OrgID)
	}
	if w.Session.ID == "" {
		return storage.User{}, errors.New("sign in: session id is empty")
	}
	if w.Now.IsZero() {
		// Replay expiry is judged on the caller's clock; a wall-clock fallback
		// would let a test (or a caller) silently depend on today's date.
		return storage.User{}, errors.New("sign in: Now is zero")
	}
	now := w.Now
	var out storage.User
	err := s.write(ctx, func(tx *bbolt.Tx) (writeSet, error) {
		if !partnerActive(tx, w.Session.OrgID, w.Session.PartnerID) {
			return nil, fmt.Errorf("partner %q: %w", w.Session.PartnerID, storage.ErrPartnerInactive)
		}
		if w.Replay != nil {
			if v := tx.Bucket(bktReplays).Get([]byte(w.Replay.Key)); v != nil && liveAt(v, now) {
				return nil, storage.ErrReplay
			}
		}
		existing, err := s.userByEmail(tx, w.OrgID, w.Email)
		if err != nil {
			return nil, err
		}
		var arg *storage.User
		if existing != nil {
			c := *existing // Provision may modify what it is given
			arg = &c
		}
		u, err := w.Provision(arg, func(partnerID string) int { return countPartnerUsers(tx, partnerID) })
		if err != nil {
			return nil, err // as is, per the contract
		}
		if u.Email != w.Email || u.OrgID != w.OrgID {
			return nil, fmt.Errorf("provisioned user %q in %q differs from sign-in's %q in %q", u.Email, u.OrgID, w.Email, w.OrgID)
		}
		if existing != nil {
			if u.ID != existing.ID {
				return nil, fmt.Errorf("provision changed user id %q to %q", existing.ID, u.ID)
			}
		} else if u.ID != "" && tx.Bucket(bktUsers).Get([]byte(u.ID)) != nil {
			return nil, fmt.Errorf("user id %q: %w", u.ID, storage.ErrExists)
		}

		var ws writeSet
		if err := planUser(tx, &ws, existing, u); err != nil {
			return nil, err
		}

		sess := w.Session
		sess.UserID = u.ID
		if tx.Bucket(bktSessions).Get([]byte(sess.ID)) != nil {
			return nil, fmt.Errorf("session: %w", storage.ErrExists)
		}
		data, err := encSession(sess)
		if err != nil {
			return nil, err
		}
		ws.put(bktSessions, []byte(sess.ID), data)

		if w.Replay != nil {
			ws.put(bktReplays, []byte(w.Replay.Key), encTime(w.Replay.ExpiresAt))
		}
		if w.TouchKey != nil {
			if err := planTouchKey(tx, &ws, *w.TouchKey); err != nil {
				return nil, err
			}
		}
		if audit != nil {
			planAudit(tx, &ws, *audit)
		}
		out = u
		return ws, nil
	})
	if err != nil {
		return storage.User{}, fmt.Errorf("sign in: %w", err)
	}
	return out, nil
}

// planTouchKey advances the key's LastUsedAt. A key deleted since it verified
// the token is skipped rather than failing the sign-in: the verification
// already happened, and the record it would update is gone. An older touch
// (groups can carry requests slightly out of time order) writes nothing.
func planTouchKey(tx *bbolt.Tx, ws *writeSet, t storage.KeyTouch) error {
	k := join(t.OrgID, t.Kid)
	var key storage.Key
	if err := getJSON(tx.Bucket(bktKeys), k, &key); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		return err
	}
	if !t.At.After(key.LastUsedAt) {
		return nil
	}
	key.LastUsedAt = t.At
	data, err := json.Marshal(key)
	if err != nil {
		return fmt.Errorf("encode key: %w", err)
	}
	ws.put(bktKeys, k, data)
	return nil
}

// ReplaySeen reports whether key is recorded and unexpired at now.
func (s *Store) ReplaySeen(ctx context.Context, key string, now time.Time) (bool, error) {
	seen := false
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bktReplays).Get([]byte(key))
		seen = v != nil && liveAt(v, now)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("replay seen: %w", err)
	}
	return seen, nil
}

// RecordReplay records a replay marker; ErrReplay when it is already
// recorded and unexpired. An expired marker is simply overwritten.
func (s *Store) RecordReplay(ctx context.Context, r storage.Replay, now time.Time) error {
	err := s.write(ctx, func(tx *bbolt.Tx) (writeSet, error) {
		if v := tx.Bucket(bktReplays).Get([]byte(r.Key)); v != nil && liveAt(v, now) {
			return nil, storage.ErrReplay
		}
		var ws writeSet
		ws.put(bktReplays, []byte(r.Key), encTime(r.ExpiresAt))
		return ws, nil
	})
	if err != nil {
		return fmt.Errorf("record replay: %w", err)
	}
	return nil
}

// GetSession returns a session by ID, expired or not; the caller decides.
func (s *Store) GetSession(ctx context.Context, id string) (storage.Session, error) {
	var sess storage.Session
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bktSessions).Get([]byte(id))
		if v == nil {
			return storage.ErrNotFound
		}
		var err error
		sess, err = s.sessionCache.decode([]byte(id), v, decSession)
		return err
	})
	if err != nil {
		return storage.Session{}, fmt.Errorf("get session: %w", err)
	}
	return sess, nil
}

// GetSessionUser reads a session and the user it belongs to in one read
// transaction: forward-auth needs both on every check, and a second
// transaction was a tenth of its store cost. A missing session is
// ErrNotFound with a zero session; a missing user is ErrNotFound with the
// session filled in, so the caller can still tell an expired session.
func (s *Store) GetSessionUser(ctx context.Context, id string) (storage.Session, storage.User, error) {
	if err := ctx.Err(); err != nil {
		return storage.Session{}, storage.User{}, fmt.Errorf("get session and user: %w", err)
	}
	// The generation is taken before the read transaction opens: see identityCache.
	gen := s.identities.generation()
	if hit, ok := s.identities.get(id, gen); ok {
		return hit.sess, hit.user, nil
	}
	var sess storage.Session
	var u storage.User
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bktSessions).Get([]byte(id))
		if v == nil {
			return storage.ErrNotFound
		}
		var err error
		if sess, err = s.sessionCache.decode([]byte(id), v, decSession); err != nil {
			return err
		}
		u, err = s.getUser(tx, []byte(sess.UserID))
		return err
	})
	if err != nil {
		return sess, storage.User{}, fmt.Errorf("get session and user: %w", err)
	}
	s.identities.put(id, gen, identity{sess: sess, user: u})
	return sess, u, nil
}

// DeleteSession removes a session.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *bbolt.Tx) (writeSet, error) {
		if tx.Bucket(bktSessions).Get([]byte(id)) == nil {
			return nil, storage.ErrNotFound
		}
		var ws writeSet
		ws.del(bktSessions, []byte(id))
		return ws, nil
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// CountSessions counts a user's sessions live at now (a scan: see sessions.go).
func (s *Store) CountSessions(ctx context.Context, userID string, now time.Time) (int, error) {
	n := 0
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bktSessions).ForEach(func(_, v []byte) error {
			if sessionLive(v, now) && sessionHas(v, "user_id", userID) {
				n++
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("count sessions: %w", err)
	}
	return n, nil
}

// CountActiveSessions counts sessions live at now from their expiry prefixes.
func (s *Store) CountActiveSessions(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bktSessions).ForEach(func(_, v []byte) error {
			if sessionLive(v, now) {
				n++
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("count active sessions: %w", err)
	}
	return n, nil
}

// CreateLoginToken stores a one-time login token; ErrExists on a duplicate ID.
func (s *Store) CreateLoginToken(ctx context.Context, t storage.LoginToken) error {
	err := s.write(ctx, func(tx *bbolt.Tx) (writeSet, error) {
		if tx.Bucket(bktLoginTokens).Get([]byte(t.ID)) != nil {
			return nil, storage.ErrExists
		}
		data, err := json.Marshal(t)
		if err != nil {
			return nil, fmt.Errorf("encode login token: %w", err)
		}
		var ws writeSet
		ws.put(bktLoginTokens, []byte(t.ID), data)
		return ws, nil
	})
	if err != nil {
		return fmt.Errorf("create login token: %w", err)
	}
	return nil
}

// ConsumeLoginToken deletes and returns a live token. The single writer makes
// the read-and-delete atomic, so exactly one concurrent caller wins. An
// expired token is left for Sweep: a refused request writes nothing.
func (s *Store) ConsumeLoginToken(ctx context.Context, id string, now time.Time) (storage.LoginToken, error) {
	var t storage.LoginToken
	err := s.write(ctx, func(tx *bbolt.Tx) (writeSet, error) {
		if err := getJSON(tx.Bucket(bktLoginTokens), []byte(id), &t); err != nil {
			return nil, err
		}
		if !t.ExpiresAt.After(now) {
			return nil, storage.ErrNotFound
		}
		var ws writeSet
		ws.del(bktLoginTokens, []byte(id))
		return ws, nil
	})
	if err != nil {
		return storage.LoginToken{}, fmt.Errorf("consume login token: %w", err)
	}
	return t, nil
}
