package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"gatehouse/storage"
)

// A user is identified by its email within its organization (SPEC §1): the
// same address in two organizations is two unrelated users, and nothing done
// in one organization may find, block or change the other's.

// addSecondOrg adds org-2 with a tenant t-1 (the same tenant ID as org-1's)
// and an active partner p-c.
func addSecondOrg(t *testing.T, s storage.Store) {
	t.Helper()
	ctx := t.Context()
	mustNil(t, "CreateOrg org-2", s.CreateOrg(ctx, storage.Org{ID: "org-2", Name: "Org Two", CreatedAt: t0}))
	mustNil(t, "CreateTenant org-2/t-1", s.CreateTenant(ctx, storage.Tenant{ID: "t-1", OrgID: "org-2", Name: "Other One", CreatedAt: t0}))
	mustNil(t, "CreatePartner p-c", s.CreatePartner(ctx, storage.Partner{ID: "p-c", OrgID: "org-2", Name: "Partner C", ConsumerKey: "ck-c", Active: true, UserProvisioning: "auto", CreatedAt: t0, UpdatedAt: t0}))
}

// orgWrite is fx.write for another organization's partner: the user it
// creates belongs to org, with an ID that names the org.
func (fx *fixture) orgWrite(org, partner, email, sessionID string, at time.Time) storage.SignInWrite {
	w := fx.write(email, sessionID, at)
	w.OrgID, w.Session.OrgID, w.Session.PartnerID = org, org, partner
	w.Provision = func(existing *storage.User, _ func(string) int) (storage.User, error) {
		if existing != nil {
			u := *existing
			u.LastSignInAt = at
			return u, nil
		}
		u := fx.user(email, partner, at)
		u.ID, u.OrgID = "u:"+org+":"+email, org
		return u, nil
	}
	return w
}

func testSameEmailTwoOrgs(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	addSecondOrg(t, s)

	first := fx.signInWith(t, fx.orgWrite("org-1", "p-a", "alice@x.com", "s-1", t0))
	// org-2's sign-in must be handed no existing user: org-1's alice is not its.
	w := fx.orgWrite("org-2", "p-c", "alice@x.com", "s-2", t0.Add(time.Second))
	provision := w.Provision
	w.Provision = func(cur *storage.User, n func(string) int) (storage.User, error) {
		if cur != nil {
			return storage.User{}, fmt.Errorf("org-2's first sign-in was handed user %q of org %q", cur.ID, cur.OrgID)
		}
		return provision(cur, n)
	}
	second := fx.signInWith(t, w)
	if first.ID == second.ID {
		t.Fatalf("both organizations' alice are user %q", first.ID)
	}
	for _, want := range []storage.User{first, second} {
		got, err := s.GetUserByEmail(ctx, want.OrgID, "alice@x.com")
		mustNil(t, "GetUserByEmail "+want.OrgID, err)
		equal(t, "alice of "+want.OrgID, got, want)
	}
	if sess := sessionPresent(t, s, "s-1"); sess.UserID != first.ID {
		t.Errorf("org-1's session belongs to %q, want %q", sess.UserID, first.ID)
	}
	if sess := sessionPresent(t, s, "s-2"); sess.UserID != second.ID {
		t.Errorf("org-2's session belongs to %q, want %q", sess.UserID, second.ID)
	}
	// A repeat sign-in in each organization finds its own user again.
	again := fx.signInWith(t, fx.orgWrite("org-2", "p-c", "alice@x.com", "s-3", t0.Add(2*time.Second)))
	if again.ID != second.ID {
		t.Errorf("org-2's repeat sign-in is user %q, want %q", again.ID, second.ID)
	}
	for _, org := range []string{"org-1", "org-2"} {
		if n, err := s.CountUsers(ctx, org, ""); err != nil || n != 1 {
			t.Errorf("CountUsers(%s) = %d, %v; want 1", org, n, err)
		}
	}
	// CreateUser agrees: taken in org-1, taken in org-2, free in org-3.
	mustNil(t, "CreateOrg org-3", s.CreateOrg(ctx, storage.Org{ID: "org-3", CreatedAt: t0}))
	mustNil(t, "CreateTenant t-1 in org-3", s.CreateTenant(ctx, storage.Tenant{ID: "t-1", OrgID: "org-3", Name: "T1", CreatedAt: t0}))
	for _, tc := range []struct {
		org  string
		want error
	}{{"org-1", storage.ErrExists}, {"org-2", storage.ErrExists}, {"org-3", nil}} {
		err := s.CreateUser(ctx, storage.User{ID: "u-create-" + tc.org, Email: "alice@x.com", OrgID: tc.org, TenantID: "t-1", CreatedAt: t0})
		wantErr(t, "CreateUser alice in "+tc.org, err, tc.want)
	}
	// Deleting one organization's alice leaves the other's.
	mustNil(t, "DeleteUser", s.DeleteUser(ctx, first.ID))
	_, err := s.GetUserByEmail(ctx, "org-1", "alice@x.com")
	wantErr(t, "org-1's deleted alice", err, storage.ErrNotFound)
	sessionGone(t, s, "s-1")
	got, err := s.GetUserByEmail(ctx, "org-2", "alice@x.com")
	mustNil(t, "org-2's alice after org-1's was deleted", err)
	if got.ID != second.ID {
		t.Errorf("org-2's alice is %q, want %q", got.ID, second.ID)
	}
	sessionPresent(t, s, "s-2")
	// The address is free again in org-1 only.
	mustNil(t, "CreateUser alice in org-1 again", s.CreateUser(ctx, storage.User{ID: "u-again", Email: "alice@x.com", OrgID: "org-1", TenantID: "t-1", CreatedAt: t0}))
}

// testSignInOrgIsolation: sign-ins and refusals in org-1 never read, change
// or count org-2's user with the same email.
func testSignInOrgIsolation(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	addSecondOrg(t, s)
	bob := storage.User{ID: "u-bob-2", Email: "bob@x.com", Name: "Bob of org-2", OrgID: "org-2", TenantID: "t-1",
		Role: "admin", PartnerSSO: false, PartnerID: "", CreatedAt: t0}
	mustNil(t, "CreateUser org-2 bob", s.CreateUser(ctx, bob))
	fx.signInWith(t, fx.orgWrite("org-2", "p-c", "carol@x.com", "s-carol", t0))
	carol, err := s.GetUserByEmail(ctx, "org-2", "carol@x.com")
	mustNil(t, "GetUserByEmail carol", err)

	// org-2's bob is not a partner-SSO user; had org-1's sign-in been handed
	// him, a real provisioner would refuse (and so lock org-1's bob out).
	w := fx.fullWrite("bob@x.com", "s-bob-1", "jti:bob-1", t0.Add(time.Minute))
	provision := w.Provision
	w.Provision = func(cur *storage.User, n func(string) int) (storage.User, error) {
		if cur != nil {
			return storage.User{}, fmt.Errorf("org-1's sign-in was handed user %q of org %q", cur.ID, cur.OrgID)
		}
		return provision(cur, n)
	}
	bob1 := fx.signInWith(t, w)
	if bob1.OrgID != "org-1" || bob1.ID == bob.ID {
		t.Errorf("org-1's bob is %+v", bob1)
	}
	// A refused org-1 sign-in of carol's address leaves org-2's carol alone.
	refused := fx.fullWrite("carol@x.com", "s-carol-1", "jti:carol-1", t0.Add(2*time.Minute))
	refused.Provision = func(cur *storage.User, _ func(string) int) (storage.User, error) {
		if cur != nil {
			return storage.User{}, fmt.Errorf("handed org-2's carol %q", cur.ID)
		}
		return storage.User{}, errBoom
	}
	_, err = s.SignIn(ctx, refused)
	wantErr(t, "refused org-1 sign-in", err, errBoom)

	for _, want := range []storage.User{bob, carol} {
		got, err := s.GetUserByEmail(ctx, "org-2", want.Email)
		mustNil(t, "GetUserByEmail org-2 "+want.Email, err)
		equal(t, "org-2's "+want.Email+" after org-1's sign-ins", got, want)
	}
	if n, err := s.CountSessions(ctx, bob.ID, t0); err != nil || n != 0 {
		t.Errorf("org-2's bob has %d sessions (%v), want 0", n, err)
	}
	if n, err := s.CountSessions(ctx, carol.ID, t0); err != nil || n != 1 {
		t.Errorf("org-2's carol has %d sessions (%v), want 1", n, err)
	}
	if n, err := s.CountUsers(ctx, "org-2", ""); err != nil || n != 2 {
		t.Errorf("CountUsers(org-2) = %d, %v; want 2", n, err)
	}
	if n, err := s.CountPartnerUsers(ctx, "p-c"); err != nil || n != 1 {
		t.Errorf("CountPartnerUsers(p-c) = %d, %v; want 1 (carol)", n, err)
	}
}

// testSignInOrgMismatch: a write must say which organization's user it is
// about, and may only provision a user of that organization.
func testSignInOrgMismatch(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	addSecondOrg(t, s)
	cases := map[string]func(w *storage.SignInWrite){
		"no organization": func(w *storage.SignInWrite) { w.OrgID = "" },
		"session in another organization": func(w *storage.SignInWrite) {
			w.OrgID = "org-2"
		},
		"user provisioned into another organization": func(w *storage.SignInWrite) {
			provision := w.Provision
			w.Provision = func(cur *storage.User, n func(string) int) (storage.User, error) {
				u, err := provision(cur, n)
				u.OrgID = "org-2"
				return u, err
			}
		},
	}
	i := 0
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			i++
			w := fx.fullWrite(fmt.Sprintf("m%d@example.com", i), fmt.Sprintf("s-m%d", i), fmt.Sprintf("jti:m%d", i), t0)
			mutate(&w)
			if _, err := s.SignIn(ctx, w); err == nil {
				t.Fatal("SignIn succeeded")
			}
			for _, org := range []string{"org-1", "org-2"} {
				_, err := s.GetUserByEmail(ctx, org, w.Email)
				wantErr(t, "user of the refused sign-in in "+org, err, storage.ErrNotFound)
			}
			sessionGone(t, s, w.Session.ID)
			if n := len(auditEvents(t, s)); n != 0 {
				t.Errorf("audit has %d events, want 0", n)
			}
		})
	}
}

// testUserEmailRacePerOrg runs 50 goroutines at once over one address in two
// organizations: first sign-ins and plain creates. Each organization ends
// with exactly one user for it, whichever goroutine won.
func testUserEmailRacePerOrg(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	addSecondOrg(t, s)
	const workers = 50
	orgs := []struct{ id, partner string }{{"org-1", "p-a"}, {"org-2", "p-c"}}

	t.Run("sign-in", func(t *testing.T) {
		users := make([]storage.User, workers)
		errs := make([]error, workers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range workers {
			o := orgs[i%2]
			w := fx.orgWrite(o.id, o.partner, "race@x.com", fmt.Sprintf("s-race-%02d", i), t0.Add(time.Duration(i)))
			provision := w.Provision
			w.Provision = func(cur *storage.User, n func(string) int) (storage.User, error) {
				if cur != nil && cur.OrgID != o.id {
					return storage.User{}, fmt.Errorf("%s's sign-in was handed %s's user", o.id, cur.OrgID)
				}
				u, err := provision(cur, n)
				if cur == nil {
					u.ID = fmt.Sprintf("u:%s:race:%02d", o.id, i) // a second creation would show
				}
				return u, err
			}
			wg.Go(func() {
				<-start
				users[i], errs[i] = s.SignIn(ctx, w)
			})
		}
		close(start)
		wg.Wait()
		winner := map[string]string{}
		for i := range workers {
			o := orgs[i%2].id
			if errs[i] != nil {
				t.Errorf("SignIn %d (%s): %v", i, o, errs[i])
				continue
			}
			if users[i].OrgID != o {
				t.Errorf("SignIn %d in %s returned a user of %s", i, o, users[i].OrgID)
			}
			if id, ok := winner[o]; ok && id != users[i].ID {
				t.Errorf("%s: race@x.com signed in as %q and %q", o, id, users[i].ID)
			}
			winner[o] = users[i].ID
		}
		if winner["org-1"] == winner["org-2"] {
			t.Errorf("both organizations share user %q", winner["org-1"])
		}
		for _, o := range orgs {
			u, err := s.GetUserByEmail(ctx, o.id, "race@x.com")
			mustNil(t, "GetUserByEmail "+o.id, err)
			if u.ID != winner[o.id] {
				t.Errorf("%s stores %q, sign-ins returned %q", o.id, u.ID, winner[o.id])
			}
			if n, err := s.CountUsers(ctx, o.id, ""); err != nil || n != 1 {
				t.Errorf("CountUsers(%s) = %d, %v; want 1", o.id, n, err)
			}
			if n, err := s.CountSessions(ctx, u.ID, t0); err != nil || n != workers/2 {
				t.Errorf("%s's user has %d sessions (%v), want %d", o.id, n, err, workers/2)
			}
		}
	})

	t.Run("create", func(t *testing.T) {
		errs := make([]error, workers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range workers {
			o := orgs[i%2].id
			wg.Go(func() {
				<-start
				errs[i] = s.CreateUser(ctx, storage.User{ID: fmt.Sprintf("u-create-%02d", i), Email: "made@x.com",
					OrgID: o, TenantID: "t-1", CreatedAt: t0})
			})
		}
		close(start)
		wg.Wait()
		won := map[string]int{}
		for i, err := range errs {
			switch {
			case err == nil:
				won[orgs[i%2].id]++
			case !errors.Is(err, storage.ErrExists):
				t.Errorf("CreateUser %d: %v, want nil or ErrExists", i, err)
			}
		}
		for _, o := range orgs {
			if won[o.id] != 1 {
				t.Errorf("%s: %d creates of made@x.com succeeded, want exactly 1", o.id, won[o.id])
			}
			if _, err := s.GetUserByEmail(ctx, o.id, "made@x.com"); err != nil {
				t.Errorf("GetUserByEmail %s: %v", o.id, err)
			}
			if n, err := s.CountUsers(ctx, o.id, ""); err != nil || n != 2 {
				t.Errorf("CountUsers(%s) = %d, %v; want 2", o.id, n, err)
			}
		}
	})
}
