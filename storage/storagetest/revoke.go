package storagetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"gatehouse/storage"
)

// revokeWrite is a logout of email by partner A that allows every user.
func (fx *fixture) revokeWrite(email, replayKey string, at time.Time) storage.RevokeWrite {
	return storage.RevokeWrite{
		Now: at, OrgID: fx.org.ID, Email: email,
		Replay: storage.Replay{Key: replayKey, ExpiresAt: farFuture},
		Check:  func(*storage.User) error { return nil },
		Audit: func(res storage.RevokeResult) storage.AuditEvent {
			e := storage.AuditEvent{ID: "ev-" + replayKey, Time: at, Type: "partner.logout", Outcome: "success",
				OrgID: fx.org.ID, PartnerID: fx.partnerA.ID, Email: email,
				Details: map[string]any{"sessions_revoked": res.SessionsRevoked}}
			if res.User != nil {
				e.TenantID = res.User.TenantID
			}
			return e
		},
	}
}

func testRevokeLogout(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	u := fx.signIn(t, "gone@example.com", "s-1", t0)
	fx.signIn(t, "gone@example.com", "s-2", t0.Add(time.Minute))
	// An expired session of the user is deleted but not counted as revoked.
	old := fx.write("gone@example.com", "s-old", t0.Add(-10*time.Hour))
	fx.signInWith(t, old)
	other := fx.signIn(t, "stays@example.com", "s-3", t0)
	mustNil(t, "CreateLoginToken", s.CreateLoginToken(ctx, storage.LoginToken{ID: "lt-1", OrgID: fx.org.ID,
		PartnerID: fx.partnerA.ID, TenantID: "t-1", Email: "gone@example.com", ExpiresAt: t0.Add(time.Hour)}))
	mustNil(t, "CreateLoginToken", s.CreateLoginToken(ctx, storage.LoginToken{ID: "lt-2", OrgID: fx.org.ID,
		PartnerID: fx.partnerA.ID, TenantID: "t-1", Email: "stays@example.com", ExpiresAt: t0.Add(time.Hour)}))

	var checked *storage.User
	w := fx.revokeWrite("gone@example.com", "jti/org-1/r1", t0.Add(2*time.Minute))
	w.Check = func(existing *storage.User) error { checked = existing; return nil }
	res, err := s.Revoke(ctx, w)
	mustNil(t, "Revoke", err)
	if checked == nil || checked.ID != u.ID {
		t.Fatalf("Check got %+v, want user %s", checked, u.ID)
	}
	if res.User == nil || res.User.ID != u.ID || res.SessionsRevoked != 2 || res.LoginTokens != 1 {
		t.Fatalf("result %+v (user %+v), want user %s, 2 sessions, 1 login token", res, res.User, u.ID)
	}
	for _, id := range []string{"s-1", "s-2", "s-old"} {
		sessionGone(t, s, id)
	}
	sessionPresent(t, s, "s-3")
	if _, err := s.GetUser(ctx, u.ID); err != nil {
		t.Errorf("logout must keep the user: %v", err)
	}
	if _, err := s.GetUser(ctx, other.ID); err != nil {
		t.Errorf("other user: %v", err)
	}
	_, err = s.ConsumeLoginToken(ctx, "lt-1", t0)
	wantErr(t, "ConsumeLoginToken of the revoked email", err, storage.ErrNotFound)
	_, err = s.ConsumeLoginToken(ctx, "lt-2", t0)
	wantErr(t, "ConsumeLoginToken of another email", err, nil)
	seen, err := s.ReplaySeen(ctx, "jti/org-1/r1", t0)
	mustNil(t, "ReplaySeen", err)
	if !seen {
		t.Error("replay key not recorded by Revoke")
	}
	events := auditEvents(t, s)
	if len(events) != 1 || events[0].Type != "partner.logout" || events[0].TenantID != "t-1" || events[0].Seq != 1 {
		t.Fatalf("audit %+v", events)
	}
	if got := fmt.Sprint(events[0].Details["sessions_revoked"]); got != "2" {
		t.Errorf("audit details %+v", events[0].Details)
	}

	// The same replay key again: refused, nothing written.
	fx.signIn(t, "gone@example.com", "s-4", t0.Add(3*time.Minute))
	_, err = s.Revoke(ctx, fx.revokeWrite("gone@example.com", "jti/org-1/r1", t0.Add(3*time.Minute)))
	wantErr(t, "Revoke replay", err, storage.ErrReplay)
	sessionPresent(t, s, "s-4")
	if n := len(auditEvents(t, s)); n != 1 {
		t.Errorf("a replayed revoke appended audit: %d events", n)
	}
}

func testRevokeDeprovision(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	u := fx.signIn(t, "leaver@example.com", "s-1", t0)
	w := fx.revokeWrite("leaver@example.com", "nonce/ck-a/n1", t0.Add(time.Minute))
	w.DeleteUser = true
	res, err := s.Revoke(ctx, w)
	mustNil(t, "Revoke", err)
	if res.User == nil || res.SessionsRevoked != 1 {
		t.Fatalf("result %+v", res)
	}
	_, err = s.GetUser(ctx, u.ID)
	wantErr(t, "GetUser after deprovision", err, storage.ErrNotFound)
	_, err = s.GetUserByEmail(ctx, fx.org.ID, "leaver@example.com")
	wantErr(t, "GetUserByEmail after deprovision", err, storage.ErrNotFound)
	sessionGone(t, s, "s-1")
	n, err := s.CountPartnerUsers(ctx, fx.partnerA.ID)
	mustNil(t, "CountPartnerUsers", err)
	if n != 0 {
		t.Errorf("partner still counts %d users", n)
	}
	n, err = s.CountUsers(ctx, fx.org.ID, "")
	mustNil(t, "CountUsers", err)
	if n != 0 {
		t.Errorf("org still counts %d users", n)
	}
	// The email is free again: a new sign-in creates a new user.
	again := fx.signIn(t, "leaver@example.com", "s-2", t0.Add(2*time.Minute))
	if again.Email != "leaver@example.com" {
		t.Fatalf("re-created %+v", again)
	}
}

func testRevokeUnknownAndRefused(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	// Unknown email: applied, replay recorded, nothing found.
	var called bool
	w := fx.revokeWrite("nobody@example.com", "jti/org-1/u1", t0)
	w.Check = func(existing *storage.User) error {
		called = true
		if existing != nil {
			t.Errorf("Check got %+v for an unknown email", *existing)
		}
		return nil
	}
	res, err := s.Revoke(ctx, w)
	mustNil(t, "Revoke unknown", err)
	if !called || res.User != nil || res.SessionsRevoked != 0 {
		t.Fatalf("result %+v called=%v", res, called)
	}
	seen, err := s.ReplaySeen(ctx, "jti/org-1/u1", t0)
	mustNil(t, "ReplaySeen", err)
	if !seen {
		t.Error("an applied revoke of an unknown email must record its replay key")
	}

	// Check refuses: its error comes back as is, and nothing is written.
	fx.signIn(t, "kept@example.com", "s-1", t0)
	before := len(auditEvents(t, s))
	w = fx.revokeWrite("kept@example.com", "jti/org-1/u2", t0)
	w.DeleteUser = true
	w.Check = func(*storage.User) error { return errBoom }
	_, err = s.Revoke(ctx, w)
	if !errors.Is(err, errBoom) {
		t.Fatalf("Revoke with a refusing Check: %v, want errBoom", err)
	}
	sessionPresent(t, s, "s-1")
	if _, err := s.GetUserByEmail(ctx, fx.org.ID, "kept@example.com"); err != nil {
		t.Errorf("refused deprovision deleted the user: %v", err)
	}
	seen, err = s.ReplaySeen(ctx, "jti/org-1/u2", t0)
	mustNil(t, "ReplaySeen", err)
	if seen {
		t.Error("a refused revoke recorded its replay key")
	}
	if n := len(auditEvents(t, s)); n != before {
		t.Errorf("a refused revoke appended audit: %d → %d", before, n)
	}

	// A user of another organization with the same email is not this org's user.
	mustNil(t, "CreateOrg", s.CreateOrg(ctx, storage.Org{ID: "org-2", Name: "Two", CreatedAt: t0}))
	w = fx.revokeWrite("kept@example.com", "jti/org-2/u3", t0)
	w.OrgID = "org-2"
	w.DeleteUser = true
	res, err = s.Revoke(ctx, w)
	mustNil(t, "Revoke in another org", err)
	if res.User != nil || res.SessionsRevoked != 0 {
		t.Fatalf("another organization's revoke touched %+v", res)
	}
	sessionPresent(t, s, "s-1")

	// An expired replay marker does not count as a replay.
	w = fx.revokeWrite("kept@example.com", "jti/org-1/u4", t0)
	w.Replay.ExpiresAt = t0.Add(time.Minute)
	_, err = s.Revoke(ctx, w)
	mustNil(t, "Revoke", err)
	w = fx.revokeWrite("kept@example.com", "jti/org-1/u4", t0.Add(2*time.Minute))
	_, err = s.Revoke(ctx, w)
	mustNil(t, "Revoke with an expired marker", err)
}
