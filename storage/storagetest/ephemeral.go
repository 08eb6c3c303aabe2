package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"gatehouse/storage"
)

// sessionFor signs email in with a session that expires at exp.
func (fx *fixture) sessionFor(t *testing.T, email, sessionID string, exp time.Time) storage.User {
	t.Helper()
	w := fx.write(email, sessionID, t0.Add(-time.Hour))
	w.Session.ExpiresAt = exp
	return fx.signInWith(t, w)
}

func testSessions(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	u1 := fx.sessionFor(t, "one@example.com", "s-1", t0.Add(time.Hour))
	fx.sessionFor(t, "one@example.com", "s-2", t0.Add(3*time.Hour))
	u2 := fx.sessionFor(t, "two@example.com", "s-3", t0.Add(3*time.Hour))

	want := storage.Session{ID: "s-1", UserID: u1.ID, OrgID: "org-1", PartnerID: "p-a", CreatedAt: t0.Add(-time.Hour), ExpiresAt: t0.Add(time.Hour)}
	equal(t, "GetSession", sessionPresent(t, s, "s-1"), want)
	sessionGone(t, s, "s-missing")
	for range 2 { // a cache, if the backend has one, answers as the database does
		gotSess, gotUser, err := s.GetSessionUser(ctx, "s-1")
		mustNil(t, "GetSessionUser", err)
		equal(t, "GetSessionUser session", gotSess, want)
		equal(t, "GetSessionUser user", gotUser, u1)
	}

	counts := func(t *testing.T, stage string, cases []struct {
		user string // "" = CountActiveSessions
		now  time.Time
		want int
	}) {
		t.Helper()
		for _, c := range cases {
			var n int
			var err error
			if c.user == "" {
				n, err = s.CountActiveSessions(ctx, c.now)
			} else {
				n, err = s.CountSessions(ctx, c.user, c.now)
			}
			mustNil(t, "count", err)
			if n != c.want {
				t.Errorf("%s: count(user %q, now %v) = %d, want %d", stage, c.user, c.now, n, c.want)
			}
		}
	}
	type cs = []struct {
		user string
		now  time.Time
		want int
	}
	counts(t, "before delete", cs{
		{u1.ID, t0, 2},
		{u1.ID, t0.Add(2 * time.Hour), 1},
		{u2.ID, t0, 1},
		{"u-missing", t0, 0},
		{"", t0, 3},
		{"", t0.Add(2 * time.Hour), 2},
		{"", t0.Add(4 * time.Hour), 0},
	})

	mustNil(t, "DeleteSession", s.DeleteSession(ctx, "s-1"))
	sessionGone(t, s, "s-1")
	counts(t, "after delete", cs{
		{u1.ID, t0, 1},
		{u2.ID, t0, 1},
		{"", t0, 2},
	})
}

func testLoginTokens(t *testing.T, s storage.Store) {
	ctx := t.Context()
	lt := func(id string, exp time.Time) storage.LoginToken {
		return storage.LoginToken{ID: id, OrgID: "org-1", PartnerID: "p-a", TenantID: "t-1", Email: "x@example.com", Name: "X", Role: "viewer", ReturnTo: "https://one.example/app", ClientIP: "192.0.2.7", ExpiresAt: exp}
	}
	live, expired := lt("lt-live", t0.Add(5*time.Minute)), lt("lt-expired", t0.Add(5*time.Minute))
	mustNil(t, "CreateLoginToken", s.CreateLoginToken(ctx, live))
	mustNil(t, "CreateLoginToken", s.CreateLoginToken(ctx, expired))

	for _, tc := range []struct {
		name    string
		id      string
		now     time.Time
		want    storage.LoginToken
		wantErr error
	}{
		{"unknown", "lt-missing", t0, storage.LoginToken{}, storage.ErrNotFound},
		{"expired", "lt-expired", t0.Add(10 * time.Minute), storage.LoginToken{}, storage.ErrNotFound},
		{"live", "lt-live", t0, live, nil},
		{"already consumed", "lt-live", t0, storage.LoginToken{}, storage.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ConsumeLoginToken(ctx, tc.id, tc.now)
			wantErr(t, "ConsumeLoginToken", err, tc.wantErr)
			if tc.wantErr == nil {
				equal(t, "ConsumeLoginToken", got, tc.want)
			}
		})
	}
}

func testLoginTokenRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	tok := storage.LoginToken{ID: "lt-race", OrgID: "org-1", Email: "race@example.com", ExpiresAt: t0.Add(time.Minute)}
	mustNil(t, "CreateLoginToken", s.CreateLoginToken(ctx, tok))

	const consumers = 20
	errs := make([]error, consumers)
	toks := make([]storage.LoginToken, consumers)
	var wg sync.WaitGroup
	for i := range consumers {
		wg.Go(func() { toks[i], errs[i] = s.ConsumeLoginToken(ctx, tok.ID, t0) })
	}
	wg.Wait()

	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
			equal(t, "winning token", toks[i], tok)
		case !errors.Is(err, storage.ErrNotFound):
			t.Errorf("consumer %d: %v, want ErrNotFound", i, err)
		}
	}
	if winners != 1 {
		t.Errorf("%d consumers won, want exactly 1", winners)
	}
}

func testAdminTokens(t *testing.T, s storage.Store) {
	ctx := t.Context()
	a1 := storage.AdminToken{ID: "at-1", OrgID: "org-1", Role: "admin", Label: "ci", Hash: "h-1", CreatedAt: t0}
	a2 := storage.AdminToken{ID: "at-2", OrgID: "org-1", Role: "viewer", Label: "ops", Hash: "h-2", CreatedAt: t0}
	a3 := storage.AdminToken{ID: "at-3", OrgID: "org-2", Role: "admin", Hash: "h-3", CreatedAt: t0}
	for _, tc := range []struct {
		name  string
		token storage.AdminToken
		want  error
	}{
		{"first", a1, nil},
		{"second", a2, nil},
		{"other org", a3, nil},
		{"duplicate id", storage.AdminToken{ID: "at-1", OrgID: "org-1", Hash: "h-9"}, storage.ErrExists},
		{"duplicate hash", storage.AdminToken{ID: "at-9", OrgID: "org-2", Hash: "h-1"}, storage.ErrExists},
	} {
		t.Run("Create/"+tc.name, func(t *testing.T) {
			wantErr(t, "CreateAdminToken", s.CreateAdminToken(ctx, tc.token), tc.want)
		})
	}

	getByHash := func(t *testing.T, hash string) storage.AdminToken {
		t.Helper()
		got, err := s.GetAdminTokenByHash(ctx, hash)
		mustNil(t, "GetAdminTokenByHash", err)
		return got
	}
	equal(t, "GetAdminTokenByHash", getByHash(t, "h-1"), a1)
	_, err := s.GetAdminTokenByHash(ctx, "h-missing")
	wantErr(t, "GetAdminTokenByHash missing", err, storage.ErrNotFound)

	list, err := s.ListAdminTokens(ctx, "org-1")
	mustNil(t, "ListAdminTokens", err)
	equal(t, "ListAdminTokens org-1", sorted(list, adminTokenID), []storage.AdminToken{a1, a2})
	list, err = s.ListAdminTokens(ctx, "org-2")
	mustNil(t, "ListAdminTokens", err)
	equal(t, "ListAdminTokens org-2", list, []storage.AdminToken{a3})

	t.Run("Touch", func(t *testing.T) {
		at := t0.Add(time.Hour)
		mustNil(t, "TouchAdminToken", s.TouchAdminToken(ctx, "at-1", at))
		want := a1
		want.LastUsedAt = at
		equal(t, "token after touch", getByHash(t, "h-1"), want)
		equal(t, "other token untouched", getByHash(t, "h-2"), a2)
		wantErr(t, "TouchAdminToken missing", s.TouchAdminToken(ctx, "at-missing", at), storage.ErrNotFound)
	})

	t.Run("Delete", func(t *testing.T) {
		wantErr(t, "DeleteAdminToken of another org", s.DeleteAdminToken(ctx, "org-2", "at-1"), storage.ErrNotFound)
		getByHash(t, "h-1")
		mustNil(t, "DeleteAdminToken", s.DeleteAdminToken(ctx, "org-1", "at-1"))
		_, err := s.GetAdminTokenByHash(ctx, "h-1")
		wantErr(t, "GetAdminTokenByHash after delete", err, storage.ErrNotFound)
		list, err := s.ListAdminTokens(ctx, "org-1")
		mustNil(t, "ListAdminTokens", err)
		equal(t, "ListAdminTokens after delete", list, []storage.AdminToken{a2})
		wantErr(t, "DeleteAdminToken again", s.DeleteAdminToken(ctx, "org-1", "at-1"), storage.ErrNotFound)
		// Id and hash are free again.
		mustNil(t, "CreateAdminToken after delete", s.CreateAdminToken(ctx, a1))
	})
}

func testSweep(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	early, late := t0.Add(time.Hour), t0.Add(3*time.Hour)
	fx.sessionFor(t, "one@example.com", "s-early", early)
	fx.sessionFor(t, "one@example.com", "s-late", late)
	mustNil(t, "RecordReplay", s.RecordReplay(ctx, storage.Replay{Key: "r-early", ExpiresAt: early}, t0))
	mustNil(t, "RecordReplay", s.RecordReplay(ctx, storage.Replay{Key: "r-late", ExpiresAt: late}, t0))
	for id, exp := range map[string]time.Time{"lt-early": early, "lt-earlier": t0.Add(30 * time.Minute), "lt-late": late} {
		mustNil(t, "CreateLoginToken", s.CreateLoginToken(ctx, storage.LoginToken{ID: id, OrgID: "org-1", ExpiresAt: exp}))
	}

	sweepAt := t0.Add(2 * time.Hour)
	got, err := s.Sweep(ctx, sweepAt)
	mustNil(t, "Sweep", err)
	equal(t, "Sweep result", got, storage.SweepResult{Sessions: 1, Replays: 1, LoginTokens: 2})

	// Probe at t0, when the removed records would still be live, so only
	// their removal explains the answers.
	sessionGone(t, s, "s-early")
	sessionPresent(t, s, "s-late")
	mustNil(t, "RecordReplay of a swept key", s.RecordReplay(ctx, storage.Replay{Key: "r-early", ExpiresAt: late}, t0))
	wantErr(t, "RecordReplay of a kept key", s.RecordReplay(ctx, storage.Replay{Key: "r-late", ExpiresAt: late}, t0), storage.ErrReplay)
	for _, tc := range []struct {
		id   string
		want error
	}{{"lt-early", storage.ErrNotFound}, {"lt-earlier", storage.ErrNotFound}, {"lt-late", nil}} {
		_, err := s.ConsumeLoginToken(ctx, tc.id, t0)
		wantErr(t, "ConsumeLoginToken "+tc.id, err, tc.want)
	}

	got, err = s.Sweep(ctx, sweepAt)
	mustNil(t, "second Sweep", err)
	equal(t, "second Sweep result", got, storage.SweepResult{})
}
