package web

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"hash"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"gatehouse/app"
	"gatehouse/storage"
)

// Helpers the attack suite, the session tests and the fuzz targets share:
// they craft tokens and requests no well-behaved partner would send.

var (
	ecKeyOnce sync.Once
	ecKey     *ecdsa.PrivateKey
)

func testECKey() *ecdsa.PrivateKey {
	ecKeyOnce.Do(func() {
		var err error
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
	return ecKey
}

// signAlg signs header.payload with the named algorithm and key material,
// the way an attacker's library would (a real signature, not garbage).
func signAlg(t testing.TB, alg string, key any, header, payload string) string {
	t.Helper()
	input := b64([]byte(header)) + "." + b64([]byte(payload))
	var sig []byte
	var err error
	digest := func(h crypto.Hash) []byte {
		w := h.New()
		w.Write([]byte(input))
		return w.Sum(nil)
	}
	switch alg {
	case "RS256", "RS384", "RS512":
		h := map[string]crypto.Hash{"RS256": crypto.SHA256, "RS384": crypto.SHA384, "RS512": crypto.SHA512}[alg]
		sig, err = rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), h, digest(h))
	case "PS256":
		sig, err = rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, digest(crypto.SHA256), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case "ES256":
		r, s, e := ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), digest(crypto.SHA256))
		err = e
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case "HS256", "HS384", "HS512":
		nh := map[string]func() hash.Hash{"HS256": sha256.New, "HS384": sha512.New384, "HS512": sha512.New}[alg]
		m := hmac.New(nh, key.([]byte))
		m.Write([]byte(input))
		sig = m.Sum(nil)
	default:
		t.Fatalf("signAlg: unknown alg %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(sig)
}

func pubDER(t testing.TB, k *rsa.PrivateKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func pubJWK(t testing.TB, k *rsa.PrivateKey, kid string) string {
	b, err := (&jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// selfSignedDER is a certificate for k, to stuff into an x5c header.
func selfSignedDER(t testing.TB, k *rsa.PrivateKey) []byte {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "attacker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func mustJSON(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// claimsJSON is f.claims() with mut applied, as JSON.
func (f *fixture) claimsJSON(mut func(map[string]any)) string {
	c := f.claims()
	if mut != nil {
		mut(c)
	}
	return mustJSON(f.t, c)
}

func formRequest(body string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/sso/jwt", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

func tokenRequest(token string) *http.Request {
	return formRequest(url.Values{"token": {token}}.Encode())
}

// hmacRequest is POST /sso/hmac/token with the three headers.
func hmacRequest(ck, ts, sig string, body []byte) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/sso/hmac/token", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	if ck != "" {
		req.Header.Set("X-Consumer-Key", ck)
	}
	if ts != "" {
		req.Header.Set("X-Timestamp", ts)
	}
	if sig != "" {
		req.Header.Set("X-Signature", sig)
	}
	return req
}

// hmacBody is a valid signed body for alice in t1; mut may change it.
func hmacBody(t testing.TB, nonce string, mut func(map[string]any)) []byte {
	b := map[string]any{"tenantId": "t1", "email": "alice@example.com", "role": "admin", "name": "Alice", "nonce": nonce}
	if mut != nil {
		mut(b)
	}
	return []byte(mustJSON(t, b))
}

func (f *fixture) now3339() string { return f.clock.Now().UTC().Format(time.RFC3339) }

// signedHMAC is a correctly signed HMAC token request for the fixture's partner.
func (f *fixture) signedHMAC(nonce string, mut func(map[string]any)) *http.Request {
	body := hmacBody(f.t, nonce, mut)
	ts := f.now3339()
	return hmacRequest(f.partner.ConsumerKey, ts, app.SignHMAC(f.partner.ConsumerSecret, ts, f.partner.ConsumerKey, body), body)
}

// auditEvents is every audit event in the store, oldest first.
func (f *fixture) auditEvents() []storage.AuditEvent {
	var out []storage.AuditEvent
	if err := f.store.WalkAudit(context.Background(), func(e storage.AuditEvent) error {
		out = append(out, e)
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// beta adds a second organization "beta" with tenant "b1" and a partner
// whose key is key B; it returns that partner and the key's kid.
func (f *fixture) beta() (app.PartnerView, string) {
	ctx := context.Background()
	_, keyB := keys(f.t)
	var p app.PartnerView
	var kid string
	must(f.t, func() error {
		if _, err := f.svc.CreateOrg(ctx, app.Operator, app.OrgInput{ID: "beta", Name: "Beta"}); err != nil {
			return err
		}
		if _, err := f.svc.CreateTenant(ctx, app.Operator, "beta", app.TenantInput{ID: "b1", Name: "B One", RedirectURL: "https://b.example.test/"}); err != nil {
			return err
		}
		var err error
		if p, err = f.svc.CreatePartner(ctx, app.Operator, "beta", app.PartnerInput{Name: "BetaPortal"}); err != nil {
			return err
		}
		k, err := f.svc.AddKey(ctx, app.Operator, "beta", p.ID, app.KeyInput{PEM: pubPEM(f.t, keyB)})
		kid = k.Kid
		return err
	})
	return p, kid
}

// setPolicies applies policies to the fixture's partner.
func (f *fixture) setPolicies(p app.PartnerPolicies) {
	must(f.t, func() error {
		_, err := f.svc.UpdatePartner(context.Background(), app.Operator, "acme", f.partner.ID, app.PartnerPatch{PartnerPolicies: p})
		return err
	})
}

// keySource is a listener an attacker points jku/x5u at. It serves a JWKS
// holding key B, so a verifier that fetched it would accept B's tokens, and
// counts every request it gets.
type keySource struct {
	*httptest.Server
	hits atomic.Int64
}

func newKeySource(t testing.TB) *keySource {
	_, keyB := keys(t)
	ks := &keySource{}
	jwks := `{"keys":[` + pubJWK(t, keyB, "attacker") + `]}`
	ks.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(jwks))
	}))
	t.Cleanup(ks.Close)
	return ks
}

// b64std re-encodes a base64url segment in the standard alphabet with padding.
func b64std(seg string) string {
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(raw)
}
