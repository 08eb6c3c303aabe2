package postgres

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/storage"
	"gatehouse/storage/postgres/pgtest"
)

// These tests run two Stores, each with its own pool, on one database: two
// Gatehouse instances as far as PostgreSQL can tell. Every invariant a single
// process could have kept with a mutex must hold between them.

// epoch anchors the instants of these tests; nothing compares it with the
// wall clock.
var epoch = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// modes are the two sign-in write paths; the invariants hold on both.
var modes = []struct {
	name string
	opts Options
}{{"GroupCommit", Options{}}, {"NoGroupCommit", Options{NoGroupCommit: true}}}

// pair opens two stores on one fresh database with an org, a tenant, an
// active partner p-a and its key k-a.
func pair(t *testing.T, opts Options) (*Store, *Store) {
	t.Helper()
	url := newDatabase(t)
	a, b := openTest(t, url, opts), openTest(t, url, opts)
	t.Cleanup(func() { a.Close(); b.Close() })
	ctx := t.Context()
	mustOK(t, a.CreateOrg(ctx, orgFixture))
	mustOK(t, a.CreateTenant(ctx, tenantFixture))
	mustOK(t, a.CreatePartner(ctx, partnerFixture))
	mustOK(t, a.CreateKey(ctx, keyFixture))
	return a, b
}

// The records every sign-in of these tests needs.
var (
	orgFixture     = storage.Org{ID: "org-1", Name: "One", CreatedAt: epoch}
	tenantFixture  = storage.Tenant{ID: "t-1", OrgID: "org-1", Name: "T", CreatedAt: epoch}
	partnerFixture = storage.Partner{ID: "p-a", OrgID: "org-1", Name: "A", ConsumerKey: "ck-a", Active: true, CreatedAt: epoch}
	keyFixture     = storage.Key{Kid: "k-a", OrgID: "org-1", PartnerID: "p-a", DER: []byte{1}, CreatedAt: epoch}
)

func mustOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// signInWrite is a full sign-in of email by p-a: replay marker, key touch
// and audit event. A new user gets an id that names the attempt, so a second
// creation of one email would show.
func signInWrite(email, sessionID, replayKey string) storage.SignInWrite {
	return storage.SignInWrite{
		Now:    epoch,
		OrgID:  "org-1",
		Email:  email,
		Replay: &storage.Replay{Key: replayKey, ExpiresAt: epoch.Add(time.Hour)},
		Provision: func(existing *storage.User, _ func(string) int) (storage.User, error) {
			if existing != nil {
				u := *existing
				u.LastSignInAt = epoch
				return u, nil
			}
			return storage.User{ID: "u:" + sessionID, Email: email, OrgID: "org-1", TenantID: "t-1", Role: "viewer",
				PartnerSSO: true, PartnerID: "p-a", CreatedAt: epoch, LastSignInAt: epoch}, nil
		},
		Session:  storage.Session{ID: sessionID, OrgID: "org-1", PartnerID: "p-a", CreatedAt: epoch, ExpiresAt: epoch.Add(8 * time.Hour)},
		TouchKey: &storage.KeyTouch{OrgID: "org-1", Kid: "k-a", At: epoch},
		Audit:    &storage.AuditEvent{ID: "ev-" + sessionID, Time: epoch, Type: "signin.jwt", Outcome: "success", OrgID: "org-1", Email: email},
	}
}

// race runs n calls, alternating between the two stores, all released at once.
func race(n int, a, b *Store, call func(i int, s *Store) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			<-start
			errs[i] = call(i, s)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// verifyAudit walks the whole log through s and checks it is one chain:
// Seq 1…n without gaps, each hash recomputed, each PrevHash the hash before.
func verifyAudit(t *testing.T, s *Store, want int) {
	t.Helper()
	var prev storage.AuditEvent
	n := 0
	mustOK(t, s.WalkAudit(t.Context(), func(e storage.AuditEvent) error {
		n++
		h, err := storage.HashEvent(e)
		if err != nil {
			return err
		}
		switch {
		case e.Seq != uint64(n):
			return fmt.Errorf("event %s has Seq %d, want %d", e.ID, e.Seq, n)
		case h != e.Hash:
			return fmt.Errorf("event %d: hash %s, recomputed %s", e.Seq, e.Hash, h)
		case e.PrevHash != prev.Hash:
			return fmt.Errorf("event %d: PrevHash %q, previous hash %q", e.Seq, e.PrevHash, prev.Hash)
		}
		prev = e
		return nil
	}))
	if n != want {
		t.Errorf("audit log holds %d events, want %d", n, want)
	}
}

// TestInstancesReplay: one jti presented to both instances at once signs in
// exactly once; the refused attempts leave nothing behind.
func TestInstancesReplay(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			a, b := pair(t, m.opts)
			const n = 20
			errs := race(n, a, b, func(i int, s *Store) error {
				_, err := s.SignIn(t.Context(), signInWrite(fmt.Sprintf("r%02d@example.com", i), fmt.Sprintf("s-%02d", i), "jti:shared"))
				return err
			})
			won := -1
			for i, err := range errs {
				switch {
				case err == nil && won >= 0:
					t.Errorf("sign-ins %d and %d both accepted one jti", won, i)
				case err == nil:
					won = i
				case !errors.Is(err, storage.ErrReplay):
					t.Errorf("sign-in %d: %v, want ErrReplay", i, err)
				}
			}
			if won < 0 {
				t.Fatal("no sign-in won")
			}
			// Read through the store that did not write it: committed.
			other := a
			if won%2 == 0 {
				other = b
			}
			if n, err := other.CountActiveSessions(t.Context(), epoch); err != nil || n != 1 {
				t.Errorf("sessions = %d, %v; want 1", n, err)
			}
			if n, err := other.CountUsers(t.Context(), "org-1", ""); err != nil || n != 1 {
				t.Errorf("users = %d, %v; want 1 (refused sign-ins create none)", n, err)
			}
			verifyAudit(t, other, 1)

			// RecordReplay (the HMAC nonce path) races the same way.
			errs = race(n, a, b, func(_ int, s *Store) error {
				return s.RecordReplay(t.Context(), storage.Replay{Key: "nonce:shared", ExpiresAt: epoch.Add(time.Hour)}, epoch)
			})
			ok := 0
			for _, err := range errs {
				if err == nil {
					ok++
				} else if !errors.Is(err, storage.ErrReplay) {
					t.Errorf("RecordReplay: %v", err)
				}
			}
			if ok != 1 {
				t.Errorf("%d RecordReplay calls accepted one nonce, want 1", ok)
			}
		})
	}
}

// TestInstancesLoginToken: instances racing to consume one login token: one wins.
func TestInstancesLoginToken(t *testing.T) {
	a, b := pair(t, Options{})
	tok := storage.LoginToken{ID: "lt-1", OrgID: "org-1", PartnerID: "p-a", TenantID: "t-1", Email: "x@example.com", ExpiresAt: epoch.Add(time.Minute)}
	mustOK(t, a.CreateLoginToken(t.Context(), tok))
	got := make([]storage.LoginToken, 20)
	errs := race(20, a, b, func(i int, s *Store) error {
		var err error
		got[i], err = s.ConsumeLoginToken(t.Context(), tok.ID, epoch)
		return err
	})
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
			if got[i].Email != tok.Email {
				t.Errorf("winner got %+v", got[i])
			}
		case !errors.Is(err, storage.ErrNotFound):
			t.Errorf("consumer %d: %v", i, err)
		}
	}
	if winners != 1 {
		t.Errorf("%d consumers won the token, want 1", winners)
	}
}

// TestInstancesFirstSignInOneUser: concurrent first sign-ins of one email on
// both instances all succeed and share one user.
func TestInstancesFirstSignInOneUser(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			a, b := pair(t, m.opts)
			const n = 30
			users := make([]storage.User, n)
			errs := race(n, a, b, func(i int, s *Store) error {
				var err error
				users[i], err = s.SignIn(t.Context(), signInWrite("same@example.com", fmt.Sprintf("s-%02d", i), fmt.Sprintf("jti:%02d", i)))
				return err
			})
			for i, err := range errs {
				if err != nil {
					t.Errorf("sign-in %d: %v", i, err)
				}
			}
			stored, err := b.GetUserByEmail(t.Context(), "org-1", "same@example.com")
			mustOK(t, err)
			for i, u := range users {
				if errs[i] == nil && u.ID != stored.ID {
					t.Errorf("sign-in %d returned user %q, the stored one is %q", i, u.ID, stored.ID)
				}
			}
			if n, err := a.CountUsers(t.Context(), "org-1", ""); err != nil || n != 1 {
				t.Errorf("users = %d, %v; want 1", n, err)
			}
			if got, err := a.CountSessions(t.Context(), stored.ID, epoch); err != nil || got != n {
				t.Errorf("sessions of the user = %d, %v; want %d", got, err, n)
			}
			verifyAudit(t, a, n)
			// The same email in another organization is another user.
			mustOK(t, a.CreateOrg(t.Context(), storage.Org{ID: "org-2", CreatedAt: epoch}))
			mustOK(t, a.CreateTenant(t.Context(), storage.Tenant{ID: "t-1", OrgID: "org-2", CreatedAt: epoch}))
			mustOK(t, a.CreateUser(t.Context(), storage.User{ID: "u-other", Email: "same@example.com", OrgID: "org-2", TenantID: "t-1"}))
			err = b.CreateUser(t.Context(), storage.User{ID: "u-dup", Email: "SAME@example.com", OrgID: "org-1", TenantID: "t-1"})
			if !errors.Is(err, storage.ErrExists) {
				t.Errorf("a second user with the email in org-1: %v, want ErrExists", err)
			}
		})
	}
}

// errQuota is the provision function's refusal once the partner is full.
var errQuota = errors.New("max_users reached")

// TestInstancesMaxUsers: new users racing for a partner's last places on
// both instances never exceed max_users.
func TestInstancesMaxUsers(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			a, b := pair(t, m.opts)
			const max, n = 5, 24
			errs := race(n, a, b, func(i int, s *Store) error {
				w := signInWrite(fmt.Sprintf("q%02d@example.com", i), fmt.Sprintf("s-%02d", i), fmt.Sprintf("jti:%02d", i))
				provision := w.Provision
				w.Provision = func(existing *storage.User, partnerUsers func(string) int) (storage.User, error) {
					if existing == nil && partnerUsers("p-a") >= max {
						return storage.User{}, errQuota
					}
					return provision(existing, partnerUsers)
				}
				_, err := s.SignIn(t.Context(), w)
				return err
			})
			ok := 0
			for i, err := range errs {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, errQuota):
					t.Errorf("sign-in %d: %v", i, err)
				}
			}
			if ok != max {
				t.Errorf("%d new users signed in, want exactly max_users = %d", ok, max)
			}
			if got, err := b.CountPartnerUsers(t.Context(), "p-a"); err != nil || got != max {
				t.Errorf("CountPartnerUsers = %d, %v; want %d", got, err, max)
			}
			verifyAudit(t, a, max)
		})
	}
}

// TestInstancesDeactivationRace: sign-ins on both instances while one of them
// deactivates the partner: no session of the partner survives, every sign-in
// that returned nil had committed (its user exists), later ones are refused.
func TestInstancesDeactivationRace(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			a, b := pair(t, m.opts)
			const n = 40
			errs := race(n+1, a, b, func(i int, s *Store) error {
				if i == n {
					_, err := s.UpdatePartner(t.Context(), "org-1", "p-a", func(p storage.Partner) (storage.Partner, error) {
						p.Active = false
						return p, nil
					})
					return err
				}
				_, err := s.SignIn(t.Context(), signInWrite(fmt.Sprintf("d%02d@example.com", i), fmt.Sprintf("s-%02d", i), fmt.Sprintf("jti:%02d", i)))
				return err
			})
			mustOK(t, errs[n])
			ok := 0
			for i, err := range errs[:n] {
				_, uerr := a.GetUserByEmail(t.Context(), "org-1", fmt.Sprintf("d%02d@example.com", i))
				switch {
				case err == nil:
					ok++
					if uerr != nil {
						t.Errorf("sign-in %d returned nil but its user is missing: %v", i, uerr)
					}
				case errors.Is(err, storage.ErrPartnerInactive):
					if !errors.Is(uerr, storage.ErrNotFound) {
						t.Errorf("refused sign-in %d left its user: %v", i, uerr)
					}
				default:
					t.Errorf("sign-in %d: %v", i, err)
				}
			}
			if got, err := b.CountActiveSessions(t.Context(), epoch); err != nil || got != 0 {
				t.Errorf("sessions after the deactivation = %d, %v; want 0", got, err)
			}
			verifyAudit(t, b, ok)
			for _, s := range []*Store{a, b} {
				_, err := s.SignIn(t.Context(), signInWrite("late@example.com", "s-late", "jti:late"))
				if !errors.Is(err, storage.ErrPartnerInactive) {
					t.Errorf("sign-in after the deactivation: %v, want ErrPartnerInactive", err)
				}
			}
		})
	}
}

// TestInstancesAuditChain: appends and audited sign-ins from both instances
// at once form one chain that verifies end to end.
func TestInstancesAuditChain(t *testing.T) {
	a, b := pair(t, Options{})
	const n = 60
	errs := race(n, a, b, func(i int, s *Store) error {
		if i%3 == 0 {
			_, err := s.SignIn(t.Context(), signInWrite(fmt.Sprintf("c%02d@example.com", i), fmt.Sprintf("s-%02d", i), fmt.Sprintf("jti:%02d", i)))
			return err
		}
		_, err := s.AppendAudit(t.Context(), storage.AuditEvent{ID: fmt.Sprintf("ev-%02d", i), Time: epoch.Add(time.Duration(i) * time.Second),
			Type: "tenant.update", Actor: "operator", OrgID: "org-1", Details: map[string]any{"i": i, "note": "<&>\u00e9\u0000"}})
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	verifyAudit(t, a, n)
	verifyAudit(t, b, n)
}

// TestInstancesSignInIsCommitted: what SignIn returned nil for is visible at
// once through the other instance, all parts of it; a refused sign-in shows
// no part.
func TestInstancesSignInIsCommitted(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			a, b := pair(t, m.opts)
			ctx := t.Context()
			u, err := a.SignIn(ctx, signInWrite("c@example.com", "s-1", "jti:1"))
			mustOK(t, err)
			if _, err := b.GetSession(ctx, "s-1"); err != nil {
				t.Errorf("session: %v", err)
			}
			if got, err := b.GetUser(ctx, u.ID); err != nil || got.Email != "c@example.com" {
				t.Errorf("user: %+v %v", got, err)
			}
			if seen, err := b.ReplaySeen(ctx, "jti:1", epoch); err != nil || !seen {
				t.Errorf("replay marker: %v %v", seen, err)
			}
			if k, err := b.GetKey(ctx, "org-1", "k-a"); err != nil || !k.LastUsedAt.Equal(epoch) {
				t.Errorf("key touch: %v %v", k.LastUsedAt, err)
			}
			verifyAudit(t, b, 1)

			w := signInWrite("refused@example.com", "s-2", "jti:2")
			w.Provision = func(*storage.User, func(string) int) (storage.User, error) { return storage.User{}, errQuota }
			if _, err := a.SignIn(ctx, w); !errors.Is(err, errQuota) {
				t.Fatalf("refused sign-in: %v", err)
			}
			if _, err := b.GetSession(ctx, "s-2"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("session of the refused sign-in: %v", err)
			}
			if seen, err := b.ReplaySeen(ctx, "jti:2", epoch); err != nil || seen {
				t.Errorf("replay marker of the refused sign-in: %v %v", seen, err)
			}
			verifyAudit(t, b, 1)
		})
	}
}

// TestOpenMigratesOnce: instances started together on an empty database all
// open it; one migrated, the others waited for it.
func TestOpenMigratesOnce(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), url, Options{}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	var versions, maxVersion int
	mustOK(t, stores[0].pool.QueryRow(t.Context(), "SELECT count(*), max(version) FROM gatehouse_schema").Scan(&versions, &maxVersion))
	if versions != SchemaVersion() || maxVersion != SchemaVersion() {
		t.Errorf("gatehouse_schema holds %d versions up to %d, want %d", versions, maxVersion, SchemaVersion())
	}
	mustOK(t, stores[1].CreateOrg(t.Context(), storage.Org{ID: "o", CreatedAt: epoch}))
}

// TestOpenRefusesNewerSchema: a database a newer Gatehouse migrated is
// refused with one line naming both versions.
func TestOpenRefusesNewerSchema(t *testing.T) {
	url := newDatabase(t)
	s := openTest(t, url, Options{})
	_, err := s.pool.Exec(t.Context(), "INSERT INTO gatehouse_schema (version, name, applied_at) VALUES ($1, 'from the future', $2)", SchemaVersion()+1, epoch)
	mustOK(t, err)
	s.Close()
	_, err = Open(t.Context(), url, Options{})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open: %v, want ErrSchemaTooNew", err)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, fmt.Sprint(SchemaVersion()+1)) {
		t.Errorf("message %q: want one line naming version %d", msg, SchemaVersion()+1)
	}
}
