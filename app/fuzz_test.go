package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for the parsers that read attacker-controlled bytes. Run one
// with, e.g. `go test -run='^$' -fuzz=FuzzParseHMACBody -fuzztime=1m ./app`.
// Seeds live in testdata/fuzz/<Target>.

// FuzzParseHMACBody: the signed HMAC body never panics the parser, and what
// it accepts satisfies every rule of SPEC §4.3.
func FuzzParseHMACBody(f *testing.F) {
	f.Add([]byte(`{"tenantId":"t1","email":"alice@example.com","role":"admin","name":"Alice","nonce":"0123456789abcdef"}`))
	f.Add([]byte(`{"tenantId":"t1","email":" ALICE@Example.com ","role":"readOnly","nonce":"0123456789abcdef","return_to":"https://a.example/"}`))
	f.Add([]byte(`{"tenantId":"t1","tenantId":"t2","email":"a@b.co","role":"admin","nonce":"0123456789abcdef"}`))
	f.Add([]byte(`{"tenantId":null,"email":1,"role":["admin"],"nonce":{}}`))
	f.Add([]byte(`{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`))
	f.Add([]byte(`{"tenantId":"t1","email":"а@example.com","role":"admin","nonce":"0123456789abcdef"}`))
	f.Add([]byte("\xef\xbb\xbf{}"))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := parseHMACBody(raw)
		if err != nil {
			if ErrorCode(err) != CodeValidation {
				t.Fatalf("error %v is not a validation_error", err)
			}
			return
		}
		if !ValidID(b.TenantID) || !ValidRole(b.Role) || !validNonce(b.Nonce) || len(b.Nonce) < 16 || len(b.Nonce) > 128 {
			t.Fatalf("accepted an invalid body: %+v", b)
		}
		if _, ok := NormalizeEmail(b.Email); !ok {
			t.Fatalf("accepted an invalid email %q", b.Email)
		}
		if hasControl(b.Name) || len(b.ReturnTo) > 2048 {
			t.Fatalf("accepted name %q / return_to of %d bytes", b.Name, len(b.ReturnTo))
		}
		var generic map[string]json.RawMessage
		if json.Unmarshal(raw, &generic) != nil {
			t.Fatalf("accepted a body encoding/json refuses: %q", raw)
		}
	})
}

// FuzzParsePublicKeyPEM: the key upload never panics, and accepts only one
// RSA public key of 2048–8192 bits.
func FuzzParsePublicKeyPEM(f *testing.F) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	f.Add(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})))
	f.Add(string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)})))
	f.Add(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})) + "\n-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
	priv, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	f.Add(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv})))
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	f.Add(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER})))
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallDER, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	f.Add(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: smallDER})))
	f.Add("-----BEGIN PUBLIC KEY-----\n\n-----END PUBLIC KEY-----")
	f.Add("not a key")
	f.Fuzz(func(t *testing.T, text string) {
		k, err := ParsePublicKeyPEM(text)
		if err != nil {
			if k != nil {
				t.Fatal("a key with an error")
			}
			return
		}
		if k.Public == nil || k.Bits < minKeyBits || k.Bits > maxKeyBits || k.Public.N.BitLen() != k.Bits {
			t.Fatalf("accepted %d bits", k.Bits)
		}
		if k.Thumbprint == "" || !strings.HasPrefix(k.Fingerprint, "SHA256:") || len(k.DER) == 0 {
			t.Fatalf("incomplete key %+v", k)
		}
		if strings.Contains(text, "PRIVATE") && !strings.Contains(text, "PUBLIC KEY-----") {
			t.Fatal("accepted a private key")
		}
	})
}

// FuzzParseCompactJWS: the token parser never panics, and whatever passes
// steps 2–3 is an RS256 header without crit/enc over two JSON objects.
func FuzzParseCompactJWS(f *testing.F) {
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJvcmdhbml6YXRpb25JZCI6ImFjbWUifQ.c2ln")
	f.Add("eyJhbGciOiJub25lIn0.eyJvcmdhbml6YXRpb25JZCI6ImFjbWUifQ.")
	f.Add("a.b.c.d.e")
	f.Add(`{"payload":"x","signatures":[]}`)
	f.Add(strings.Repeat(".", 1000))
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJvcmdhbml6YXRpb25JZCI6ImFjbWUifQ.c2ln\n")
	f.Fuzz(func(t *testing.T, token string) {
		parts, e := parseCompactJWS(token)
		if e != nil {
			if e.Code != CodeInvalidToken {
				t.Fatalf("code %s", e.Code)
			}
			return
		}
		var alg string
		if json.Unmarshal(parts.header["alg"], &alg) != nil || alg != "RS256" {
			t.Fatalf("accepted alg %s", parts.header["alg"])
		}
		for _, h := range []string{"crit", "enc"} {
			if _, ok := parts.header[h]; ok {
				t.Fatalf("accepted a %s header", h)
			}
		}
		if !isCompactAlphabet(token) || strings.Count(token, ".") != 2 {
			t.Fatalf("accepted %q", token)
		}
		if _, err := unverifiedOrgID(parts.payload); err == nil && parts.payload == nil {
			t.Fatal("nil payload")
		}
	})
}

// FuzzParseRFC3339: the X-Timestamp parser never panics, takes nothing
// longer than the grammar allows, and whatever it takes (but a leap second)
// time.Parse reads as the same instant: it is a strict subset of it.
func FuzzParseRFC3339(f *testing.F) {
	for _, s := range []string{"2026-11-22T10:00:00Z", "2026-11-22t10:00:00.123456789+23:59", "2026-11-22T10:00:00,5Z",
		"2026-11-22T10:00:00+24:00", "2016-12-31T23:59:60Z", "9999-12-31T23:59:59Z", "2026-02-29T00:00:00Z", "2026-1-2T3:4:5Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseRFC3339(s)
		if !ok {
			return
		}
		if len(s) > 35 || strings.ContainsAny(s, ", ") {
			t.Fatalf("accepted %q", s)
		}
		if s[17:19] == "60" {
			return
		}
		want, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s)) // time.Parse wants T and Z in upper case
		if err != nil || !want.Equal(got) {
			t.Fatalf("%q: parsed %v, time.Parse says %v %v", s, got, want, err)
		}
	})
}
