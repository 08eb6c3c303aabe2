// Command gen writes storage/bolt/testdata/v1: a bbolt database exactly as a
// given Gatehouse release writes it, plus manifest.json naming what is in it
// (and the test-only secrets needed to use it), so the upgrade test can open
// that file with today's code and find everything again.
//
// It lives under testdata so `go build ./...` never compiles it: it is written
// against the release it captures (schema v1, commit 3193a2c, before users
// were scoped to their organization) and is not kept in step with later APIs.
// To regenerate the fixture, check out that release and run, from the module
// root:
//
//	go run ./storage/bolt/testdata/gen -out storage/bolt/testdata/v1
//
// Everything goes through app.Service, as the running server does: partner
// secrets are sealed by the key ring, users come from real JWT and HMAC
// sign-ins, and every change leaves its audit event.
package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"path/filepath"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"gatehouse/app"
	"gatehouse/storage/bolt"
)

// Manifest describes the fixture. Secrets in it are test-only.
type Manifest struct {
	Release       string          `json:"release"`
	SchemaVersion int             `json:"schema_version"`
	GeneratedAt   time.Time       `json:"generated_at"` // the injected clock every write used
	EncryptionKey string          `json:"encryption_key"`
	Partners      []PartnerRecord `json:"partners"`
	Users         []UserRecord    `json:"users"`
	Sessions      []SessionRecord `json:"sessions"`
	AdminTokens   []AdminRecord   `json:"admin_tokens"`
	AuditEvents   int             `json:"audit_events"`
}

type PartnerRecord struct {
	OrgID          string `json:"org_id"`
	ID             string `json:"id"`
	Name           string `json:"name"`
	ConsumerKey    string `json:"consumer_key"`
	ConsumerSecret string `json:"consumer_secret"` // current, after one rotation
	PreviousSecret string `json:"previous_secret"` // still valid within its grace period
	Kid            string `json:"kid"`
	PrivateKeyFile string `json:"private_key_file"`
}

type UserRecord struct {
	OrgID      string `json:"org_id"`
	Email      string `json:"email"`
	ID         string `json:"id"`
	TenantID   string `json:"tenant_id"`
	PartnerSSO bool   `json:"partner_sso"`
}

type SessionRecord struct {
	Token     string    `json:"token"`
	OrgID     string    `json:"org_id"`
	Email     string    `json:"email"`
	ExpiresAt time.Time `json:"expires_at"`
}

type AdminRecord struct {
	OrgID string `json:"org_id"`
	Token string `json:"token"`
}

func main() {
	out := flag.String("out", "storage/bolt/testdata/v1", "output directory")
	release := flag.String("release", "3193a2c", "commit of the release this binary was built from")
	flag.Parse()
	if err := run(*out, *release); err != nil {
		log.Fatal(err)
	}
}

func run(out, release string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	dbPath := filepath.Join(out, "gatehouse.db")
	if err := os.Remove(dbPath); err != nil && !os.IsNotExist(err) {
		return err
	}
	store, err := bolt.Open(dbPath, bolt.Options{})
	if err != nil {
		return err
	}
	defer store.Close()

	encKey := make([]byte, 32)
	if _, err := rand.Read(encKey); err != nil {
		return err
	}
	ring, err := app.NewKeyRing(map[int][]byte{1: encKey}, nil)
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	clock := func() time.Time { return now }
	cfg := app.Defaults()
	cfg.Server.PublicURL = "https://sso.example.test"
	svc, err := app.New(app.Options{Store: store, Config: cfg, KeyRing: ring, Now: clock})
	if err != nil {
		return err
	}
	m := &Manifest{Release: release, SchemaVersion: 1, GeneratedAt: now,
		EncryptionKey: base64.RawURLEncoding.EncodeToString(encKey)}
	ctx := context.Background()
	op := app.Operator

	for _, org := range []string{"acme", "globex"} {
		if _, err := svc.CreateOrg(ctx, op, app.OrgInput{ID: org, Name: org}); err != nil {
			return err
		}
		// The same tenant ID in both organizations, as SPEC §1 allows.
		for _, t := range []string{"t1", "t2"} {
			if _, err := svc.CreateTenant(ctx, op, org, app.TenantInput{ID: t, Name: org + " " + t,
				RedirectURL: "https://dash.example.test/" + org + "/" + t}); err != nil {
				return err
			}
		}
	}

	keys := map[string]*rsa.PrivateKey{}
	for _, org := range []string{"acme", "globex"} {
		p, err := svc.CreatePartner(ctx, op, org, app.PartnerInput{Name: "Portal"})
		if err != nil {
			return fmt.Errorf("partner %s: %w", org, err)
		}
		rot, err := svc.RotateSecret(ctx, op, org, p.ID, 7*24*time.Hour)
		if err != nil {
			return err
		}
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return err
		}
		der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			return err
		}
		kv, err := svc.AddKey(ctx, op, org, p.ID, app.KeyInput{
			PEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), Label: "fixture"})
		if err != nil {
			return err
		}
		keyFile := "partner-" + org + ".pem"
		priv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
		if err := os.WriteFile(filepath.Join(out, keyFile), priv, 0o644); err != nil {
			return err
		}
		keys[org] = k
		m.Partners = append(m.Partners, PartnerRecord{OrgID: org, ID: p.ID, Name: p.Name, ConsumerKey: p.ConsumerKey,
			ConsumerSecret: rot.ConsumerSecret, PreviousSecret: p.ConsumerSecret, Kid: kv.Kid, PrivateKeyFile: keyFile})

		at, err := svc.CreateAdminToken(ctx, op, org, app.AdminTokenInput{Role: "admin", Label: "fixture"})
		if err != nil {
			return err
		}
		m.AdminTokens = append(m.AdminTokens, AdminRecord{OrgID: org, Token: at.Token})
	}

	addSession := func(org string, res app.SignInResult) {
		m.Sessions = append(m.Sessions, SessionRecord{Token: res.SessionToken, OrgID: org, Email: res.User.Email, ExpiresAt: res.ExpiresAt})
		m.Users = appendUser(m.Users, UserRecord{OrgID: org, Email: res.User.Email, ID: res.User.ID, TenantID: res.User.TenantID, PartnerSSO: res.User.PartnerSSO})
	}

	// JWT sign-ins (each with a jti, so replay markers are in the file too).
	jwtUsers := []struct{ org, tenant, email string }{
		{"acme", "t1", "alice@x.test"}, {"acme", "t2", "bob@x.test"}, {"acme", "t1", "alice@x.test"},
		{"globex", "t1", "carol@y.test"}, {"globex", "t2", "Dan@Y.test"},
	}
	for i, u := range jwtUsers {
		tok, err := signJWT(keys[u.org], map[string]any{
			"organizationId": u.org, "tenantId": u.tenant, "role": "admin", "email": u.email, "name": u.email,
			"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "jti": fmt.Sprintf("fixture-jti-%d", i),
		})
		if err != nil {
			return err
		}
		res, err := svc.SignInJWT(ctx, app.JWTSignIn{Token: tok, ClientIP: "127.0.0.1", RequestID: fmt.Sprintf("req-jwt-%d", i)})
		if err != nil {
			return fmt.Errorf("jwt sign-in %s: %w", u.email, err)
		}
		addSession(u.org, res)
	}

	// An HMAC sign-in with the rotated secret: step 1 and step 2.
	pr := m.Partners[1]
	body, _ := json.Marshal(map[string]string{"tenantId": "t1", "email": "erin@y.test", "role": "readOnly",
		"name": "Erin", "nonce": "fixture-nonce-0000000001"})
	ts := now.Format(time.RFC3339)
	issued, err := svc.IssueHMACLoginToken(ctx, app.HMACTokenRequest{ConsumerKey: pr.ConsumerKey, Timestamp: ts,
		Signature: app.SignHMAC(pr.ConsumerSecret, ts, pr.ConsumerKey, body), Body: body, ClientIP: "127.0.0.1", RequestID: "req-hmac-1"})
	if err != nil {
		return fmt.Errorf("hmac step 1: %w", err)
	}
	lu, err := url.Parse(issued.LoginURL)
	if err != nil {
		return err
	}
	res, err := svc.CompleteHMACLogin(ctx, app.HMACLogin{Token: lu.Query().Get("token"), ClientIP: "127.0.0.1", RequestID: "req-hmac-2"})
	if err != nil {
		return fmt.Errorf("hmac step 2: %w", err)
	}
	addSession("globex", res)

	// Users an administrator created: a non-SSO user and a pre-provisioned one.
	for _, u := range []struct {
		org, email string
		sso        bool
	}{{"acme", "frank@x.test", false}, {"globex", "grace@y.test", true}} {
		in := app.UserInput{Email: u.email, TenantID: "t2", Role: "readOnly", PartnerSSO: u.sso}
		if u.sso {
			in.PartnerID = m.Partners[1].ID
		}
		v, err := svc.CreateUser(ctx, op, u.org, in)
		if err != nil {
			return fmt.Errorf("create user %s: %w", u.email, err)
		}
		m.Users = appendUser(m.Users, UserRecord{OrgID: u.org, Email: v.Email, ID: v.ID, TenantID: v.TenantID, PartnerSSO: v.PartnerSSO})
	}

	ver, err := svc.VerifyAudit(ctx, op)
	if err != nil {
		return err
	}
	m.AuditEvents = ver.Events
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "manifest.json"), append(mb, '\n'), 0o644)
}

// appendUser records each user once (a repeat sign-in is the same user).
func appendUser(list []UserRecord, u UserRecord) []UserRecord {
	for _, have := range list {
		if have.ID == u.ID {
			return list
		}
	}
	return append(list, u)
}

func signJWT(k *rsa.PrivateKey, claims map[string]any) (string, error) {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k}, nil)
	if err != nil {
		return "", err
	}
	return jwt.Signed(sig).Claims(claims).Serialize()
}
