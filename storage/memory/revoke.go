package memory

import (
	"context"
	"errors"
	"fmt"

	"gatehouse/storage"
)

// Revoke applies w atomically: every check (replay, Check, the audit chain)
// runs before the first mutation, so an error leaves the store as it was.
func (s *Store) Revoke(ctx context.Context, w storage.RevokeWrite) (storage.RevokeResult, error) {
	if w.Now.IsZero() {
		return storage.RevokeResult{}, errors.New("revoke: Now is zero")
	}
	if w.Replay.Key == "" || w.Email == "" || w.Check == nil {
		return storage.RevokeResult{}, errors.New("revoke: replay key, email and check are required")
	}
	var res storage.RevokeResult
	err := s.update(ctx, func() error {
		if exp, ok := s.replays[w.Replay.Key]; ok && live(exp, w.Now) {
			return fmt.Errorf("revoke: %w", storage.ErrReplay)
		}
		var existing *storage.User
		if id, ok := s.emails[orgKey{w.OrgID, w.Email}]; ok {
			u := s.users[id]
			existing = &u
		}
		var arg *storage.User
		if existing != nil {
			c := *existing
			arg = &c
		}
		if err := w.Check(arg); err != nil {
			return err
		}
		res = storage.RevokeResult{User: existing}
		var sessions, tokens []string
		if existing != nil {
			for id, ss := range s.sessions {
				if ss.UserID == existing.ID {
					sessions = append(sessions, id)
					if live(ss.ExpiresAt, w.Now) {
						res.SessionsRevoked++
					}
				}
			}
		}
		for id, t := range s.loginTokens {
			if t.OrgID == w.OrgID && t.Email == w.Email {
				tokens = append(tokens, id)
			}
		}
		res.LoginTokens = len(tokens)
		var event storage.AuditEvent
		hasAudit := w.Audit != nil
		if hasAudit {
			var err error
			if event, err = s.chain(w.Audit(res)); err != nil {
				return err
			}
		}

		s.replays[w.Replay.Key] = w.Replay.ExpiresAt
		for _, id := range sessions {
			delete(s.sessions, id)
		}
		for _, id := range tokens {
			delete(s.loginTokens, id)
		}
		if existing != nil && w.DeleteUser {
			delete(s.users, existing.ID)
			delete(s.emails, orgKey{existing.OrgID, existing.Email})
		}
		if hasAudit {
			s.appendChained(event)
		}
		return nil
	})
	if err != nil {
		return storage.RevokeResult{}, err
	}
	return res, nil
}
