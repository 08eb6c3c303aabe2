package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"gatehouse/storage"
)

// Revoke applies a partner-side sign-out or deprovisioning through the group
// writer. Like SignIn, every check (replay, Check) runs before anything is
// planned, so a refused revoke leaves no trace in the shared transaction.
// The user's sessions are found by scanning the sessions bucket (there is no
// per-user index, see sessions.go); a revoke is a rare server-to-server call,
// never on the sign-in path.
func (s *Store) Revoke(ctx context.Context, w storage.RevokeWrite) (storage.RevokeResult, error) {
	if w.Now.IsZero() {
		return storage.RevokeResult{}, errors.New("revoke: Now is zero")
	}
	if w.Replay.Key == "" || w.Email == "" || w.Check == nil {
		return storage.RevokeResult{}, errors.New("revoke: replay key, email and check are required")
	}
	var out storage.RevokeResult
	err := s.write(ctx, func(tx *bbolt.Tx) (writeSet, error) {
		if v := tx.Bucket(bktReplays).Get([]byte(w.Replay.Key)); v != nil && liveAt(v, w.Now) {
			return nil, storage.ErrReplay
		}
		existing, err := s.userByEmail(tx, w.OrgID, w.Email)
		if err != nil {
			return nil, err
		}
		var arg *storage.User
		if existing != nil {
			c := *existing
			arg = &c
		}
		if err := w.Check(arg); err != nil {
			return nil, err // as is, per the contract
		}
		res := storage.RevokeResult{User: existing}
		var ws writeSet
		ws.put(bktReplays, []byte(w.Replay.Key), encTime(w.Replay.ExpiresAt))
		if existing != nil {
			for _, k := range sessionKeysWhere(tx, func(v []byte) bool { return sessionHas(v, "user_id", existing.ID) }) {
				if sessionLive(tx.Bucket(bktSessions).Get(k), w.Now) {
					res.SessionsRevoked++
				}
				ws.del(bktSessions, k)
			}
			if w.DeleteUser {
				ws.del(bktUsers, []byte(existing.ID))
				ws.del(bktOrgUsers, join(existing.OrgID, existing.Email))
				if existing.PartnerID != "" {
					ws.del(bktPartnerUsers, join(existing.PartnerID, existing.ID))
				}
			}
		}
		keys, err := loginTokensOf(tx, w.OrgID, w.Email)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			ws.del(bktLoginTokens, k)
		}
		res.LoginTokens = len(keys)
		if w.Audit != nil {
			p, err := prepareAudit(w.Audit(res))
			if err != nil {
				return nil, err
			}
			planAudit(tx, &ws, p)
		}
		out = res
		return ws, nil
	})
	if err != nil {
		return storage.RevokeResult{}, fmt.Errorf("revoke: %w", err)
	}
	return out, nil
}

// loginTokensOf collects the keys of the unconsumed login tokens issued for
// email in org. Login tokens live for seconds, so the bucket stays small.
func loginTokensOf(tx *bbolt.Tx, orgID, email string) ([][]byte, error) {
	var keys [][]byte
	err := tx.Bucket(bktLoginTokens).ForEach(func(k, v []byte) error {
		var t struct {
			OrgID string `json:"org_id"`
			Email string `json:"email"`
		}
		if err := json.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("decode login token: %w", err)
		}
		if t.OrgID == orgID && t.Email == email {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	return keys, err
}
