package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"gatehouse/storage"
)

// RunDump checks Export and Import (storage.Dumper): a store copied into an
// empty one of the same backend exports exactly the same records, and the
// copy works as the original did (indexes rebuilt, the audit chain going on).
// open must return a new, empty store each call.
func RunDump(t *testing.T, open func(t *testing.T) storage.Store) {
	opened := func(t *testing.T) storage.Dumper {
		s := open(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		d, ok := s.(storage.Dumper)
		if !ok {
			t.Fatalf("%T does not implement storage.Dumper", s)
		}
		return d
	}
	t.Run("RoundTrip", func(t *testing.T) { testDumpRoundTrip(t, opened(t), opened(t)) })
	t.Run("RefusesNonEmpty", func(t *testing.T) { testDumpRefusesNonEmpty(t, opened(t), opened(t)) })
	t.Run("RefusesPrunedLog", func(t *testing.T) { testDumpRefusesPrunedLog(t, opened(t), opened(t)) })
	t.Run("FailedImportLeavesNothingUsable", func(t *testing.T) { testDumpFailedImport(t, opened(t)) })
	t.Run("ConsistentUnderWrites", func(t *testing.T) { testDumpConsistent(t, opened(t)) })
}

// populate writes one record of every kind (several of some) through the
// regular Store methods.
func populate(t *testing.T, s storage.Store) *fixture {
	t.Helper()
	ctx := t.Context()
	fx := newFixture(t, s)
	max := 5
	_, err := s.UpdatePartner(ctx, fx.org.ID, fx.partnerB.ID, func(p storage.Partner) (storage.Partner, error) {
		p.Secret = &storage.Sealed{Version: 2, Nonce: []byte("nonce-123456"), Ciphertext: []byte("sealed secret bytes")}
		p.PreviousSecret = &storage.Sealed{Version: 1, Nonce: []byte("nonce-abcdef"), Ciphertext: []byte("older sealed bytes")}
		p.PreviousValidUntil = t0.Add(time.Hour)
		p.MaxUsers = &max
		p.AllowedEmailDomains = []string{"example.com"}
		p.AllowedRoles = []string{} // nothing allowed: must stay distinct from nil
		return p, nil
	})
	mustNil(t, "UpdatePartner", err)
	// Partner B publishes a JWKS: its fields and its JWKS-sourced key must survive a copy.
	_, _, err = s.SyncJWKSKeys(ctx, fx.org.ID, fx.partnerB.ID, []storage.Key{{Kid: "jwks-b", Fingerprint: "fp-jwks-b", Bits: 2048, DER: []byte{0x30, 0x42}, CreatedAt: t0}},
		func(p storage.Partner) (storage.Partner, error) {
			p.JWKSURL, p.JWKSFetchedAt = "https://idp.example/jwks.json", t0
			p.JWKSError, p.JWKSErrorAt, p.JWKSFailureAuditedAt = "the server answered HTTP 503 (want 200)", t0.Add(time.Minute), t0.Add(time.Minute)
			return p, nil
		})
	mustNil(t, "SyncJWKSKeys", err)
	mustNil(t, "CreateOrg 2", s.CreateOrg(ctx, storage.Org{ID: "org-2", Name: "Org Two", CreatedAt: t0}))
	mustNil(t, "CreateTenant 2", s.CreateTenant(ctx, storage.Tenant{ID: "t-1", OrgID: "org-2", Name: "Same ID, other org", AllowedReturnURLs: []string{"https://x.example/"}, CreatedAt: t0}))
	for i := range 3 {
		email := fmt.Sprintf("dump%d@example.com", i)
		w := fx.write(email, fmt.Sprintf("s-dump-%d", i), t0.Add(time.Duration(i)*time.Minute))
		w.Replay = &storage.Replay{Key: "jti:dump-" + email, ExpiresAt: farFuture}
		w.TouchKey = &storage.KeyTouch{OrgID: fx.org.ID, Kid: fx.key.Kid, At: t0.Add(time.Duration(i) * time.Minute)}
		w.Audit = &storage.AuditEvent{ID: "evt-signin-" + email, Time: t0, Type: "signin.jwt", Outcome: "success", OrgID: fx.org.ID, Email: email,
			Details: map[string]any{"credential": "kid-a", "nested": map[string]any{"n": 1.5, "list": []any{"a", 2.0}}}}
		_, err := s.SignIn(ctx, w)
		mustNil(t, "SignIn "+email, err)
	}
	mustNil(t, "CreateUser", s.CreateUser(ctx, storage.User{ID: "u-plain", Email: "plain@example.com", OrgID: fx.org.ID, TenantID: "t-2", Role: "admin", CreatedAt: t0}))
	mustNil(t, "RecordReplay", s.RecordReplay(ctx, storage.Replay{Key: "nonce:n-1", ExpiresAt: farFuture}, t0))
	mustNil(t, "CreateLoginToken", s.CreateLoginToken(ctx, storage.LoginToken{ID: "lt-1", OrgID: fx.org.ID, PartnerID: fx.partnerB.ID, TenantID: "t-1",
		Email: "dump0@example.com", Role: "viewer", ReturnTo: "https://one.example/x", ClientIP: "192.0.2.1", ExpiresAt: farFuture}))
	mustNil(t, "CreateAdminToken", s.CreateAdminToken(ctx, storage.AdminToken{ID: "at-1", OrgID: fx.org.ID, Role: "admin", Label: "ci", Hash: "hash-at-1", CreatedAt: t0}))
	for i := range 4 {
		_, err := s.AppendAudit(ctx, storage.AuditEvent{ID: fmt.Sprintf("evt-admin-%d", i), Time: t0.Add(time.Duration(i) * time.Second), Type: "tenant.update",
			Actor: "operator", Outcome: "success", OrgID: fx.org.ID, Details: map[string]any{"before": map[string]any{"name": "x"}, "i": i}})
		mustNil(t, "AppendAudit", err)
	}
	prev := signingKey("dump-k1", t0)
	_, err = s.UpdateSigningKeys(ctx, func(*storage.SigningKeys) (storage.SigningKeys, error) {
		return storage.SigningKeys{Current: signingKey("dump-k2", t0.Add(time.Hour)), Previous: &prev, RotatedAt: t0.Add(time.Hour),
			SIDSecret: &storage.Sealed{Version: 1, Nonce: []byte("sid-nonce"), Ciphertext: []byte("sid secret")}}, nil
	})
	mustNil(t, "UpdateSigningKeys", err)
	return fx
}

func exportAll(t *testing.T, d storage.Dumper) []storage.Record {
	t.Helper()
	var out []storage.Record
	mustNil(t, "Export", d.Export(t.Context(), func(r storage.Record) error {
		out = append(out, r)
		return nil
	}))
	return out
}

func testDumpRoundTrip(t *testing.T, src, dst storage.Dumper) {
	ctx := t.Context()
	fx := populate(t, src.(storage.Store))
	want := exportAll(t, src)

	counts, err := storage.Copy(ctx, dst, src)
	mustNil(t, "Copy", err)
	wantCounts := map[string]int{
		storage.KindOrgs: 2, storage.KindTenants: 3, storage.KindPartners: 2, storage.KindKeys: 2, storage.KindUsers: 4,
		storage.KindSessions: 3, storage.KindReplays: 4, storage.KindLoginTokens: 1, storage.KindAdminTokens: 1, storage.KindSigningKeys: 1, storage.KindAudit: 7,
	}
	equal(t, "counts", counts, wantCounts)

	got := exportAll(t, dst)
	if len(got) != len(want) {
		t.Fatalf("the copy exports %d records, the original %d", len(got), len(want))
	}
	for i := range want {
		equal(t, fmt.Sprintf("record %d (%s)", i, want[i].Kind()), got[i], want[i])
	}

	// The copy must work, not only look the same: every index answers.
	s := dst.(storage.Store)
	u, err := s.GetUserByEmail(ctx, fx.org.ID, "dump1@example.com")
	mustNil(t, "GetUserByEmail on the copy", err)
	if n, err := s.CountPartnerUsers(ctx, fx.partnerA.ID); err != nil || n != 3 {
		t.Errorf("CountPartnerUsers on the copy = %d, %v; want 3", n, err)
	}
	if n, err := s.CountSessions(ctx, u.ID, t0); err != nil || n != 1 {
		t.Errorf("CountSessions on the copy = %d, %v; want 1", n, err)
	}
	sess, err := s.GetSession(ctx, "s-dump-1")
	mustNil(t, "GetSession on the copy", err)
	if sess.UserID != u.ID {
		t.Errorf("session user %q, want %q", sess.UserID, u.ID)
	}
	p, err := s.GetPartnerByConsumerKey(ctx, "ck-b")
	mustNil(t, "GetPartnerByConsumerKey on the copy", err)
	if p.Secret == nil || string(p.Secret.Ciphertext) != "sealed secret bytes" || p.AllowedRoles == nil || len(p.AllowedRoles) != 0 {
		t.Errorf("partner B lost its sealed secret or policies: %+v", p)
	}
	if _, err := s.GetAdminTokenByHash(ctx, "hash-at-1"); err != nil {
		t.Errorf("GetAdminTokenByHash on the copy: %v", err)
	}
	if seen, err := s.ReplaySeen(ctx, "jti:dump-dump2@example.com", t0); err != nil || !seen {
		t.Errorf("replay marker lost in the copy: %v %v", seen, err)
	}
	wantErr(t, "RecordReplay of a copied marker", s.RecordReplay(ctx, storage.Replay{Key: "nonce:n-1", ExpiresAt: farFuture}, t0), storage.ErrReplay)
	lt, err := s.ConsumeLoginToken(ctx, "lt-1", t0)
	mustNil(t, "ConsumeLoginToken on the copy", err)
	if lt.Email != "dump0@example.com" {
		t.Errorf("login token %+v", lt)
	}
	wantErr(t, "CreateUser with a copied email", s.CreateUser(ctx, storage.User{ID: "u-dup", Email: "plain@example.com", OrgID: fx.org.ID, TenantID: "t-1", Role: "admin"}), storage.ErrExists)
	wantErr(t, "DeleteTenant with copied users", s.DeleteTenant(ctx, fx.org.ID, "t-2"), storage.ErrConflict)

	keys, err := s.GetSigningKeys(ctx)
	mustNil(t, "GetSigningKeys on the copy", err)
	if keys.Current.Kid != "dump-k2" || keys.Previous == nil || keys.Previous.Kid != "dump-k1" || keys.SIDSecret == nil ||
		string(keys.Current.Private.Ciphertext) != "c-dump-k2" || !keys.RotatedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("signing keys on the copy: %+v", keys)
	}

	// The chain continues from the copied head, and verifies end to end.
	last := want[len(want)-1].Audit
	next, err := s.AppendAudit(ctx, storage.AuditEvent{ID: "evt-after-copy", Time: t0, Type: "org.update", OrgID: fx.org.ID})
	mustNil(t, "AppendAudit on the copy", err)
	if next.Seq != last.Seq+1 || next.PrevHash != last.Hash {
		t.Errorf("append after copy: seq %d prev %q, want seq %d prev %q", next.Seq, next.PrevHash, last.Seq+1, last.Hash)
	}
	verifyChain(t, s)
}

// verifyChain recomputes every hash, the way `gatehouse audit verify` does.
func verifyChain(t *testing.T, s storage.Store) {
	t.Helper()
	prev := ""
	n := 0
	mustNil(t, "WalkAudit", s.WalkAudit(t.Context(), func(e storage.AuditEvent) error {
		h, err := storage.HashEvent(e)
		if err != nil {
			return err
		}
		if h != e.Hash {
			return fmt.Errorf("event %d: hash %s, recomputed %s", e.Seq, e.Hash, h)
		}
		if n > 0 && e.PrevHash != prev {
			return fmt.Errorf("event %d: prev_hash %s, previous event's hash %s", e.Seq, e.PrevHash, prev)
		}
		prev, n = e.Hash, n+1
		return nil
	}))
}

func testDumpRefusesNonEmpty(t *testing.T, src, dst storage.Dumper) {
	ctx := t.Context()
	populate(t, src.(storage.Store))
	mustNil(t, "CreateOrg in destination", dst.(storage.Store).CreateOrg(ctx, storage.Org{ID: "already-here", Name: "x", CreatedAt: t0}))
	_, err := storage.Copy(ctx, dst, src)
	wantErr(t, "Copy into a non-empty store", err, storage.ErrNotEmpty)
	orgs, err := dst.(storage.Store).ListOrgs(ctx)
	mustNil(t, "ListOrgs", err)
	if len(orgs) != 1 {
		t.Errorf("a refused import changed the destination: %d orgs", len(orgs))
	}
}

// testDumpRefusesPrunedLog: a store whose audit log was pruned to nothing
// still has a chain (its Seq has moved on), so it is not empty.
func testDumpRefusesPrunedLog(t *testing.T, src, dst storage.Dumper) {
	ctx := t.Context()
	populate(t, src.(storage.Store))
	s := dst.(storage.Store)
	_, err := s.AppendAudit(ctx, storage.AuditEvent{ID: "evt-old", Time: t0, Type: "org.create"})
	mustNil(t, "AppendAudit", err)
	_, err = s.PruneAudit(ctx, t0.Add(time.Hour))
	mustNil(t, "PruneAudit", err)
	_, err = storage.Copy(ctx, dst, src)
	wantErr(t, "Copy into a store with a pruned log", err, storage.ErrNotEmpty)
}

// testDumpFailedImport feeds records out of order: Import must refuse, and
// the store must not be left holding half of them.
func testDumpFailedImport(t *testing.T, dst storage.Dumper) {
	ctx := t.Context()
	boom := errors.New("source failed")
	err := dst.Import(ctx, func(put func(storage.Record) error) error {
		if err := put(storage.Record{Org: &storage.Org{ID: "o", Name: "O", CreatedAt: t0}}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("Import returned %v, want the source's error", err)
	}
	err = dst.Import(ctx, func(put func(storage.Record) error) error {
		if err := put(storage.Record{User: &storage.User{ID: "u", Email: "u@example.com"}}); err != nil {
			return err
		}
		return put(storage.Record{Org: &storage.Org{ID: "o2", Name: "O2", CreatedAt: t0}})
	})
	if err == nil {
		t.Error("Import accepted records out of export order")
	}
	orgs, err := dst.(storage.Store).ListOrgs(ctx)
	mustNil(t, "ListOrgs", err)
	if len(orgs) != 0 {
		t.Errorf("a failed import left %d orgs behind", len(orgs))
	}
}

// testDumpConsistent exports while sign-ins commit: every exported session
// must have its user in the same export (one snapshot, not a walk that
// sees later writes for some kinds and not for others).
func testDumpConsistent(t *testing.T, d storage.Dumper) {
	s := d.(storage.Store)
	fx := newFixture(t, s)
	ctx := t.Context()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			email := fmt.Sprintf("c%d@example.com", i)
			if _, err := s.SignIn(ctx, fx.write(email, fmt.Sprintf("s-c-%06d", i), t0)); err != nil {
				t.Errorf("SignIn: %v", err)
				return
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	for range 5 {
		users := map[string]bool{}
		var sessions []storage.Session
		mustNil(t, "Export", d.Export(ctx, func(r storage.Record) error {
			if r.User != nil {
				users[r.User.ID] = true
			}
			if r.Session != nil {
				sessions = append(sessions, *r.Session)
			}
			return nil
		}))
		for _, ss := range sessions {
			if !users[ss.UserID] {
				t.Fatalf("export holds session %s without its user %s", ss.ID, ss.UserID)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// RunCopyBetween copies a populated store of backend A into an empty one of
// backend B and back into a fresh A (what `gatehouse migrate` there and back
// does): the round trip must export exactly what the original did, and the
// audit chain must verify on B.
func RunCopyBetween(t *testing.T, openA, openB func(t *testing.T) storage.Store) {
	open := func(t *testing.T, f func(t *testing.T) storage.Store) storage.Dumper {
		s := f(t)
		t.Cleanup(func() { _ = s.Close() })
		return s.(storage.Dumper)
	}
	ctx := t.Context()
	a, b, back := open(t, openA), open(t, openB), open(t, openA)
	populate(t, a.(storage.Store))
	want := exportAll(t, a)
	if _, err := storage.Copy(ctx, b, a); err != nil {
		t.Fatalf("copy A to B: %v", err)
	}
	verifyChain(t, b.(storage.Store))
	if _, err := storage.Copy(ctx, back, b); err != nil {
		t.Fatalf("copy B back to A: %v", err)
	}
	got := exportAll(t, back)
	if len(got) != len(want) {
		t.Fatalf("the round trip exports %d records, the original %d", len(got), len(want))
	}
	for i := range want {
		equal(t, fmt.Sprintf("record %d (%s)", i, want[i].Kind()), got[i], want[i])
	}
}
