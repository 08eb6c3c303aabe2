package bolt_test

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	bbolt "go.etcd.io/bbolt"

	"gatehouse/app"
	"gatehouse/storage"
	"gatehouse/storage/bolt"
)

// v1Manifest is testdata/v1/manifest.json (written by testdata/gen).
type v1Manifest struct {
	GeneratedAt   time.Time `json:"generated_at"`
	EncryptionKey string    `json:"encryption_key"`
	Partners      []struct {
		OrgID          string `json:"org_id"`
		ID, Name, Kid  string
		ConsumerKey    string `json:"consumer_key"`
		ConsumerSecret string `json:"consumer_secret"`
		PreviousSecret string `json:"previous_secret"`
		PrivateKeyFile string `json:"private_key_file"`
	} `json:"partners"`
	Users []struct {
		OrgID      string `json:"org_id"`
		Email      string `json:"email"`
		ID         string `json:"id"`
		TenantID   string `json:"tenant_id"`
		PartnerSSO bool   `json:"partner_sso"`
	} `json:"users"`
	Sessions []struct {
		Token     string    `json:"token"`
		OrgID     string    `json:"org_id"`
		Email     string    `json:"email"`
		ExpiresAt time.Time `json:"expires_at"`
	} `json:"sessions"`
	AdminTokens []struct {
		OrgID string `json:"org_id"`
		Token string `json:"token"`
	} `json:"admin_tokens"`
	AuditEvents int `json:"audit_events"`
}

func loadV1(t *testing.T) (v1Manifest, string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "v1", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m v1Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Users) == 0 || len(m.Sessions) == 0 || m.AuditEvents == 0 {
		t.Fatalf("manifest names nothing to check: %+v", m)
	}
	// Work on a copy: the fixture itself must stay a schema-1 file.
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	src, err := os.Open(filepath.Join("testdata", "v1", "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return m, path
}

// schemaOf reads the meta version and whether schema 1's global email index
// is still there, straight from the file.
func schemaOf(t *testing.T, path string) (uint64, bool) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v uint64
	var global bool
	_ = db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("meta")).Get([]byte("version"))
		for _, c := range b {
			v = v<<8 | uint64(c)
		}
		global = tx.Bucket([]byte("user_emails")) != nil
		return nil
	})
	return v, global
}

// TestUpgradeFromV1 opens a copy of a database the previous release wrote
// and finds everything in it again: every user by its email in its
// organization, every session valid, the sealed partner secrets and keys
// working, the replay markers still refusing, and the audit chain intact and
// still growing. The service's clock is the fixture's own (a minute after it
// was written), so the test passes on any date.
func TestUpgradeFromV1(t *testing.T) {
	m, path := loadV1(t)
	if v, global := schemaOf(t, path); v != 1 || !global {
		t.Fatalf("fixture is schema %d (global email index %v), want a schema-1 file", v, global)
	}
	store, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("open a schema-1 database: %v", err)
	}
	ctx := context.Background()

	for _, u := range m.Users {
		got, err := store.GetUserByEmail(ctx, u.OrgID, u.Email)
		if err != nil {
			t.Errorf("user %s of %s: %v", u.Email, u.OrgID, err)
			continue
		}
		if got.ID != u.ID || got.OrgID != u.OrgID || got.TenantID != u.TenantID || got.PartnerSSO != u.PartnerSSO {
			t.Errorf("user %s of %s is %+v, want %+v", u.Email, u.OrgID, got, u)
		}
		for _, other := range []string{"acme", "globex"} {
			if other == u.OrgID {
				continue
			}
			if _, err := store.GetUserByEmail(ctx, other, u.Email); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("%s of %s is found in %s: %v", u.Email, u.OrgID, other, err)
			}
		}
	}
	perOrg := map[string]int{}
	for _, u := range m.Users {
		perOrg[u.OrgID]++
	}
	for org, want := range perOrg {
		if n, err := store.CountUsers(ctx, org, ""); err != nil || n != want {
			t.Errorf("CountUsers(%s) = %d, %v; want %d", org, n, err, want)
		}
		listed, _, err := store.ListUsers(ctx, storage.UserQuery{OrgID: org})
		if err != nil || len(listed) != want {
			t.Errorf("ListUsers(%s) = %d users, %v; want %d", org, len(listed), err, want)
		}
	}

	encKey, err := base64.RawURLEncoding.DecodeString(m.EncryptionKey)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := app.NewKeyRing(map[int][]byte{1: encKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := m.GeneratedAt.Add(time.Minute)
	cfg := app.Defaults()
	cfg.Server.PublicURL = "https://sso.example.test"
	svc, err := app.New(app.Options{Store: store, Config: cfg, KeyRing: ring, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}

	for _, sess := range m.Sessions {
		id, err := svc.Authenticate(ctx, sess.Token)
		if err != nil {
			t.Errorf("session of %s in %s: %v", sess.Email, sess.OrgID, err)
			continue
		}
		if id.User.Email != sess.Email || id.User.OrgID != sess.OrgID {
			t.Errorf("session of %s in %s resolves to %s in %s", sess.Email, sess.OrgID, id.User.Email, id.User.OrgID)
		}
	}
	for _, at := range m.AdminTokens {
		actor, err := svc.AuthenticateAdminToken(ctx, "Bearer "+at.Token)
		if err != nil || actor.OrgID != at.OrgID {
			t.Errorf("admin token of %s: %+v, %v", at.OrgID, actor, err)
		}
	}
	v, err := app.VerifyAuditChain(ctx, store)
	if err != nil || !v.OK || v.Events != m.AuditEvents {
		t.Fatalf("audit chain after the upgrade: %+v, %v; want ok with %d events", v, err, m.AuditEvents)
	}

	// The partners still work: JWT with their keys, HMAC with the sealed
	// current and previous secrets.
	acme, globex := m.Partners[0], m.Partners[1]
	if acme.OrgID != "acme" || globex.OrgID != "globex" {
		t.Fatalf("manifest partners %+v", m.Partners)
	}
	sign := func(keyFile string, claims map[string]any) string {
		t.Helper()
		raw, err := os.ReadFile(filepath.Join("testdata", "v1", keyFile))
		if err != nil {
			t.Fatal(err)
		}
		k, err := app.LoadPrivateKeyPEM(raw)
		if err != nil {
			t.Fatal(err)
		}
		return signJWT(t, k, claims)
	}
	claims := func(org, tenant, email, jti string) map[string]any {
		return map[string]any{"organizationId": org, "tenantId": tenant, "role": "admin", "email": email,
			"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "jti": jti}
	}
	acmeAlice := m.Users[0]
	if acmeAlice.OrgID != "acme" || acmeAlice.Email != "alice@x.test" {
		t.Fatalf("manifest's first user is %+v", acmeAlice)
	}
	res, err := svc.SignInJWT(ctx, app.JWTSignIn{Token: sign(acme.PrivateKeyFile, claims("acme", "t1", "alice@x.test", "after-upgrade-1"))})
	if err != nil || res.User.ID != acmeAlice.ID {
		t.Fatalf("acme's alice after the upgrade: %+v, %v; want user %s", res.User, err, acmeAlice.ID)
	}
	// globex signs in acme's address: a new, separate user (schema 1 refused this).
	res, err = svc.SignInJWT(ctx, app.JWTSignIn{Token: sign(globex.PrivateKeyFile, claims("globex", "t1", "alice@x.test", "after-upgrade-2"))})
	if err != nil || res.User.OrgID != "globex" || res.User.ID == acmeAlice.ID {
		t.Fatalf("globex's alice after the upgrade: %+v, %v", res.User, err)
	}
	// The replay markers the old release wrote still refuse their jti.
	_, err = svc.SignInJWT(ctx, app.JWTSignIn{Token: sign(acme.PrivateKeyFile, claims("acme", "t1", "alice@x.test", "fixture-jti-0"))})
	if app.ErrorCode(err) != app.CodeInvalidToken {
		t.Errorf("replayed fixture jti: %v, want %s", err, app.CodeInvalidToken)
	}
	for i, secret := range []string{acme.ConsumerSecret, acme.PreviousSecret} {
		body := fmt.Appendf(nil, `{"tenantId":"t2","email":"hmac%d@x.test","role":"readOnly","nonce":"after-upgrade-nonce-%04d"}`, i, i)
		ts := now.Format(time.RFC3339)
		issued, err := svc.IssueHMACLoginToken(ctx, app.HMACTokenRequest{ConsumerKey: acme.ConsumerKey, Timestamp: ts,
			Signature: app.SignHMAC(secret, ts, acme.ConsumerKey, body), Body: body, ClientIP: "127.0.0.1"})
		if err != nil {
			t.Fatalf("HMAC step 1 with sealed secret %d: %v", i, err)
		}
		u, err := url.Parse(issued.LoginURL)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CompleteHMACLogin(ctx, app.HMACLogin{Token: u.Query().Get("token"), ClientIP: "127.0.0.1"}); err != nil {
			t.Fatalf("HMAC step 2: %v", err)
		}
	}
	v, err = app.VerifyAuditChain(ctx, store)
	if err != nil || !v.OK || v.Events <= m.AuditEvents {
		t.Errorf("audit chain after new sign-ins: %+v, %v", v, err)
	}
	if err := store.Check(); err != nil {
		t.Error(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if v, global := schemaOf(t, path); v != 3 || global {
		t.Errorf("after the upgrade: schema %d, global email index %v; want 3 (the newest) without it", v, global)
	}

	// Opening again is a no-op: same users, nothing migrated twice.
	again, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	for _, u := range m.Users {
		if got, err := again.GetUserByEmail(ctx, u.OrgID, u.Email); err != nil || got.ID != u.ID {
			t.Errorf("reopened: %s of %s = %q, %v", u.Email, u.OrgID, got.ID, err)
		}
	}
}

func signJWT(t *testing.T, k *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
