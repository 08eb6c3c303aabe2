package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"gatehouse/storage"
)

// checkHash recomputes an event's hash the way `gatehouse audit verify`
// does, from the event as the store returned it.
func checkHash(t *testing.T, e storage.AuditEvent) {
	t.Helper()
	h, err := storage.HashEvent(e)
	mustNil(t, "HashEvent", err)
	if e.Hash == "" || e.Hash != h {
		t.Errorf("event %d (%s): Hash %q, recomputed %q", e.Seq, e.ID, e.Hash, h)
	}
}

// checkChain checks consecutive events in Seq order: each Seq is the previous
// plus one and links to the previous Hash.
func checkChain(t *testing.T, events []storage.AuditEvent) {
	t.Helper()
	for i, e := range events {
		checkHash(t, e)
		if i == 0 {
			continue
		}
		prev := events[i-1]
		if e.Seq != prev.Seq+1 {
			t.Errorf("event %s: Seq %d follows %d", e.ID, e.Seq, prev.Seq)
		}
		if e.PrevHash != prev.Hash {
			t.Errorf("event %s (Seq %d): PrevHash %q, previous Hash %q", e.ID, e.Seq, e.PrevHash, prev.Hash)
		}
	}
}

func event(id string, at time.Time, org, typ string) storage.AuditEvent {
	return storage.AuditEvent{ID: id, Time: at, Type: typ, Actor: "admin:cli", Outcome: "success", OrgID: org}
}

func appendEvents(t *testing.T, s storage.Store, events ...storage.AuditEvent) []storage.AuditEvent {
	t.Helper()
	var out []storage.AuditEvent
	for _, e := range events {
		got, err := s.AppendAudit(t.Context(), e)
		mustNil(t, "AppendAudit "+e.ID, err)
		out = append(out, got)
	}
	return out
}

func ids(events []storage.AuditEvent) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.ID)
	}
	return out
}

func testAppendAudit(t *testing.T, s storage.Store) {
	in := []storage.AuditEvent{
		event("e1", t0, "org-1", "partner.create"),
		event("e2", t0.Add(time.Minute), "org-1", "partner.update"),
		event("e3", t0.Add(2*time.Minute), "org-2", "signin.hmac"),
	}
	in[1].Details = map[string]any{"field": "name", "before": "A", "after": "B", "n": 3, "list": []any{"x", 1.5}, "nested": map[string]any{"ok": true}}
	// The store owns Seq, PrevHash and Hash; whatever the caller sets is replaced.
	in[2].Seq, in[2].PrevHash, in[2].Hash = 99, "forged", "forged"

	got := appendEvents(t, s, in...)
	for i, e := range got {
		if want := uint64(i + 1); e.Seq != want {
			t.Errorf("event %s: Seq %d, want %d", e.ID, e.Seq, want)
		}
		want := in[i]
		want.Seq, want.PrevHash, want.Hash = e.Seq, e.PrevHash, e.Hash
		equal(t, "returned event", e, want)
	}
	if got[0].PrevHash != "" {
		t.Errorf("first event PrevHash = %q, want empty", got[0].PrevHash)
	}
	checkChain(t, got)

	stored := auditEvents(t, s)
	equal(t, "stored events", stored, got)
	checkChain(t, stored)

	t.Run("Details are copied", func(t *testing.T) {
		in[1].Details["field"] = "mutated"
		got[1].Details["before"] = "mutated"
		stored[1].Details["after"] = "mutated"
		stored[1].Details["nested"].(map[string]any)["ok"] = false
		again := auditEvents(t, s)
		d := again[1].Details
		if d["field"] != "name" || d["before"] != "A" || d["after"] != "B" || d["nested"].(map[string]any)["ok"] != true {
			t.Errorf("stored Details changed through an alias: %v", d)
		}
		checkHash(t, again[1])
	})
}

// auditLog is the shared input of the list tests: six events, one per minute.
func auditLog() []storage.AuditEvent {
	return []storage.AuditEvent{
		with(event("e1", t0, "org-1", "signin.jwt"), "req-1", "Ada@Example.com", "prt-a"),
		with(event("e2", t0.Add(1*time.Minute), "org-1", "signin.hmac"), "req-2", "bob@example.com", "prt-b"),
		with(event("e3", t0.Add(2*time.Minute), "org-2", "signin.jwt"), "req-3", "ada@example.com", "prt-c"),
		with(event("e4", t0.Add(3*time.Minute), "org-1", "partner.create"), "req-4", "", "prt-a"),
		event("e5", t0.Add(4*time.Minute), "org-1", "signinx.other"),
		event("e6", t0.Add(5*time.Minute), "", "system.start"),
	}
}

func with(e storage.AuditEvent, requestID, email, partnerID string) storage.AuditEvent {
	e.RequestID, e.Email, e.PartnerID = requestID, email, partnerID
	return e
}

func testListAudit(t *testing.T, s storage.Store) {
	appendEvents(t, s, auditLog()...)
	between := t0.Add(90 * time.Second) // after e2, before e3
	for _, tc := range []struct {
		name string
		q    storage.AuditQuery
		want []string
	}{
		{"everything, newest first", storage.AuditQuery{}, []string{"e6", "e5", "e4", "e3", "e2", "e1"}},
		{"org", storage.AuditQuery{OrgID: "org-1"}, []string{"e5", "e4", "e2", "e1"}},
		{"type prefix", storage.AuditQuery{Type: "signin."}, []string{"e3", "e2", "e1"}},
		{"exact type", storage.AuditQuery{Type: "signin.jwt"}, []string{"e3", "e1"}},
		{"type without dot is exact", storage.AuditQuery{Type: "signin"}, nil},
		{"org and type prefix", storage.AuditQuery{OrgID: "org-1", Type: "signin."}, []string{"e2", "e1"}},
		{"since", storage.AuditQuery{Since: between}, []string{"e6", "e5", "e4", "e3"}},
		{"org and since", storage.AuditQuery{OrgID: "org-1", Since: between}, []string{"e5", "e4"}},
		{"unknown org", storage.AuditQuery{OrgID: "org-missing"}, nil},
		{"request id", storage.AuditQuery{RequestID: "req-2"}, []string{"e2"}},
		{"request id is exact", storage.AuditQuery{RequestID: "req-"}, nil},
		{"email ignores case", storage.AuditQuery{Email: "ADA@example.com"}, []string{"e3", "e1"}},
		{"email is not a substring", storage.AuditQuery{Email: "ada@example"}, nil},
		{"email within org", storage.AuditQuery{OrgID: "org-1", Email: "ada@example.com"}, []string{"e1"}},
		{"partner", storage.AuditQuery{PartnerID: "prt-a"}, []string{"e4", "e1"}},
		{"partner and type", storage.AuditQuery{PartnerID: "prt-a", Type: "signin."}, []string{"e1"}},
		{"request id of another partner", storage.AuditQuery{RequestID: "req-2", PartnerID: "prt-a"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Limit = 100
			events, next, err := s.ListAudit(t.Context(), tc.q)
			mustNil(t, "ListAudit", err)
			if next != "" {
				t.Errorf("cursor %q for a page that holds everything", next)
			}
			if got := ids(events); !slices.Equal(got, tc.want) {
				t.Errorf("ListAudit(%+v) = %q, want %q", tc.q, got, tc.want)
			}
			for _, e := range events {
				checkHash(t, e)
			}
		})
	}
}

func testAuditPaging(t *testing.T, s storage.Store) {
	appendEvents(t, s, auditLog()...)
	for _, tc := range []struct {
		name string
		q    storage.AuditQuery
		want []string
	}{
		{"by 2 (exact fit)", storage.AuditQuery{Limit: 2}, []string{"e6", "e5", "e4", "e3", "e2", "e1"}},
		{"by 4", storage.AuditQuery{Limit: 4}, []string{"e6", "e5", "e4", "e3", "e2", "e1"}},
		{"by 1", storage.AuditQuery{Limit: 1}, []string{"e6", "e5", "e4", "e3", "e2", "e1"}},
		{"org by 3", storage.AuditQuery{OrgID: "org-1", Limit: 3}, []string{"e5", "e4", "e2", "e1"}},
		{"type prefix by 2", storage.AuditQuery{Type: "signin.", Limit: 2}, []string{"e3", "e2", "e1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			q := tc.q
			maxPages := len(tc.want)/q.Limit + 1
			for page := 1; ; page++ {
				if page > maxPages {
					t.Fatalf("paging did not finish within %d pages", maxPages)
				}
				events, next, err := s.ListAudit(t.Context(), q)
				mustNil(t, fmt.Sprintf("ListAudit page %d", page), err)
				if len(events) > q.Limit {
					t.Fatalf("page %d has %d events, limit %d", page, len(events), q.Limit)
				}
				if len(events) < q.Limit && next != "" {
					t.Errorf("page %d is short (%d) but has cursor %q", page, len(events), next)
				}
				got = append(got, ids(events)...)
				if next == "" {
					break
				}
				q.Cursor = next
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("paged ids = %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("new events do not shift a cursor", func(t *testing.T) {
		first, next, err := s.ListAudit(t.Context(), storage.AuditQuery{Limit: 3})
		mustNil(t, "ListAudit", err)
		if next == "" {
			t.Fatal("no cursor after the first of two pages")
		}
		appendEvents(t, s, event("e7", t0.Add(6*time.Minute), "org-1", "partner.delete"))
		rest, _, err := s.ListAudit(t.Context(), storage.AuditQuery{Limit: 3, Cursor: next})
		mustNil(t, "ListAudit", err)
		if got := append(ids(first), ids(rest)...); !slices.Equal(got, []string{"e6", "e5", "e4", "e3", "e2", "e1"}) {
			t.Errorf("pages across an append = %q", got)
		}
	})
}

func testWalkAudit(t *testing.T, s storage.Store) {
	want := appendEvents(t, s, auditLog()...)
	got := auditEvents(t, s)
	equal(t, "WalkAudit", got, want)
	checkChain(t, got)

	calls := 0
	err := s.WalkAudit(t.Context(), func(storage.AuditEvent) error {
		calls++
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Errorf("WalkAudit returned %v, want the callback's error", err)
	}
	if calls != 1 {
		t.Errorf("WalkAudit went on after an error: %d calls", calls)
	}
}

func testPruneAudit(t *testing.T, s storage.Store) {
	ctx := t.Context()
	appendEvents(t, s,
		event("e1", t0, "org-1", "a.x"),
		event("e2", t0.Add(time.Hour), "org-1", "a.x"),
		event("e3", t0.Add(2*time.Hour), "org-1", "a.x"),
		event("e4", t0.Add(3*time.Hour), "org-1", "a.x"),
	)
	before := auditEvents(t, s)

	n, err := s.PruneAudit(ctx, t0.Add(90*time.Minute))
	mustNil(t, "PruneAudit", err)
	if n != 2 {
		t.Errorf("PruneAudit removed %d, want 2", n)
	}
	kept := auditEvents(t, s)
	equal(t, "events after prune", kept, before[2:])
	listed, _, err := s.ListAudit(ctx, storage.AuditQuery{Limit: 10})
	mustNil(t, "ListAudit", err)
	if got := ids(listed); !slices.Equal(got, []string{"e4", "e3"}) {
		t.Errorf("ListAudit after prune = %q", got)
	}

	n, err = s.PruneAudit(ctx, t0.Add(90*time.Minute))
	mustNil(t, "second PruneAudit", err)
	if n != 0 {
		t.Errorf("second PruneAudit removed %d, want 0", n)
	}

	// The chain continues from the newest kept event.
	next := appendEvents(t, s, event("e5", t0.Add(4*time.Hour), "org-1", "a.x"))[0]
	checkChain(t, append(kept, next))
}
