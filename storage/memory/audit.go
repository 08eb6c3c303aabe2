package memory

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"gatehouse/storage"
)

// AppendAudit assigns Seq, PrevHash and Hash and stores the event.
func (s *Store) AppendAudit(ctx context.Context, e storage.AuditEvent) (storage.AuditEvent, error) {
	var out storage.AuditEvent
	err := s.update(ctx, func() error {
		chained, err := s.chain(e)
		if err != nil {
			return err
		}
		s.appendChained(chained)
		out = cloneEvent(chained)
		return nil
	})
	return out, err
}

// chain links e to the end of the log without storing it, so SignIn can
// fail on a bad event before it writes anything. The caller holds the lock.
func (s *Store) chain(e storage.AuditEvent) (storage.AuditEvent, error) {
	details, err := normaliseDetails(e.Details)
	if err != nil {
		return storage.AuditEvent{}, err
	}
	e.Details = details
	e.Seq = s.lastSeq + 1
	e.PrevHash = s.lastHash
	if e.Hash, err = storage.HashEvent(e); err != nil {
		return storage.AuditEvent{}, err
	}
	return e, nil
}

// appendChained stores an event returned by chain.
func (s *Store) appendChained(e storage.AuditEvent) {
	s.audit = append(s.audit, e)
	s.lastSeq, s.lastHash = e.Seq, e.Hash
}

// ListAudit returns one page of matching events, newest first. The cursor is
// the Seq of the last event returned, so appends between pages do not shift
// later pages. Limit <= 0 means no limit.
func (s *Store) ListAudit(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, string, error) {
	before := uint64(0) // 0: start at the newest event
	if q.Cursor != "" {
		n, err := strconv.ParseUint(q.Cursor, 10, 64)
		if err != nil || n == 0 {
			return nil, "", fmt.Errorf("audit cursor %q: %w", q.Cursor, storage.ErrInvalidCursor)
		}
		before = n
	}
	var out []storage.AuditEvent
	more := false
	err := s.view(ctx, func() error {
		for _, e := range slices.Backward(s.audit) {
			if before != 0 && e.Seq >= before {
				continue
			}
			if !q.Matches(e) {
				continue
			}
			if q.Limit > 0 && len(out) == q.Limit {
				more = true
				break
			}
			out = append(out, cloneEvent(e))
		}
		return nil
	})
	if err != nil || !more {
		return out, "", err
	}
	return out, strconv.FormatUint(out[len(out)-1].Seq, 10), nil
}

// WalkAudit calls fn for every event in Seq order. It walks a snapshot taken
// under the read lock, so fn may be slow (an export) without blocking writers.
func (s *Store) WalkAudit(ctx context.Context, fn func(storage.AuditEvent) error) error {
	var snapshot []storage.AuditEvent
	err := s.view(ctx, func() error {
		snapshot = slices.Clone(s.audit)
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range snapshot {
		if err := fn(cloneEvent(e)); err != nil {
			return err
		}
	}
	return nil
}

// PruneAudit deletes events older than before.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	n := 0
	err := s.update(ctx, func() error {
		kept := slices.DeleteFunc(s.audit, func(e storage.AuditEvent) bool { return e.Time.Before(before) })
		n = len(s.audit) - len(kept)
		s.audit = kept
		return nil
	})
	return n, err
}
