package storagetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"gatehouse/storage"
)

// fullWrite is a JWT-style sign-in by partner A that writes every optional part.
func (fx *fixture) fullWrite(email, sessionID, replayKey string, at time.Time) storage.SignInWrite {
	w := fx.write(email, sessionID, at)
	w.Replay = &storage.Replay{Key: replayKey, ExpiresAt: farFuture}
	w.TouchKey = &storage.KeyTouch{OrgID: fx.org.ID, Kid: fx.key.Kid, At: at}
	w.Audit = &storage.AuditEvent{
		ID:        "ev-" + sessionID,
		Time:      at,
		Type:      "signin.jwt",
		Actor:     "partner:" + fx.partnerA.ID,
		Outcome:   "success",
		OrgID:     fx.org.ID,
		TenantID:  fx.tenants[0].ID,
		PartnerID: fx.partnerA.ID,
		Email:     email,
		ClientIP:  "192.0.2.1",
		RequestID: "req-" + sessionID,
		Details:   map[string]any{"kid": fx.key.Kid, "attempt": 1},
	}
	return w
}

func testSignInCreatesUser(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	w := fx.fullWrite("new@example.com", "s-1", "jti:1", t0)
	provision := w.Provision
	var calls int
	w.Provision = func(existing *storage.User, partnerUsers func(string) int) (storage.User, error) {
		calls++
		if existing != nil {
			t.Errorf("Provision got existing %+v, want nil", *existing)
		}
		return provision(existing, partnerUsers)
	}

	got, err := s.SignIn(ctx, w)
	mustNil(t, "SignIn", err)
	if calls == 0 {
		t.Fatal("SignIn never called Provision")
	}
	want := fx.user("new@example.com", "p-a", t0)
	equal(t, "SignIn result", got, want)

	stored, err := s.GetUserByEmail(ctx, "org-1", "new@example.com")
	mustNil(t, "GetUserByEmail", err)
	equal(t, "stored user", stored, want)
	stored, err = s.GetUser(ctx, want.ID)
	mustNil(t, "GetUser", err)
	equal(t, "stored user by id", stored, want)

	wantSession := w.Session
	wantSession.UserID = want.ID
	equal(t, "session", sessionPresent(t, s, "s-1"), wantSession)

	seen, err := s.ReplaySeen(ctx, "jti:1", t0)
	mustNil(t, "ReplaySeen", err)
	if !seen {
		t.Error("replay key not recorded")
	}

	key, err := s.GetKey(ctx, "org-1", fx.key.Kid)
	mustNil(t, "GetKey", err)
	if !key.LastUsedAt.Equal(t0) {
		t.Errorf("key LastUsedAt = %v, want %v", key.LastUsedAt, t0)
	}

	events := auditEvents(t, s)
	if len(events) != 1 {
		t.Fatalf("audit has %d events, want 1", len(events))
	}
	e := events[0]
	if e.Seq != 1 || e.PrevHash != "" {
		t.Errorf("first event Seq=%d PrevHash=%q, want 1 and empty", e.Seq, e.PrevHash)
	}
	checkHash(t, e)
	wantEvent := *w.Audit
	wantEvent.Seq, wantEvent.PrevHash, wantEvent.Hash = e.Seq, e.PrevHash, e.Hash
	equal(t, "audit event", e, wantEvent)
	listed, _, err := s.ListAudit(ctx, storage.AuditQuery{Limit: 10})
	mustNil(t, "ListAudit", err)
	equal(t, "ListAudit", listed, events)
}

func testSignInUpdatesUser(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	existing := storage.User{ID: "u-x", Email: "known@example.com", Name: "Old Name", OrgID: "org-1", TenantID: "t-2", Role: "viewer", PartnerID: "p-b", CreatedAt: t0.Add(-time.Hour)}
	mustNil(t, "CreateUser", s.CreateUser(ctx, existing))

	prev := existing
	for i, sid := range []string{"s-1", "s-2"} {
		at := t0.Add(time.Duration(i+1) * time.Minute)
		want := prev
		want.Name = fmt.Sprintf("New Name %d", i)
		want.LastSignInAt = at
		w := fx.fullWrite(existing.Email, sid, "jti:"+sid, at)
		w.Provision = func(cur *storage.User, _ func(string) int) (storage.User, error) {
			if cur == nil {
				t.Error("Provision got nil for a known email")
				return storage.User{}, errBoom
			}
			equal(t, "existing user handed to Provision", *cur, prev)
			u := *cur
			u.Name = want.Name
			u.LastSignInAt = at
			return u, nil
		}
		got := fx.signInWith(t, w)
		equal(t, "SignIn result", got, want)
		stored, err := s.GetUser(ctx, "u-x")
		mustNil(t, "GetUser", err)
		equal(t, "stored user", stored, want)
		if sess := sessionPresent(t, s, sid); sess.UserID != "u-x" {
			t.Errorf("session %s UserID = %q, want u-x", sid, sess.UserID)
		}
		prev = want
	}

	if n, err := s.CountUsers(ctx, "org-1", ""); err != nil || n != 1 {
		t.Errorf("CountUsers = %d, %v; want 1", n, err)
	}
	if n, err := s.CountSessions(ctx, "u-x", t0); err != nil || n != 2 {
		t.Errorf("CountSessions = %d, %v; want 2", n, err)
	}
}

func testSignInOptionalParts(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	// An HMAC step 2 has no replay marker (the login token was the one-time
	// part) and no key; the audit event is optional too.
	u := fx.signIn(t, "plain@example.com", "s-1", t0)
	if sess := sessionPresent(t, s, "s-1"); sess.UserID != u.ID {
		t.Errorf("session UserID = %q, want %q", sess.UserID, u.ID)
	}
	if events := auditEvents(t, s); len(events) != 0 {
		t.Errorf("audit has %d events, want 0", len(events))
	}
	key, err := s.GetKey(ctx, "org-1", fx.key.Kid)
	mustNil(t, "GetKey", err)
	if !key.LastUsedAt.IsZero() {
		t.Errorf("key LastUsedAt = %v, want zero", key.LastUsedAt)
	}
}

func testSignInReplay(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	first := fx.signInWith(t, fx.fullWrite("r@example.com", "s-1", "jti:r", t0))

	at := t0.Add(time.Minute)
	w := fx.fullWrite("r@example.com", "s-2", "jti:r", at)
	w.Provision = func(cur *storage.User, _ func(string) int) (storage.User, error) {
		u := *cur
		u.Name = "must not be written"
		u.LastSignInAt = at
		return u, nil
	}
	_, err := s.SignIn(ctx, w)
	wantErr(t, "second SignIn with the same replay key", err, storage.ErrReplay)

	stored, err := s.GetUser(ctx, first.ID)
	mustNil(t, "GetUser", err)
	equal(t, "user after replay", stored, first)
	sessionGone(t, s, "s-2")
	key, err := s.GetKey(ctx, "org-1", fx.key.Kid)
	mustNil(t, "GetKey", err)
	if !key.LastUsedAt.Equal(t0) {
		t.Errorf("key LastUsedAt = %v, want %v", key.LastUsedAt, t0)
	}
	if events := auditEvents(t, s); len(events) != 1 {
		t.Errorf("audit has %d events after a replay, want 1", len(events))
	}

	// SignIn and RecordReplay share one set of markers.
	wantErr(t, "RecordReplay of a sign-in's key", s.RecordReplay(ctx, storage.Replay{Key: "jti:r", ExpiresAt: farFuture}, t0), storage.ErrReplay)
	mustNil(t, "RecordReplay", s.RecordReplay(ctx, storage.Replay{Key: "nonce:n", ExpiresAt: farFuture}, t0))
	_, err = s.SignIn(ctx, fx.fullWrite("r2@example.com", "s-3", "nonce:n", at))
	wantErr(t, "SignIn with a recorded nonce", err, storage.ErrReplay)
	_, err = s.GetUserByEmail(ctx, "org-1", "r2@example.com")
	wantErr(t, "user of the refused sign-in", err, storage.ErrNotFound)
	sessionGone(t, s, "s-3")
}

func testSignInProvisionError(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	known := storage.User{ID: "u-k", Email: "known@example.com", Name: "Known", OrgID: "org-1", TenantID: "t-1", CreatedAt: t0}
	mustNil(t, "CreateUser", s.CreateUser(ctx, known))

	for _, tc := range []struct {
		name  string
		email string
	}{
		{"new user", "new@example.com"},
		{"existing user", "known@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := fx.fullWrite(tc.email, "s-"+tc.name, "jti:"+tc.name, t0)
			w.Provision = func(cur *storage.User, partnerUsers func(string) int) (storage.User, error) {
				partnerUsers("p-a")
				if cur != nil {
					// A half-updated copy must not reach the store.
					cur.Name = "scribbled"
				}
				return storage.User{}, fmt.Errorf("policy: %w", errBoom)
			}
			_, err := s.SignIn(ctx, w)
			wantErr(t, "SignIn", err, errBoom)

			u, err := s.GetUserByEmail(ctx, "org-1", tc.email)
			if tc.email == known.Email {
				mustNil(t, "GetUserByEmail", err)
				equal(t, "existing user", u, known)
			} else {
				wantErr(t, "GetUserByEmail", err, storage.ErrNotFound)
			}
			sessionGone(t, s, w.Session.ID)
			seen, err := s.ReplaySeen(ctx, w.Replay.Key, t0)
			mustNil(t, "ReplaySeen", err)
			if seen {
				t.Error("replay key recorded by a failed sign-in")
			}
			key, err := s.GetKey(ctx, "org-1", fx.key.Kid)
			mustNil(t, "GetKey", err)
			if !key.LastUsedAt.IsZero() {
				t.Errorf("key touched by a failed sign-in: %v", key.LastUsedAt)
			}
			if events := auditEvents(t, s); len(events) != 0 {
				t.Errorf("audit has %d events after a failed sign-in, want 0", len(events))
			}
			if n, err := s.CountActiveSessions(ctx, t0); err != nil || n != 0 {
				t.Errorf("CountActiveSessions = %d, %v; want 0", n, err)
			}
			if n, err := s.CountUsers(ctx, "org-1", ""); err != nil || n != 1 {
				t.Errorf("CountUsers = %d, %v; want 1", n, err)
			}
		})
	}
}

func testSignInPartnerUsers(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	for i, u := range []struct{ tenant, partner string }{
		{"t-1", "p-a"}, {"t-1", "p-a"}, {"t-2", "p-a"}, {"t-1", "p-b"}, {"t-2", ""},
	} {
		mustNil(t, "CreateUser", s.CreateUser(ctx, storage.User{
			ID: fmt.Sprintf("u-%d", i), Email: fmt.Sprintf("u%d@example.com", i),
			OrgID: "org-1", TenantID: u.tenant, PartnerID: u.partner, CreatedAt: t0,
		}))
	}

	counts := func(email, sid string) map[string]int {
		t.Helper()
		got := map[string]int{}
		w := fx.write(email, sid, t0)
		provision := w.Provision
		w.Provision = func(cur *storage.User, partnerUsers func(string) int) (storage.User, error) {
			for _, p := range []string{"p-a", "p-b", "p-none"} {
				got[p] = partnerUsers(p)
			}
			return provision(cur, partnerUsers)
		}
		fx.signInWith(t, w)
		return got
	}

	equal(t, "partnerUsers before", counts("new@example.com", "s-1"), map[string]int{"p-a": 3, "p-b": 1, "p-none": 0})
	// The first sign-in created a user for p-a.
	equal(t, "partnerUsers after", counts("new2@example.com", "s-2"), map[string]int{"p-a": 4, "p-b": 1, "p-none": 0})
}

func testSignInConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	const workers, distinct = 50, 10

	type result struct {
		email     string
		sessionID string
		user      storage.User
		err       error
	}
	results := make([]result, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			email := fmt.Sprintf("c%d@example.com", i%distinct)
			sid := fmt.Sprintf("s-%02d", i)
			w := fx.fullWrite(email, sid, fmt.Sprintf("jti:%02d", i), t0.Add(time.Duration(i)*time.Second))
			provision := w.Provision
			w.Provision = func(cur *storage.User, partnerUsers func(string) int) (storage.User, error) {
				u, err := provision(cur, partnerUsers)
				if cur == nil {
					// A distinct id per worker exposes a second creation.
					u.ID = fmt.Sprintf("u:%s:%02d", email, i)
				}
				return u, err
			}
			u, err := s.SignIn(ctx, w)
			results[i] = result{email, sid, u, err}
		})
	}
	wg.Wait()

	ids := map[string]string{}
	for _, r := range results {
		if r.err != nil {
			t.Errorf("SignIn %s (%s): %v", r.email, r.sessionID, r.err)
			continue
		}
		if id, ok := ids[r.email]; ok && id != r.user.ID {
			t.Errorf("%s signed in as %q and %q", r.email, id, r.user.ID)
		}
		ids[r.email] = r.user.ID
	}
	for email, id := range ids {
		u, err := s.GetUserByEmail(ctx, "org-1", email)
		mustNil(t, "GetUserByEmail", err)
		if u.ID != id {
			t.Errorf("%s is stored as %q, sign-ins returned %q", email, u.ID, id)
		}
	}
	if n, err := s.CountUsers(ctx, "org-1", ""); err != nil || n != distinct {
		t.Errorf("CountUsers = %d, %v; want %d", n, err, distinct)
	}
	for _, r := range results {
		if r.err == nil {
			if sess := sessionPresent(t, s, r.sessionID); sess.UserID != ids[r.email] {
				t.Errorf("session %s UserID = %q, want %q", r.sessionID, sess.UserID, ids[r.email])
			}
		}
	}
	if n, err := s.CountActiveSessions(ctx, t0); err != nil || n != workers {
		t.Errorf("CountActiveSessions = %d, %v; want %d", n, err, workers)
	}
	events := auditEvents(t, s)
	if len(events) != workers {
		t.Fatalf("audit has %d events, want %d", len(events), workers)
	}
	checkChain(t, events)
}

func testReplays(t *testing.T, s storage.Store) {
	ctx := t.Context()
	steps := []struct {
		name    string
		op      string // "record" or "seen"
		key     string
		expires time.Time
		now     time.Time
		want    error
		seen    bool
	}{
		{"unknown key", "seen", "k1", time.Time{}, t0, nil, false},
		{"record", "record", "k1", t0.Add(time.Hour), t0, nil, false},
		{"seen before expiry", "seen", "k1", time.Time{}, t0.Add(30 * time.Minute), nil, true},
		{"record again before expiry", "record", "k1", t0.Add(5 * time.Hour), t0.Add(30 * time.Minute), storage.ErrReplay, false},
		{"the refused record kept the old expiry", "seen", "k1", time.Time{}, t0.Add(2 * time.Hour), nil, false},
		{"other key unaffected", "seen", "k2", time.Time{}, t0, nil, false},
		{"record after expiry", "record", "k1", t0.Add(3 * time.Hour), t0.Add(2 * time.Hour), nil, false},
		{"seen with the new expiry", "seen", "k1", time.Time{}, t0.Add(150 * time.Minute), nil, true},
		{"not seen after the new expiry", "seen", "k1", time.Time{}, t0.Add(4 * time.Hour), nil, false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			switch st.op {
			case "record":
				wantErr(t, "RecordReplay", s.RecordReplay(ctx, storage.Replay{Key: st.key, ExpiresAt: st.expires}, st.now), st.want)
			case "seen":
				seen, err := s.ReplaySeen(ctx, st.key, st.now)
				mustNil(t, "ReplaySeen", err)
				if seen != st.seen {
					t.Errorf("ReplaySeen(%q, %v) = %v, want %v", st.key, st.now, seen, st.seen)
				}
			}
		})
	}
}
