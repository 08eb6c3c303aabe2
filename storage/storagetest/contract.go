package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"gatehouse/storage"
)

// refusedWithoutTrace asserts that the sign-in w was refused with want and
// that none of its parts reached the store. auditBefore is the number of
// audit events before the attempt; the user must not have existed before.
func refusedWithoutTrace(t *testing.T, s storage.Store, w storage.SignInWrite, want error, auditBefore int) {
	t.Helper()
	ctx := t.Context()
	_, err := s.SignIn(ctx, w)
	wantErr(t, "SignIn", err, want)
	if err == nil {
		return
	}
	_, err = s.GetUserByEmail(ctx, w.OrgID, w.Email)
	wantErr(t, "user of the refused sign-in", err, storage.ErrNotFound)
	sessionGone(t, s, w.Session.ID)
	if w.Replay != nil {
		seen, err := s.ReplaySeen(ctx, w.Replay.Key, w.Now)
		mustNil(t, "ReplaySeen", err)
		if seen {
			t.Errorf("replay key %q recorded by a refused sign-in", w.Replay.Key)
		}
	}
	if w.TouchKey != nil {
		if k, err := s.GetKey(ctx, w.TouchKey.OrgID, w.TouchKey.Kid); err == nil && k.LastUsedAt.Equal(w.TouchKey.At) {
			t.Errorf("key %q touched by a refused sign-in", w.TouchKey.Kid)
		}
	}
	if n := len(auditEvents(t, s)); n != auditBefore {
		t.Errorf("audit has %d events after a refused sign-in, want %d", n, auditBefore)
	}
}

func testSignInPartnerInactive(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	// A partner of another organization shows partner ids are global: the
	// missing partner below is missing everywhere, not just in org-1.
	mustNil(t, "CreateOrg", s.CreateOrg(ctx, storage.Org{ID: "org-2", Name: "Org Two", CreatedAt: t0}))
	mustNil(t, "CreatePartner", s.CreatePartner(ctx, storage.Partner{ID: "p-c", OrgID: "org-2", Name: "Partner C", ConsumerKey: "ck-c", Active: true, CreatedAt: t0}))
	for _, tn := range []string{"t-x", "t-9"} {
		mustNil(t, "CreateTenant "+tn, s.CreateTenant(ctx, storage.Tenant{ID: tn, OrgID: "org-2", Name: tn, CreatedAt: t0}))
	}

	attempt := func(t *testing.T, name, partner string) {
		t.Helper()
		w := fx.fullWrite(name+"@example.com", "s-"+name, "jti:"+name, t0)
		w.Session.PartnerID = partner
		refusedWithoutTrace(t, s, w, storage.ErrPartnerInactive, 0)
	}

	t.Run("missing partner", func(t *testing.T) { attempt(t, "missing", "p-missing") })
	t.Run("empty partner id", func(t *testing.T) { attempt(t, "empty", "") })
	t.Run("deleted partner", func(t *testing.T) {
		mustNil(t, "DeletePartner", s.DeletePartner(ctx, "org-1", "p-b"))
		attempt(t, "deleted", "p-b")
	})
	t.Run("deactivated partner", func(t *testing.T) {
		_, err := s.UpdatePartner(ctx, "org-1", "p-a", func(p storage.Partner) (storage.Partner, error) {
			p.Active = false
			return p, nil
		})
		mustNil(t, "UpdatePartner", err)
		attempt(t, "inactive", "p-a")
		// The user exists already: it must not be updated either.
		existing := fx.user("known@example.com", "p-a", t0)
		mustNil(t, "CreateUser", s.CreateUser(ctx, existing))
		// p-c is active, so this sign-in goes through (as a control). It
		// signs in the same address in org-2: another user, which the
		// refused sign-in in org-1 below must not touch either.
		other := fx.write("known@example.com", "s-known", t0)
		other.OrgID, other.Session.OrgID, other.Session.PartnerID = "org-2", "org-2", "p-c"
		other.Provision = func(cur *storage.User, _ func(string) int) (storage.User, error) {
			if cur != nil {
				return storage.User{}, fmt.Errorf("org-2 sign-in was handed org-1's user %q", cur.ID)
			}
			u := fx.user("known@example.com", "p-c", t0)
			u.ID, u.OrgID, u.TenantID = "u:org-2:known", "org-2", "t-x"
			return u, nil
		}
		otherUser := fx.signInWith(t, other)
		w := fx.fullWrite("known@example.com", "s-known-2", "jti:known-2", t0.Add(time.Minute))
		w.Provision = func(cur *storage.User, _ func(string) int) (storage.User, error) {
			if cur == nil {
				return storage.User{}, errors.New("the known user was not found")
			}
			u := *cur
			u.Name = "must not be written"
			return u, nil
		}
		_, err = s.SignIn(ctx, w)
		wantErr(t, "SignIn of a known user by an inactive partner", err, storage.ErrPartnerInactive)
		got, err := s.GetUserByEmail(ctx, "org-1", "known@example.com")
		mustNil(t, "GetUserByEmail", err)
		equal(t, "known user after the refused sign-in", got, existing)
		got, err = s.GetUserByEmail(ctx, "org-2", "known@example.com")
		mustNil(t, "GetUserByEmail org-2", err)
		equal(t, "org-2's user after the refused sign-in", got, otherUser)
		sessionGone(t, s, "s-known-2")
		if n := len(auditEvents(t, s)); n != 0 {
			t.Errorf("audit has %d events, want 0", n)
		}
	})
	if n, err := s.CountActiveSessions(ctx, t0); err != nil || n != 1 {
		t.Errorf("CountActiveSessions = %d, %v; want 1 (the control sign-in)", n, err)
	}
}

// testSignInDeactivationRace runs sign-ins by a partner while it is being
// deactivated: each either lands before the deactivation (and its session is
// revoked by it) or is refused, so no session of the partner survives.
func testSignInDeactivationRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	const workers = 40
	errs := make([]error, workers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range workers {
		wg.Go(func() {
			<-start
			w := fx.fullWrite(fmt.Sprintf("race%02d@example.com", i), fmt.Sprintf("s-%02d", i), fmt.Sprintf("jti:%02d", i), t0)
			_, errs[i] = s.SignIn(ctx, w)
		})
	}
	wg.Go(func() {
		<-start
		_, err := s.UpdatePartner(ctx, "org-1", "p-a", func(p storage.Partner) (storage.Partner, error) {
			p.Active = false
			return p, nil
		})
		if err != nil {
			t.Errorf("UpdatePartner: %v", err)
		}
	})
	close(start)
	wg.Wait()

	ok := 0
	for i, err := range errs {
		sessionGone(t, s, fmt.Sprintf("s-%02d", i))
		email := fmt.Sprintf("race%02d@example.com", i)
		_, uerr := s.GetUserByEmail(ctx, "org-1", email)
		switch {
		case err == nil:
			ok++
			mustNil(t, "user of a sign-in before the deactivation", uerr)
		case errors.Is(err, storage.ErrPartnerInactive):
			wantErr(t, "user of a refused sign-in", uerr, storage.ErrNotFound)
		default:
			t.Errorf("SignIn %d: %v", i, err)
		}
	}
	if n, err := s.CountActiveSessions(ctx, t0); err != nil || n != 0 {
		t.Errorf("CountActiveSessions = %d, %v; want 0", n, err)
	}
	if n := len(auditEvents(t, s)); n != ok {
		t.Errorf("audit has %d events, want %d (one per successful sign-in)", n, ok)
	}
	_, err := s.SignIn(ctx, fx.write("after@example.com", "s-after", t0))
	wantErr(t, "SignIn after the deactivation", err, storage.ErrPartnerInactive)
}

// testSignInReplayNow checks that SignInWrite.Now, not the session's
// CreatedAt or the wall clock, judges whether a replay marker has expired.
func testSignInReplayNow(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	// write signs in at now, with a session whose CreatedAt says otherwise.
	write := func(email, sid, key string, now, createdAt, expires time.Time) storage.SignInWrite {
		w := fx.fullWrite(email, sid, key, now)
		w.Now = now
		w.Session.CreatedAt = createdAt
		w.Replay.ExpiresAt = expires
		return w
	}

	t.Run("expired before Now: recorded again", func(t *testing.T) {
		mustNil(t, "RecordReplay", s.RecordReplay(ctx, storage.Replay{Key: "jti:old", ExpiresAt: t0.Add(time.Hour)}, t0))
		// CreatedAt lies before the old expiry: only Now shows it expired.
		w := write("a@example.com", "s-a", "jti:old", t0.Add(2*time.Hour), t0, t0.Add(3*time.Hour))
		fx.signInWith(t, w)
		sessionPresent(t, s, "s-a")
		seen, err := s.ReplaySeen(ctx, "jti:old", t0.Add(150*time.Minute))
		mustNil(t, "ReplaySeen", err)
		if !seen {
			t.Error("the sign-in did not record the new expiry")
		}
	})
	t.Run("expiring exactly at Now is expired", func(t *testing.T) {
		mustNil(t, "RecordReplay", s.RecordReplay(ctx, storage.Replay{Key: "jti:edge", ExpiresAt: t0.Add(time.Hour)}, t0))
		fx.signInWith(t, write("b@example.com", "s-b", "jti:edge", t0.Add(time.Hour), t0, t0.Add(2*time.Hour)))
	})
	t.Run("live at Now: refused", func(t *testing.T) {
		mustNil(t, "RecordReplay", s.RecordReplay(ctx, storage.Replay{Key: "jti:live", ExpiresAt: t0.Add(time.Hour)}, t0))
		// CreatedAt lies after the expiry: only Now shows it live.
		w := write("d@example.com", "s-d", "jti:live", t0.Add(30*time.Minute), t0.Add(2*time.Hour), t0.Add(3*time.Hour))
		_, err := s.SignIn(ctx, w)
		wantErr(t, "SignIn with a live replay key", err, storage.ErrReplay)
		_, err = s.GetUserByEmail(ctx, "org-1", "d@example.com")
		wantErr(t, "user of the refused sign-in", err, storage.ErrNotFound)
		sessionGone(t, s, "s-d")
		seen, err := s.ReplaySeen(ctx, "jti:live", t0.Add(2*time.Hour))
		mustNil(t, "ReplaySeen", err)
		if seen {
			t.Error("the refused sign-in extended the replay marker")
		}
	})
	t.Run("a sign-in's own marker expires by Now", func(t *testing.T) {
		fx.signInWith(t, write("e@example.com", "s-e1", "jti:e", t0, t0, t0.Add(time.Hour)))
		_, err := s.SignIn(ctx, write("e@example.com", "s-e2", "jti:e", t0.Add(59*time.Minute), t0.Add(2*time.Hour), t0.Add(3*time.Hour)))
		wantErr(t, "SignIn before the marker expired", err, storage.ErrReplay)
		sessionGone(t, s, "s-e2")
		fx.signInWith(t, write("e@example.com", "s-e3", "jti:e", t0.Add(61*time.Minute), t0, t0.Add(3*time.Hour)))
		sessionPresent(t, s, "s-e3")
	})
}

// testSignInDeletedKey: a TouchKey naming a key deleted in the meantime is
// skipped; the rest of the sign-in is written.
func testSignInDeletedKey(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	mustNil(t, "DeleteKey", s.DeleteKey(ctx, "org-1", fx.key.Kid))

	for _, tc := range []struct{ name, kid string }{
		{"deleted key", fx.key.Kid},
		{"never existed", "kid-never"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			email := "k-" + tc.kid + "@example.com"
			w := fx.fullWrite(email, "s-"+tc.kid, "jti:"+tc.kid, t0)
			w.TouchKey.Kid = tc.kid
			before := len(auditEvents(t, s))
			u := fx.signInWith(t, w)
			equal(t, "user", u, fx.user(email, "p-a", t0))
			sessionPresent(t, s, w.Session.ID)
			seen, err := s.ReplaySeen(ctx, w.Replay.Key, t0)
			mustNil(t, "ReplaySeen", err)
			if !seen {
				t.Error("replay key not recorded")
			}
			if n := len(auditEvents(t, s)); n != before+1 {
				t.Errorf("audit has %d events, want %d", n, before+1)
			}
			_, err = s.GetKey(ctx, "org-1", tc.kid)
			wantErr(t, "GetKey: the touch must not recreate the key", err, storage.ErrNotFound)
		})
	}
	keys, err := s.ListKeys(ctx, "org-1", "")
	mustNil(t, "ListKeys", err)
	if len(keys) != 0 {
		t.Errorf("ListKeys = %d keys, want 0", len(keys))
	}
}

func testCountPartnerUsers(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	mustNil(t, "CreateOrg", s.CreateOrg(ctx, storage.Org{ID: "org-2", Name: "Org Two", CreatedAt: t0}))
	mustNil(t, "CreatePartner", s.CreatePartner(ctx, storage.Partner{ID: "p-c", OrgID: "org-2", Name: "Partner C", ConsumerKey: "ck-c", Active: true, CreatedAt: t0}))
	for _, tn := range []string{"t-x", "t-9"} {
		mustNil(t, "CreateTenant "+tn, s.CreateTenant(ctx, storage.Tenant{ID: tn, OrgID: "org-2", Name: tn, CreatedAt: t0}))
	}

	check := func(t *testing.T, stage string, want map[string]int) {
		t.Helper()
		for p, n := range want {
			got, err := s.CountPartnerUsers(ctx, p)
			mustNil(t, "CountPartnerUsers", err)
			if got != n {
				t.Errorf("%s: CountPartnerUsers(%q) = %d, want %d", stage, p, got, n)
			}
		}
	}
	check(t, "empty", map[string]int{"p-a": 0, "p-b": 0, "p-c": 0, "p-missing": 0})

	for _, u := range []storage.User{
		{ID: "u-1", Email: "u1@example.com", OrgID: "org-1", TenantID: "t-1", PartnerID: "p-a", CreatedAt: t0},
		{ID: "u-2", Email: "u2@example.com", OrgID: "org-1", TenantID: "t-2", PartnerID: "p-b", CreatedAt: t0},
		{ID: "u-3", Email: "u3@example.com", OrgID: "org-1", TenantID: "t-1", CreatedAt: t0},
		{ID: "u-4", Email: "u4@example.com", OrgID: "org-2", TenantID: "t-9", PartnerID: "p-c", CreatedAt: t0},
	} {
		mustNil(t, "CreateUser "+u.ID, s.CreateUser(ctx, u))
	}
	check(t, "after creates", map[string]int{"p-a": 1, "p-b": 1, "p-c": 1, "p-missing": 0})
	wantErr(t, "duplicate CreateUser", s.CreateUser(ctx, storage.User{ID: "u-1", Email: "u1@example.com", OrgID: "org-1", PartnerID: "p-a"}), storage.ErrExists)
	check(t, "after a refused create", map[string]int{"p-a": 1})

	// A new user by p-a; Provision's partnerUsers agrees with the method.
	w := fx.write("new@example.com", "s-new", t0)
	provision := w.Provision
	seen := -1
	w.Provision = func(cur *storage.User, partnerUsers func(string) int) (storage.User, error) {
		seen = partnerUsers("p-a")
		return provision(cur, partnerUsers)
	}
	fx.signInWith(t, w)
	if seen != 1 {
		t.Errorf("partnerUsers(p-a) inside SignIn = %d, want 1", seen)
	}
	check(t, "after a sign-in creating a user", map[string]int{"p-a": 2, "p-b": 1})

	// A repeat sign-in moves nothing; one re-provisioning u-2 to p-a moves it.
	fx.signIn(t, "new@example.com", "s-new-2", t0.Add(time.Minute))
	check(t, "after a repeat sign-in", map[string]int{"p-a": 2, "p-b": 1})
	w = fx.write("u2@example.com", "s-u2", t0)
	w.Provision = func(cur *storage.User, _ func(string) int) (storage.User, error) {
		u := *cur
		u.PartnerID = "p-a"
		return u, nil
	}
	fx.signInWith(t, w)
	check(t, "after a sign-in moving a user", map[string]int{"p-a": 3, "p-b": 0, "p-c": 1})

	// Refused sign-ins count nothing.
	w = fx.write("refused@example.com", "s-refused", t0)
	w.Provision = func(*storage.User, func(string) int) (storage.User, error) { return storage.User{}, errBoom }
	_, err := s.SignIn(ctx, w)
	wantErr(t, "SignIn", err, errBoom)
	w = fx.write("refused@example.com", "s-refused", t0)
	w.Session.PartnerID = "p-missing"
	_, err = s.SignIn(ctx, w)
	wantErr(t, "SignIn", err, storage.ErrPartnerInactive)
	check(t, "after refused sign-ins", map[string]int{"p-a": 3})

	mustNil(t, "DeleteUser", s.DeleteUser(ctx, "u-1"))
	mustNil(t, "DeleteUser", s.DeleteUser(ctx, "u:new@example.com"))
	check(t, "after deletes", map[string]int{"p-a": 1, "p-b": 0, "p-c": 1})
	wantErr(t, "DeleteUser again", s.DeleteUser(ctx, "u-1"), storage.ErrNotFound)
	check(t, "after a refused delete", map[string]int{"p-a": 1})
}

// testInvalidCursor covers the paging contract: a cursor the backend did
// not issue is ErrInvalidCursor, and Limit <= 0 means no limit.
func testInvalidCursor(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	for i := range 5 {
		fx.signIn(t, fmt.Sprintf("p%d@example.com", i), fmt.Sprintf("s-%d", i), t0)
	}
	appendEvents(t, s, auditLog()...)
	total := len(auditLog())

	for _, c := range []string{"%%% not a cursor %%%", "!", "a b", "==="} {
		_, next, err := s.ListUsers(ctx, storage.UserQuery{OrgID: "org-1", Limit: 2, Cursor: c})
		wantErr(t, fmt.Sprintf("ListUsers cursor %q", c), err, storage.ErrInvalidCursor)
		if next != "" {
			t.Errorf("ListUsers cursor %q: next %q with an error", c, next)
		}
	}
	for _, c := range []string{"garbage", "0", "-1", "1.5", "0x10", " 3"} {
		_, next, err := s.ListAudit(ctx, storage.AuditQuery{Limit: 2, Cursor: c})
		wantErr(t, fmt.Sprintf("ListAudit cursor %q", c), err, storage.ErrInvalidCursor)
		if next != "" {
			t.Errorf("ListAudit cursor %q: next %q with an error", c, next)
		}
	}

	// Issued cursors are accepted.
	_, next, err := s.ListUsers(ctx, storage.UserQuery{OrgID: "org-1", Limit: 2})
	mustNil(t, "ListUsers", err)
	_, _, err = s.ListUsers(ctx, storage.UserQuery{OrgID: "org-1", Limit: 2, Cursor: next})
	mustNil(t, "ListUsers with an issued cursor", err)
	_, next, err = s.ListAudit(ctx, storage.AuditQuery{Limit: 2})
	mustNil(t, "ListAudit", err)
	_, _, err = s.ListAudit(ctx, storage.AuditQuery{Limit: 2, Cursor: next})
	mustNil(t, "ListAudit with an issued cursor", err)

	for _, limit := range []int{0, -1} {
		users, next, err := s.ListUsers(ctx, storage.UserQuery{OrgID: "org-1", Limit: limit})
		mustNil(t, "ListUsers", err)
		if len(users) != 5 || next != "" {
			t.Errorf("ListUsers Limit %d: %d users, cursor %q; want 5 and none", limit, len(users), next)
		}
		events, next, err := s.ListAudit(ctx, storage.AuditQuery{Limit: limit})
		mustNil(t, "ListAudit", err)
		if len(events) != total || next != "" {
			t.Errorf("ListAudit Limit %d: %d events, cursor %q; want %d and none", limit, len(events), next, total)
		}
	}
}
