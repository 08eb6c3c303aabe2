package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/storage"
)

// recordReplaySQL records a marker unless a live one exists: a marker that
// expired by $3 (the caller's now) is overwritten in place. Zero rows
// returned is a replay. Two instances racing for one key are ordered by the
// primary key: the second waits for the first to commit, then sees its row.
const recordReplaySQL = `INSERT INTO replays (key, expires_at) VALUES ($1, $2)
	ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE replays.expires_at <= $3
	RETURNING true`

// ReplaySeen reports whether key is recorded and unexpired at now.
func (s *Store) ReplaySeen(ctx context.Context, key string, now time.Time) (bool, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	var seen bool
	err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM replays WHERE key = $1 AND expires_at > $2)", key, now.UTC()).Scan(&seen)
	return seen, classify(err)
}

// RecordReplay records r; ErrReplay while the key is recorded and unexpired.
func (s *Store) RecordReplay(ctx context.Context, r storage.Replay, now time.Time) error {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	var recorded bool
	err := s.pool.QueryRow(ctx, recordReplaySQL, r.Key, r.ExpiresAt.UTC(), now.UTC()).Scan(&recorded)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("replay key: %w", storage.ErrReplay)
	}
	return classify(err)
}

// GetSession returns the session whether or not it has expired; judging
// expiry is the caller's, who knows the time.
func (s *Store) GetSession(ctx context.Context, id string) (storage.Session, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	return getJSON[storage.Session](ctx, s.pool, "session", "SELECT data FROM sessions WHERE id = $1", id)
}

// GetSessionUser reads the session and its user in one statement (one
// round trip per forward-auth check instead of two, and one snapshot).
func (s *Store) GetSessionUser(ctx context.Context, id string) (storage.Session, storage.User, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	var sess storage.Session
	var u storage.User
	var rawSession, rawUser []byte
	err := s.pool.QueryRow(ctx, "SELECT s.data, u.data FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.id = $1", id).
		Scan(&rawSession, &rawUser)
	if errors.Is(err, pgx.ErrNoRows) {
		return sess, u, fmt.Errorf("session: %w", storage.ErrNotFound)
	}
	if err != nil {
		return sess, u, classify(err)
	}
	if err := json.Unmarshal(rawSession, &sess); err != nil {
		return storage.Session{}, u, fmt.Errorf("decode session: %w", err)
	}
	if rawUser == nil {
		return sess, u, fmt.Errorf("user %q: %w", sess.UserID, storage.ErrNotFound)
	}
	if err := json.Unmarshal(rawUser, &u); err != nil {
		return sess, storage.User{}, fmt.Errorf("decode user: %w", err)
	}
	return sess, u, nil
}

// DeleteSession removes the session; ErrNotFound when unknown.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, "DELETE FROM sessions WHERE id = $1", id)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("session: %w", storage.ErrNotFound)
	}
	return nil
}

// CountSessions counts the user's sessions unexpired at now.
func (s *Store) CountSessions(ctx context.Context, userID string, now time.Time) (int, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	var n int
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM sessions WHERE user_id = $1 AND expires_at > $2", userID, now.UTC()).Scan(&n)
	return n, classify(err)
}

// CountActiveSessions counts every session unexpired at now.
func (s *Store) CountActiveSessions(ctx context.Context, now time.Time) (int, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	var n int
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM sessions WHERE expires_at > $1", now.UTC()).Scan(&n)
	return n, classify(err)
}

// CreateLoginToken stores t; ErrExists when the id is taken.
func (s *Store) CreateLoginToken(ctx context.Context, t storage.LoginToken) error {
	data, err := encode(t)
	if err != nil {
		return err
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	_, err = s.pool.Exec(ctx, "INSERT INTO login_tokens (id, org_id, email, expires_at, data) VALUES ($1, $2, $3, $4, $5)",
		t.ID, t.OrgID, t.Email, t.ExpiresAt.UTC(), data)
	if err != nil {
		return fmt.Errorf("login token: %w", classify(err))
	}
	return nil
}

// ConsumeLoginToken deletes and returns the token in one statement (DELETE …
// RETURNING): of any number of instances racing for it, exactly one gets the
// row. An expired token is deleted too, and is ErrNotFound.
func (s *Store) ConsumeLoginToken(ctx context.Context, id string, now time.Time) (storage.LoginToken, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	var raw []byte
	var expires time.Time
	err := s.pool.QueryRow(ctx, "DELETE FROM login_tokens WHERE id = $1 RETURNING expires_at, data", id).Scan(&expires, &raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.LoginToken{}, fmt.Errorf("login token: %w", storage.ErrNotFound)
	}
	if err != nil {
		return storage.LoginToken{}, classify(err)
	}
	var t storage.LoginToken
	if err := json.Unmarshal(raw, &t); err != nil {
		return storage.LoginToken{}, fmt.Errorf("decode login token: %w", err)
	}
	if !expires.After(now) {
		return storage.LoginToken{}, fmt.Errorf("login token expired: %w", storage.ErrNotFound)
	}
	return t, nil
}

// CreateAdminToken stores t; ErrExists when the id or hash is taken.
func (s *Store) CreateAdminToken(ctx context.Context, t storage.AdminToken) error {
	data, err := encode(t)
	if err != nil {
		return err
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	_, err = s.pool.Exec(ctx, "INSERT INTO admin_tokens (id, org_id, hash, last_used_at, data) VALUES ($1, $2, $3, $4, $5)",
		t.ID, t.OrgID, t.Hash, nullTime(t.LastUsedAt), data)
	if err != nil {
		return fmt.Errorf("admin token %q: %w", t.ID, classify(err))
	}
	return nil
}

// adminTokenColumns reads a token: its record plus last_used_at, which
// TouchAdminToken moves without rewriting the record.
const adminTokenColumns = "SELECT data, last_used_at FROM admin_tokens "

func scanAdminToken(row pgx.Row) (storage.AdminToken, error) {
	var raw []byte
	var last *time.Time
	if err := row.Scan(&raw, &last); err != nil {
		return storage.AdminToken{}, err
	}
	var t storage.AdminToken
	if err := json.Unmarshal(raw, &t); err != nil {
		return storage.AdminToken{}, fmt.Errorf("decode admin token: %w", err)
	}
	if last != nil {
		t.LastUsedAt = utc(*last)
	}
	return t, nil
}

// GetAdminTokenByHash resolves a presented bearer token's hash.
func (s *Store) GetAdminTokenByHash(ctx context.Context, hash string) (storage.AdminToken, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	t, err := scanAdminToken(s.pool.QueryRow(ctx, adminTokenColumns+"WHERE hash = $1", hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, fmt.Errorf("admin token: %w", storage.ErrNotFound)
	}
	return t, classify(err)
}

// ListAdminTokens returns the org's admin tokens ordered by id.
func (s *Store) ListAdminTokens(ctx context.Context, orgID string) ([]storage.AdminToken, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, adminTokenColumns+"WHERE org_id = $1 ORDER BY id", orgID)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []storage.AdminToken
	for rows.Next() {
		t, err := scanAdminToken(rows)
		if err != nil {
			return nil, classify(err)
		}
		out = append(out, t)
	}
	return out, classify(rows.Err())
}

// DeleteAdminToken removes the token; ErrNotFound when it is unknown or
// belongs to another org, so one org's admin cannot probe another's ids.
func (s *Store) DeleteAdminToken(ctx context.Context, orgID, id string) error {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, "DELETE FROM admin_tokens WHERE id = $1 AND org_id = $2", id, orgID)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("admin token %q: %w", id, storage.ErrNotFound)
	}
	return nil
}

// TouchAdminToken sets the token's LastUsedAt.
func (s *Store) TouchAdminToken(ctx context.Context, id string, at time.Time) error {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, "UPDATE admin_tokens SET last_used_at = $2 WHERE id = $1", id, nullTime(at))
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("admin token %q: %w", id, storage.ErrNotFound)
	}
	return nil
}

// sweepBatch is the most rows one sweep statement deletes: each batch is a
// short transaction of its own, and rows other transactions hold are skipped
// rather than waited for, so a sweep never stalls sign-ins (nor they it).
const sweepBatch = 1000

// Sweep deletes sessions, replay markers and login tokens expired at now
// (computed by the caller, in Go), in batches of sweepBatch.
func (s *Store) Sweep(ctx context.Context, now time.Time) (storage.SweepResult, error) {
	now = now.UTC()
	var r storage.SweepResult
	var err error
	for _, step := range []struct {
		n   *int
		sql string
	}{
		{&r.Sessions, "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at <= $1 LIMIT 1000 FOR UPDATE SKIP LOCKED)"},
		{&r.Replays, "DELETE FROM replays WHERE key IN (SELECT key FROM replays WHERE expires_at <= $1 LIMIT 1000 FOR UPDATE SKIP LOCKED)"},
		{&r.LoginTokens, "DELETE FROM login_tokens WHERE id IN (SELECT id FROM login_tokens WHERE expires_at <= $1 LIMIT 1000 FOR UPDATE SKIP LOCKED)"},
	} {
		if *step.n, err = s.deleteBatches(ctx, step.sql, now); err != nil {
			return r, err
		}
	}
	return r, nil
}

// deleteBatches runs a DELETE limited to sweepBatch rows until a batch comes
// back short, each under its own deadline, and returns the total.
func (s *Store) deleteBatches(ctx context.Context, sql string, args ...any) (int, error) {
	total := 0
	for {
		n, err := func() (int64, error) {
			ctx, cancel := s.deadline(ctx)
			defer cancel()
			tag, err := s.pool.Exec(ctx, sql, args...)
			return tag.RowsAffected(), err
		}()
		if err != nil {
			return total, classify(err)
		}
		total += int(n)
		if n < sweepBatch {
			return total, nil
		}
	}
}
