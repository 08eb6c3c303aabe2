package postgres

import (
	"context"
	"testing"
	"time"

	"gatehouse/storage"
)

// feed collects the changes a Subscribe delivers.
type feed chan storage.Change

// next waits for a change matching kind and org, skipping others.
func (f feed) next(t *testing.T, what, kind, org string) {
	t.Helper()
	deadline := time.After(2 * time.Second)
	for {
		select {
		case c := <-f:
			if c.Kind == kind && (org == "" || c.OrgID == org) {
				return
			}
		case <-deadline:
			t.Fatalf("%s: no %s change for org %q within 2s", what, kind, org)
		}
	}
}

// quiet checks that no change of kind arrives for a while.
func (f feed) quiet(t *testing.T, what, kind string) {
	t.Helper()
	deadline := time.After(300 * time.Millisecond)
	for {
		select {
		case c := <-f:
			if c.Kind == kind {
				t.Errorf("%s: unexpected %s change %+v", what, kind, c)
			}
		case <-deadline:
			return
		}
	}
}

// TestChangeFeedAcrossStores: two stores on one database, as two instances
// have them. Changes committed through A reach B's Subscribe (the triggers
// NOTIFY inside A's transactions); a sign-in's key touch does not flood the
// feed; and when B's listening connection is killed, B reconnects and says
// ChangeAll, since notifications sent meanwhile were lost.
func TestChangeFeedAcrossStores(t *testing.T) {
	url := newDatabase(t)
	a, b := openTest(t, url, Options{}), openTest(t, url, Options{})
	t.Cleanup(func() { a.Close(); b.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(feed, 256)
	done := make(chan error, 1)
	go func() { done <- b.Subscribe(ctx, func(c storage.Change) { got <- c }) }()
	got.next(t, "connect", storage.ChangeAll, "")

	t0 := time.Now().UTC().Truncate(time.Second)
	mustDo := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	mustDo("CreateOrg", a.CreateOrg(ctx, storage.Org{ID: "o1", Name: "O", CreatedAt: t0}))
	mustDo("CreateTenant", a.CreateTenant(ctx, storage.Tenant{ID: "t1", OrgID: "o1", Name: "T", CreatedAt: t0}))
	got.next(t, "tenant create", storage.ChangeTenants, "o1")
	mustDo("CreatePartner", a.CreatePartner(ctx, storage.Partner{ID: "p1", OrgID: "o1", Name: "P", ConsumerKey: "ck1", Active: true, CreatedAt: t0, UpdatedAt: t0}))
	got.next(t, "partner create", storage.ChangePartners, "o1")
	mustDo("CreateKey", a.CreateKey(ctx, storage.Key{Kid: "k1", OrgID: "o1", PartnerID: "p1", Fingerprint: "fp", Bits: 2048, DER: []byte{1}, CreatedAt: t0}))
	got.next(t, "key upload", storage.ChangeKeys, "o1")

	// A sign-in touching the key's last use is not a key change.
	_, err := a.SignIn(ctx, storage.SignInWrite{
		Now: t0, OrgID: "o1", Email: "u@example.com",
		Provision: func(*storage.User, func(string) int) (storage.User, error) {
			return storage.User{ID: "u1", Email: "u@example.com", OrgID: "o1", TenantID: "t1", Role: "admin", PartnerID: "p1", CreatedAt: t0}, nil
		},
		Session:  storage.Session{ID: "s1", OrgID: "o1", PartnerID: "p1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)},
		TouchKey: &storage.KeyTouch{OrgID: "o1", Kid: "k1", At: t0},
	})
	mustDo("SignIn", err)
	got.quiet(t, "key touch", storage.ChangeKeys)

	_, err = a.UpdatePartner(ctx, "o1", "p1", func(p storage.Partner) (storage.Partner, error) { p.Active = false; return p, nil })
	mustDo("deactivate", err)
	got.next(t, "partner deactivation", storage.ChangePartners, "o1")
	mustDo("DeleteUser", a.DeleteUser(ctx, "u1"))
	got.next(t, "user deletion", storage.ChangeUsers, "o1")
	mustDo("DeleteKey", a.DeleteKey(ctx, "o1", "k1"))
	got.next(t, "key removal", storage.ChangeKeys, "o1")

	// Kill the listening session: B must reconnect and report ChangeAll,
	// then keep delivering.
	var n int
	err = a.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, feedApplicationName).Scan(&n)
	mustDo("terminate the listener", err)
	if n != 1 {
		t.Fatalf("terminated %d listening sessions, want 1", n)
	}
	got.next(t, "reconnect", storage.ChangeAll, "")
	_, err = a.UpdateTenant(ctx, "o1", "t1", func(x storage.Tenant) (storage.Tenant, error) { x.Name = "T2"; return x, nil })
	mustDo("UpdateTenant", err)
	got.next(t, "tenant change after reconnect", storage.ChangeTenants, "o1")

	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Subscribe returned nil; want ctx's error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Subscribe did not return after ctx ended")
	}
}
