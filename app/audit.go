package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"gatehouse/storage"
)

// AuditList is a page of audit events, newest first.
type AuditList struct {
	Events     []storage.AuditEvent `json:"events"`
	NextCursor string               `json:"next_cursor"`
}

// AuditFilter selects events of one organization.
type AuditFilter struct {
	Type  string // exact type, or a prefix ending in "." ("signin.")
	Since string // RFC 3339 time, or a duration back from now ("24h")
	// RequestID finds the event of the answer a partner or user quotes;
	// Email (any case) and PartnerID the events of one user or partner.
	RequestID string
	Email     string
	PartnerID string
	Limit     int
	Cursor    string
}

// ListAudit pages through an organization's audit events (any actor of the
// organization may read them).
func (s *Service) ListAudit(ctx context.Context, actor Actor, orgID string, f AuditFilter) (AuditList, error) {
	if err := s.permit(ctx, actor, orgID, readAccess); err != nil {
		return AuditList{}, err
	}
	if f.Limit < 1 || f.Limit > maxListLimit {
		return AuditList{}, validation("limit", "must be between 1 and %d", maxListLimit)
	}
	if len(f.Type) > 64 || hasControlOrSpace(f.Type) {
		return AuditList{}, validation("type", "not an event type")
	}
	for _, p := range []struct {
		name, value string
		max         int
	}{{"request_id", f.RequestID, 128}, {"email", f.Email, 320}, {"partner_id", f.PartnerID, 128}} {
		if len(p.value) > p.max || hasControlOrSpace(p.value) {
			return AuditList{}, validation(p.name, "at most %d characters, no spaces", p.max)
		}
	}
	var since time.Time
	if f.Since != "" {
		if t, err := time.Parse(time.RFC3339, f.Since); err == nil {
			since = t
		} else if d, err := time.ParseDuration(f.Since); err == nil && d > 0 {
			since = s.now().Add(-d)
		} else {
			return AuditList{}, validation("since", "must be an RFC 3339 time or a duration such as 24h")
		}
	}
	events, next, err := s.store.ListAudit(ctx, storage.AuditQuery{
		OrgID: orgID, Type: f.Type, Since: since, RequestID: f.RequestID, Email: f.Email, PartnerID: f.PartnerID,
		Limit: f.Limit, Cursor: f.Cursor,
	})
	if err != nil {
		return AuditList{}, storeErr(err, "audit event")
	}
	if events == nil {
		events = []storage.AuditEvent{}
	}
	return AuditList{Events: events, NextCursor: next}, nil
}

// AuditVerification is the result of checking the audit hash chain.
type AuditVerification struct {
	OK     bool   `json:"ok"`
	Events int    `json:"events"`
	First  uint64 `json:"first_seq,omitempty"`
	Last   uint64 `json:"last_seq,omitempty"`
	// BadSeq is the first event whose hash or link does not match.
	BadSeq  uint64 `json:"bad_seq,omitempty"`
	Problem string `json:"problem,omitempty"`
}

// VerifyAudit recomputes every event's hash in Seq order and checks that each
// event names its predecessor's hash (operator only: it spans organizations).
// Events pruned by retention are gone, so the oldest remaining event's
// PrevHash is taken as given.
func (s *Service) VerifyAudit(ctx context.Context, actor Actor) (AuditVerification, error) {
	if !actor.fullRights() {
		return AuditVerification{}, Errorf(CodeForbidden, "audit verification is an operator operation")
	}
	return VerifyAuditChain(ctx, s.store)
}

// errStopWalk ends a walk at the first broken link.
var errStopWalk = fmt.Errorf("stop")

// VerifyAuditChain checks a store's audit chain.
func VerifyAuditChain(ctx context.Context, store storage.Store) (AuditVerification, error) {
	var v AuditVerification
	var prev *storage.AuditEvent
	err := store.WalkAudit(ctx, func(e storage.AuditEvent) error {
		fail := func(format string, args ...any) error {
			v.BadSeq, v.Problem = e.Seq, fmt.Sprintf(format, args...)
			return errStopWalk
		}
		want, err := storage.HashEvent(e)
		if err != nil {
			return err
		}
		if want != e.Hash {
			return fail("event %d (%s) does not match its hash: it was modified", e.Seq, e.ID)
		}
		if prev != nil {
			if e.Seq != prev.Seq+1 {
				return fail("events %d to %d are missing", prev.Seq+1, e.Seq-1)
			}
			if e.PrevHash != prev.Hash {
				return fail("event %d does not link to event %d: the chain was rewritten", e.Seq, prev.Seq)
			}
		} else {
			v.First = e.Seq
		}
		v.Events++
		v.Last = e.Seq
		ev := e
		prev = &ev
		return nil
	})
	if err != nil && err != errStopWalk {
		return v, fmt.Errorf("verify audit: %w", err)
	}
	v.OK = v.BadSeq == 0
	return v, nil
}

// ExportAudit writes every event, oldest first, as JSON lines (operator only).
func (s *Service) ExportAudit(ctx context.Context, actor Actor, w io.Writer) (int, error) {
	if !actor.fullRights() {
		return 0, Errorf(CodeForbidden, "audit export is an operator operation")
	}
	return ExportAuditLines(ctx, s.store, w)
}

// ExportAuditLines writes a store's audit events as JSON lines.
func ExportAuditLines(ctx context.Context, store storage.Store, w io.Writer) (int, error) {
	return ExportAuditLinesMatching(ctx, store, w, func(storage.AuditEvent) bool { return true })
}

// ExportAuditLinesMatching writes the events that pass keep, deciding while
// it walks so an export never holds the whole log.
func ExportAuditLinesMatching(ctx context.Context, store storage.Store, w io.Writer, keep func(storage.AuditEvent) bool) (int, error) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	n := 0
	err := store.WalkAudit(ctx, func(e storage.AuditEvent) error {
		if !keep(e) {
			return nil
		}
		n++
		return enc.Encode(e)
	})
	return n, err
}

// Backup writes a consistent copy of the database to w (operator only).
func (s *Service) Backup(ctx context.Context, actor Actor, w io.Writer) (int64, error) {
	if !actor.fullRights() {
		return 0, Errorf(CodeForbidden, "backups are an operator operation")
	}
	return s.store.Backup(ctx, w)
}

// redactDetail is what the audit log holds in place of a secret.
const redactDetail = "[redacted]"

// redactSecrets replaces values of secret-looking keys, recursively, so no
// secret ever reaches the audit log whatever a caller put in details.
func redactSecrets(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			if secretKey(k) {
				if s, ok := val.(string); !ok || s != redactDetail {
					t[k] = redactDetail
				}
				continue
			}
			t[k] = redactSecrets(val)
		}
	case []any:
		for i := range t {
			t[i] = redactSecrets(t[i])
		}
	}
	return v
}

func secretKey(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"secret", "token", "password", "signature", "hash"} {
		if strings.HasSuffix(k, s) {
			return true
		}
	}
	return false
}
