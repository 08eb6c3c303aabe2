package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"gatehouse/storage"
)

// Revoke applies a partner-side sign-out or deprovisioning in one
// transaction: the replay marker (zero rows back: ErrReplay), the user's row
// locked FOR UPDATE (so a sign-in of the same user on any instance is ordered
// before or after it), Check, the deletion of the user's sessions and the
// email's login tokens (and the user), then the audit event under the chain
// head's lock, and COMMIT before Revoke returns.
func (s *Store) Revoke(ctx context.Context, w storage.RevokeWrite) (storage.RevokeResult, error) {
	if w.Now.IsZero() {
		return storage.RevokeResult{}, errors.New("revoke: Now is zero")
	}
	if w.Replay.Key == "" || w.Email == "" || w.Check == nil {
		return storage.RevokeResult{}, errors.New("revoke: replay key, email and check are required")
	}
	var res storage.RevokeResult
	err := s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		res = storage.RevokeResult{}
		b := &pgx.Batch{}
		b.Queue(recordReplaySQL, w.Replay.Key, w.Replay.ExpiresAt.UTC(), w.Now.UTC())
		b.Queue(userByEmailSQL+" FOR UPDATE", w.OrgID, w.Email)
		existing, err := func() (*storage.User, error) {
			br := tx.SendBatch(ctx, b)
			defer br.Close()
			var recorded bool
			if err := br.QueryRow().Scan(&recorded); err != nil {
				if errors.Is(err, pgx.ErrNoRows) {
					return nil, fmt.Errorf("revoke: %w", storage.ErrReplay)
				}
				return nil, err
			}
			var raw []byte
			if err := br.QueryRow().Scan(&raw); err != nil {
				if errors.Is(err, pgx.ErrNoRows) {
					return nil, br.Close()
				}
				return nil, err
			}
			var u storage.User
			if err := json.Unmarshal(raw, &u); err != nil {
				return nil, fmt.Errorf("decode user: %w", err)
			}
			return &u, br.Close()
		}()
		if err != nil {
			return err
		}
		var arg *storage.User
		if existing != nil {
			c := *existing // Check may scribble on what it is given
			arg = &c
		}
		if err := w.Check(arg); err != nil {
			return err
		}
		res.User = existing

		b = &pgx.Batch{}
		if existing != nil {
			b.Queue(`WITH gone AS (DELETE FROM sessions WHERE user_id = $1 RETURNING expires_at)
				SELECT count(*) FILTER (WHERE expires_at > $2) FROM gone`, existing.ID, w.Now.UTC())
		}
		b.Queue(`WITH gone AS (DELETE FROM login_tokens WHERE org_id = $1 AND email = $2 RETURNING 1)
			SELECT count(*) FROM gone`, w.OrgID, w.Email)
		if existing != nil && w.DeleteUser {
			b.Queue("DELETE FROM users WHERE id = $1", existing.ID)
		}
		br := tx.SendBatch(ctx, b)
		if existing != nil {
			if err := br.QueryRow().Scan(&res.SessionsRevoked); err != nil {
				br.Close()
				return err
			}
		}
		if err := br.QueryRow().Scan(&res.LoginTokens); err != nil {
			br.Close()
			return err
		}
		if err := br.Close(); err != nil {
			return err
		}
		if w.Audit == nil {
			return nil
		}
		a, err := prepareAudit(w.Audit(res))
		if err != nil {
			return err
		}
		b = &pgx.Batch{}
		b.Queue(lockAuditHeadSQL)
		queueAppend(b, &a)
		br = tx.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		if _, err := readAppend(br, &a); err != nil {
			return err
		}
		return br.Close()
	})
	if err != nil {
		return storage.RevokeResult{}, err
	}
	return res, nil
}
