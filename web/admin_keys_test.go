package web

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/app"
	"gatehouse/storage"
	"gatehouse/storage/bolt"
)

func freshKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyBody(t *testing.T, k *rsa.PrivateKey, kid string) string {
	b, _ := json.Marshal(map[string]string{"pem": pubPEM(t, k), "kid": kid})
	return string(b)
}

// TestKeyKidAlphabet: a given kid is 1–128 of A–Z a–z 0–9 . _ ~ -, so every
// key can be addressed, and deleted, by its URL path; anything else is a
// validation_error naming kid, and nothing is stored.
func TestKeyKidAlphabet(t *testing.T) {
	f := newFixture(t)
	path := "/api/v1/orgs/acme/partners/" + f.partner.ID + "/keys"
	_, b := keys(t)
	for _, kid := range []string{"a/b", "../a", "a b", "a%2Fb", "a?b", "a#b", "ключ", "a\\b", "a\x00b", ".", "..", "a:b", "a+b", strings.Repeat("k", 129)} {
		code, e := f.admin(t, "POST", path, keyBody(t, b, kid))
		if code != 400 || e["code"] != app.CodeValidation || !strings.HasPrefix(e["message"].(string), "kid") {
			t.Errorf("kid %q: %d %v", kid, code, e)
		}
	}
	if ks, _ := f.store.ListKeys(context.Background(), "acme", ""); len(ks) != 1 {
		t.Fatalf("refused kids stored keys: %d keys", len(ks))
	}
	long := strings.Repeat("Az09._~-", 16) // 128 characters
	for _, kid := range []string{"Key-1.v2_~", long} {
		code, k := f.admin(t, "POST", path, keyBody(t, freshKey(t), kid))
		if code != 201 || k["kid"] != kid {
			t.Fatalf("kid %q: %d %v", kid, code, k)
		}
		if code, e := f.admin(t, "DELETE", path+"/"+kid, ""); code != 204 {
			t.Fatalf("delete %q by its path: %d %v", kid, code, e)
		}
	}
}

// TestKeyOnePublicKeyOneOwner: the same public key twice in one
// organization is a conflict whichever partner and kid it comes with; in
// another organization it is a key of its own.
func TestKeyOnePublicKeyOneOwner(t *testing.T) {
	f := newFixture(t)
	a, _ := keys(t)
	own := "/api/v1/orgs/acme/partners/" + f.partner.ID + "/keys"
	code, other := f.admin(t, "POST", "/api/v1/orgs/acme/partners", `{"name":"Other portal"}`)
	if code != 201 {
		t.Fatalf("%d %v", code, other)
	}
	otherPath := "/api/v1/orgs/acme/partners/" + other["id"].(string) + "/keys"
	// key A is the fixture partner's already (kid f.kid).
	for name, c := range map[string]struct{ path, kid string }{
		"same partner, new kid":     {own, "second-name"},
		"same partner, default kid": {own, ""},
		"other partner, new kid":    {otherPath, "stolen"},
		"other partner, default":    {otherPath, ""},
	} {
		code, e := f.admin(t, "POST", c.path, keyBody(t, a, c.kid))
		if code != 409 || e["code"] != app.CodeConflict {
			t.Errorf("%s: %d %v", name, code, e)
		}
	}
	pkcs1 := string(pemBlock("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&a.PublicKey)))
	body, _ := json.Marshal(map[string]string{"pem": pkcs1, "kid": "same-key-as-pkcs1"})
	if code, e := f.admin(t, "POST", otherPath, string(body)); code != 409 || e["code"] != app.CodeConflict {
		t.Errorf("the same key in PKCS#1 form: %d %v", code, e)
	}
	if ks, _ := f.store.ListKeys(context.Background(), "acme", ""); len(ks) != 1 {
		t.Fatalf("%d keys in acme, want 1", len(ks))
	}
	betaPartner, _ := f.beta()
	if code, k := f.admin(t, "POST", "/api/v1/orgs/beta/partners/"+betaPartner.ID+"/keys", keyBody(t, a, "")); code != 201 {
		t.Fatalf("the same key in another organization: %d %v", code, k)
	}
}

// TestKeyWithSlashKidStillDeletable: a bbolt file written before the kid
// alphabet may hold a kid with "/"; the admin API addresses it with an
// escaped path (the client escapes every segment) and deletes it.
func TestKeyWithSlashKidStillDeletable(t *testing.T) {
	store, err := bolt.Open(filepath.Join(t.TempDir(), "gatehouse.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureWithStore(t, store)
	ctx := context.Background()
	pk, err := app.ParsePublicKeyPEM(pubPEM(t, freshKey(t)))
	if err != nil {
		t.Fatal(err)
	}
	legacy := storage.Key{Kid: "team/2024/signing", OrgID: "acme", PartnerID: f.partner.ID, Fingerprint: pk.Fingerprint, Bits: pk.Bits, DER: pk.DER}
	if err := store.CreateKey(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/orgs/acme/partners/" + f.partner.ID + "/keys/"
	if code, _ := f.admin(t, "DELETE", path+"team/2024/signing", ""); code != 404 {
		t.Errorf("the unescaped path must not reach the key: %d", code)
	}
	if code, e := f.admin(t, "DELETE", path+"team%2F2024%2Fsigning", ""); code != 204 {
		t.Fatalf("DELETE by the escaped path: %d %v", code, e)
	}
	if _, err := store.GetKey(ctx, "acme", legacy.Kid); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the key is still there: %v", err)
	}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
