package app

import (
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestVerifySignatureAgreesWithGoJose: the direct RS256 check accepts
// exactly the tokens go-jose's verification accepts, over tampered
// signatures, payloads and headers, the wrong key, and a kid choosing a key.
func TestVerifySignatureAgreesWithGoJose(t *testing.T) {
	k1, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good, err := SignToken(k1, "k1", NewTokenClaims("acme", "t1", "alice@example.com", "admin", "Alice", now, 5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	other, err := SignToken(k2, "k2", NewTokenClaims("acme", "t1", "bob@example.com", "admin", "Bob", now, 5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	noKid, err := SignToken(k1, "", NewTokenClaims("acme", "t1", "carol@example.com", "admin", "Carol", now, 5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	h, p, sig, _ := cut3(good)
	h2, p2, sig2, _ := cut3(other)
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tokens := map[string]string{
		"valid":                   good,
		"valid, other key":        other,
		"valid, no kid":           noKid,
		"signature bit flipped":   h + "." + p + "." + flip(sig, 10),
		"last signature char":     h + "." + p + "." + flip(sig, len(sig)-2),
		"payload of another":      h + "." + p2 + "." + sig,
		"header of another":       h2 + "." + p + "." + sig,
		"signature of another":    h + "." + p + "." + sig2,
		"signature truncated":     h + "." + p + "." + sig[:len(sig)-4],
		"signature doubled":       h + "." + p + "." + sig + sig,
		"signature of 1 byte":     h + "." + p + ".AA",
		"only other key's header": h2 + "." + p2 + "." + sig,
	}
	keySets := map[string][]verifierKey{
		"k1 only":   {{kid: "k1", pub: &k1.PublicKey}},
		"k2 only":   {{kid: "k2", pub: &k2.PublicKey}},
		"both":      {{kid: "k2", pub: &k2.PublicKey}, {kid: "k1", pub: &k1.PublicKey}},
		"k1 as k2":  {{kid: "k2", pub: &k1.PublicKey}},
		"k2 as k1 ": {{kid: "k1", pub: &k2.PublicKey}},
	}
	accepted := 0
	for tname, tok := range tokens {
		parts, e := parseCompactJWS(tok)
		if e != nil {
			if !strings.Contains(tname, "truncated") && !strings.Contains(tname, "1 byte") && !strings.Contains(tname, "doubled") {
				t.Errorf("%s: refused before verification: %v", tname, e)
			}
			continue
		}
		for kname, keys := range keySets {
			_, got := verifySignature(parts, keys)
			want := false
			if jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256}); err == nil {
				for _, k := range keys {
					if parts.hasKid && k.kid != parts.kid {
						continue
					}
					if _, err := jws.Verify(k.pub); err == nil {
						want = true
					}
				}
			}
			if (got == nil) != want {
				t.Errorf("%s with keys %s: accepted %v, go-jose %v", tname, kname, got == nil, want)
			}
			if got == nil {
				accepted++
			}
		}
	}
	if accepted < 4 {
		t.Errorf("only %d accepted combinations: the test proves little", accepted)
	}
}
