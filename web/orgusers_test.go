package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"gatehouse/app"
	"gatehouse/storage"
	"gatehouse/storage/bolt"
	"gatehouse/storage/memory"
)

// TestSameEmailTwoOrganizations is issue 10 item 6 end to end over both
// backends: a partner of one organization signing an address in first must
// not lock another organization's user with that address out, nor learn
// anything about it (SPEC §1, §4.1 step 11).
func TestSameEmailTwoOrganizations(t *testing.T) {
	backends := map[string]func(t *testing.T) storage.Store{
		"memory": func(*testing.T) storage.Store { return memory.New() },
		"bolt": func(t *testing.T) storage.Store {
			s, err := bolt.Open(filepath.Join(t.TempDir(), "gatehouse.db"), bolt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) { testSameEmailTwoOrganizations(t, open(t)) })
	}
}

func testSameEmailTwoOrganizations(t *testing.T, store storage.Store) {
	ctx := context.Background()
	f := newFixtureWithStore(t, store)
	beta, _ := f.beta()
	_, keyB := keys(t)
	betaToken := func(email string) string {
		c := f.claims()
		c["organizationId"], c["tenantId"], c["email"] = "beta", "b1", email
		return signRaw(t, keyB, `{"alg":"RS256","typ":"JWT"}`, mustJSON(t, c))
	}
	acmeToken := func(email string) string {
		c := f.claims()
		c["email"] = email
		return f.token(c)
	}
	signIn := func(t *testing.T, token string) *http.Cookie {
		t.Helper()
		rec := f.signIn(token)
		if rec.Code != http.StatusFound {
			t.Fatalf("sign-in: %d %s", rec.Code, rec.Body)
		}
		c := sessionCookie(rec, f.srv.CookieName())
		if c == nil {
			t.Fatal("no session cookie")
		}
		return c
	}
	verify := func(t *testing.T, c *http.Cookie) http.Header {
		t.Helper()
		rec := f.withCookie(httptest.NewRequest(http.MethodGet, "/auth/verify", nil), c)
		if rec.Code != http.StatusOK {
			t.Fatalf("/auth/verify: %d %s", rec.Code, rec.Body)
		}
		return rec.Header()
	}

	// acme's partner claims alice@x.com first; beta's alice signs in anyway.
	acmeCookie := signIn(t, acmeToken("alice@x.com"))
	betaCookie := signIn(t, betaToken("alice@x.com"))
	acmeAlice, err := store.GetUserByEmail(ctx, "acme", "alice@x.com")
	if err != nil {
		t.Fatal(err)
	}
	betaAlice, err := store.GetUserByEmail(ctx, "beta", "alice@x.com")
	if err != nil {
		t.Fatal(err)
	}
	if acmeAlice.ID == betaAlice.ID || acmeAlice.OrgID != "acme" || betaAlice.OrgID != "beta" || betaAlice.PartnerID != beta.ID {
		t.Fatalf("want two users, got %+v and %+v", acmeAlice, betaAlice)
	}
	for _, tc := range []struct {
		cookie *http.Cookie
		user   storage.User
	}{{acmeCookie, acmeAlice}, {betaCookie, betaAlice}} {
		h := verify(t, tc.cookie)
		if h.Get("X-Gatehouse-User") != tc.user.ID || h.Get("X-Gatehouse-Org") != tc.user.OrgID || h.Get("X-Gatehouse-Email") != "alice@x.com" {
			t.Errorf("session of %s's alice resolves to user %q of %q", tc.user.OrgID, h.Get("X-Gatehouse-User"), h.Get("X-Gatehouse-Org"))
		}
	}

	// Each side keeps signing in as its own user, through either method.
	again := signIn(t, acmeToken("alice@x.com"))
	if got := verify(t, again).Get("X-Gatehouse-User"); got != acmeAlice.ID {
		t.Errorf("acme's repeat sign-in is user %q, want %q", got, acmeAlice.ID)
	}
	body := hmacBody(t, nextNonce(), func(b map[string]any) { b["tenantId"], b["email"] = "b1", "alice@x.com" })
	ts := f.now3339()
	rec := f.do(hmacRequest(beta.ConsumerKey, ts, app.SignHMAC(beta.ConsumerSecret, ts, beta.ConsumerKey, body), body))
	if rec.Code != http.StatusOK {
		t.Fatalf("beta HMAC step 1: %d %s", rec.Code, rec.Body)
	}
	login := f.hmacLogin(loginURLToken(t, rec))
	if login.Code != http.StatusFound {
		t.Fatalf("beta HMAC login: %d %s", login.Code, login.Body)
	}
	if got := verify(t, sessionCookie(login, f.srv.CookieName())).Get("X-Gatehouse-User"); got != betaAlice.ID {
		t.Errorf("beta's HMAC sign-in is user %q, want %q", got, betaAlice.ID)
	}
	for _, org := range []string{"acme", "beta"} {
		if n, err := store.CountUsers(ctx, org, ""); err != nil || n != 1 {
			t.Errorf("%s has %d users (%v), want 1", org, n, err)
		}
	}

	// A non-SSO user of acme does not make beta's sign-in of the address a
	// "non-Partner-SSO user" conflict.
	if _, err := f.svc.CreateUser(ctx, app.Operator, "acme", app.UserInput{Email: "staff@x.com", TenantID: "t1", Role: "admin"}); err != nil {
		t.Fatal(err)
	}
	signIn(t, betaToken("staff@x.com"))
	if rec := f.signIn(acmeToken("staff@x.com")); rec.Code != http.StatusBadRequest {
		t.Errorf("acme's own non-SSO user: %d %s, want 400", rec.Code, rec.Body)
	}

	// No probing: with beta pre-provisioning, an address acme knows gets the
	// same answer as one nobody knows.
	if _, err := f.svc.UpdatePartner(ctx, app.Operator, "beta", beta.ID, app.PartnerPatch{PartnerPolicies: app.PartnerPolicies{
		UserProvisioning: app.Val(app.ProvisioningPreProvision)}}); err != nil {
		t.Fatal(err)
	}
	signIn(t, acmeToken("known@x.com"))
	known := f.signIn(betaToken("known@x.com"))
	knownCode, knownMsg := decodeError(t, known)
	unknown := f.signIn(betaToken("nobody@x.com"))
	unknownCode, unknownMsg := decodeError(t, unknown)
	if known.Code != http.StatusForbidden || knownCode != app.CodeAccessDenied || known.Code != unknown.Code || knownCode != unknownCode || knownMsg != unknownMsg {
		t.Errorf("an address of acme: %d %s %q; an unknown one: %d %s %q", known.Code, knownCode, knownMsg, unknown.Code, unknownCode, unknownMsg)
	}

	// The admin API's uniqueness is per organization too.
	if _, err := f.svc.CreateUser(ctx, app.Operator, "beta", app.UserInput{Email: "known@x.com", TenantID: "b1", Role: "admin", PartnerSSO: true}); err != nil {
		t.Errorf("pre-provisioning acme's address in beta: %v", err)
	}
	if _, err := f.svc.CreateUser(ctx, app.Operator, "beta", app.UserInput{Email: "known@x.com", TenantID: "b1", Role: "admin", PartnerSSO: true}); app.ErrorCode(err) != app.CodeConflict {
		t.Errorf("the same address twice in beta: %v, want conflict", err)
	}
	signIn(t, betaToken("known@x.com"))
}
