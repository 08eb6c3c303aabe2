package storagetest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"gatehouse/storage"
)

// t0 anchors every timestamp in the suite so no assertion depends on the wall
// clock.
var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// farFuture is the expiry of replay markers written through SignIn where the
// test is not about expiry: it is live at every clock the suite uses
// (SignInWrite.Now judges expiry; see testSignInReplayNow for that rule).
var farFuture = time.Date(2126, 1, 1, 0, 0, 0, 0, time.UTC)

// errBoom is what update closures and provision functions fail with, to check
// that the store returns their error unchanged.
var errBoom = errors.New("storagetest: boom")

// Run runs the conformance suite. open must return a new, empty store each
// time it is called; Run closes it when the subtest that opened it ends.
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"Ping", testPing},
		{"Orgs", testOrgs},
		{"Tenants", testTenants},
		{"DeleteTenant", testDeleteTenant},
		{"UserNeedsTenant", testUserNeedsTenant},
		{"Partners", testPartners},
		{"UpdatePartner", testUpdatePartner},
		{"PartnerDeactivation", testPartnerDeactivation},
		{"DeletePartner", testDeletePartner},
		{"Keys", testKeys},
		{"SyncJWKSKeys", testSyncJWKSKeys},
		{"Users", testUsers},
		{"DeleteUser", testDeleteUser},
		{"ListUsers", testListUsers},
		{"UserPaging", testUserPaging},
		{"SignInCreatesUser", testSignInCreatesUser},
		{"SignInUpdatesUser", testSignInUpdatesUser},
		{"SignInOptionalParts", testSignInOptionalParts},
		{"SignInReplay", testSignInReplay},
		{"SignInProvisionError", testSignInProvisionError},
		{"SignInPartnerUsers", testSignInPartnerUsers},
		{"SignInConcurrent", testSignInConcurrent},
		{"SameEmailTwoOrgs", testSameEmailTwoOrgs},
		{"SignInOrgIsolation", testSignInOrgIsolation},
		{"SignInOrgMismatch", testSignInOrgMismatch},
		{"UserEmailRacePerOrg", testUserEmailRacePerOrg},
		{"SignInPartnerInactive", testSignInPartnerInactive},
		{"SignInDeactivationRace", testSignInDeactivationRace},
		{"SignInReplayNow", testSignInReplayNow},
		{"SignInDeletedKey", testSignInDeletedKey},
		{"CountPartnerUsers", testCountPartnerUsers},
		{"RevokeLogout", testRevokeLogout},
		{"RevokeDeprovision", testRevokeDeprovision},
		{"RevokeUnknownAndRefused", testRevokeUnknownAndRefused},
		{"SigningKeys", testSigningKeys},
		{"InvalidCursor", testInvalidCursor},
		{"Replays", testReplays},
		{"Sessions", testSessions},
		{"LoginTokens", testLoginTokens},
		{"LoginTokenRace", testLoginTokenRace},
		{"AdminTokens", testAdminTokens},
		{"AppendAudit", testAppendAudit},
		{"ListAudit", testListAudit},
		{"AuditPaging", testAuditPaging},
		{"WalkAudit", testWalkAudit},
		{"PruneAudit", testPruneAudit},
		{"Sweep", testSweep},
		{"Backup", testBackup},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

func testPing(t *testing.T, s storage.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testBackup(t *testing.T, s storage.Store) {
	ctx := t.Context()
	fx := newFixture(t, s)
	fx.signIn(t, "backup@example.com", "s-backup", t0)

	var buf bytes.Buffer
	n, err := s.Backup(ctx, &buf)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if n <= 0 {
		t.Errorf("Backup reported %d bytes, want > 0", n)
	}
	if n != int64(buf.Len()) {
		t.Errorf("Backup reported %d bytes, wrote %d", n, buf.Len())
	}
}

// mustNil stops the test on an unexpected error.
func mustNil(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantErr checks err against a sentinel; a nil want means success. Backends
// may wrap sentinels, hence errors.Is rather than ==.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Errorf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}

// equal compares through JSON because that is how records are specified
// (json tags, nil vs empty slices) and it ignores representation details a
// backend may legitimately change, such as monotonic clock readings or the
// numeric types inside AuditEvent.Details.
func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("%s: marshal got: %v", what, err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatalf("%s: marshal want: %v", what, err)
	}
	if !bytes.Equal(g, w) {
		t.Errorf("%s:\n got  %s\n want %s", what, g, w)
	}
}

// sorted returns a sorted copy, for lists whose order the contract leaves open.
func sorted[T any](items []T, key func(T) string) []T {
	out := slices.Clone(items)
	slices.SortFunc(out, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	return out
}

func orgID(o storage.Org) string               { return o.ID }
func tenantID(t storage.Tenant) string         { return t.ID }
func partnerID(p storage.Partner) string       { return p.ID }
func keyID(k storage.Key) string               { return k.Kid }
func adminTokenID(a storage.AdminToken) string { return a.ID }

func ptr[T any](v T) *T { return &v }
