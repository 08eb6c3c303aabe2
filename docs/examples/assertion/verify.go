//go:build ignore

// How a tenant dashboard behind forward-auth verifies X-Gatehouse-Assertion,
// in Go with github.com/go-jose/go-jose/v4. Trust the identity in the
// assertion, never bare X-Gatehouse-* headers: a misconfigured proxy may let
// a client send those.
//
//	Run it:  JWKS_URL=https://sso.example.com/.well-known/jwks.json ISSUER=https://sso.example.com \
//	         AUDIENCE=https://dash.example.com ASSERTION=eyJ... go run verify.go
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Identity is what the assertion says about the person.
type Identity struct {
	Sub    string `json:"sub"`
	Email  string `json:"email"`
	Name   string `json:"name"`
	Org    string `json:"org"`
	Tenant string `json:"tenant"`
	Role   string `json:"role"` // "admin" or "readOnly"
	SID    string `json:"sid"`  // stable per session: key your own session state on it
}

// KeySet fetches Gatehouse's JWKS, and again when an assertion names a kid
// it does not know yet (after a key rotation), at most every minInterval.
type KeySet struct {
	URL         string
	minInterval time.Duration
	mu          sync.Mutex
	set         jose.JSONWebKeySet
	fetched     time.Time
}

func (k *KeySet) key(kid string) (any, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if keys := k.set.Key(kid); len(keys) == 1 {
		return keys[0].Key, nil
	}
	if time.Since(k.fetched) < k.minInterval {
		return nil, fmt.Errorf("unknown kid %q", kid)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(k.URL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks: %s", resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&set); err != nil {
		return nil, err
	}
	k.set, k.fetched = set, time.Now()
	if keys := k.set.Key(kid); len(keys) == 1 {
		return keys[0].Key, nil
	}
	return nil, fmt.Errorf("unknown kid %q", kid)
}

// Verify checks the signature (ES256 only, the key named by kid), the issuer,
// exp/iat with a small leeway and, when the proxy asked with ?aud=, the audience.
func Verify(keys *KeySet, token, issuer, audience string) (Identity, error) {
	var id Identity
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return id, err
	}
	if len(parsed.Headers) != 1 || parsed.Headers[0].KeyID == "" {
		return id, errors.New("assertion without a kid")
	}
	key, err := keys.key(parsed.Headers[0].KeyID)
	if err != nil {
		return id, err
	}
	var std jwt.Claims
	if err := parsed.Claims(key, &std, &id); err != nil {
		return id, err
	}
	want := jwt.Expected{Issuer: issuer, Time: time.Now()}
	if audience != "" {
		want.AnyAudience = jwt.Audience{audience}
	}
	if err := std.ValidateWithLeeway(want, 30*time.Second); err != nil {
		return id, err
	}
	return id, nil
}

// Middleware refuses a request whose assertion does not verify, and hands
// the identity to next.
func Middleware(keys *KeySet, issuer, audience string, next func(http.ResponseWriter, *http.Request, Identity)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := Verify(keys, r.Header.Get("X-Gatehouse-Assertion"), issuer, audience)
		if err != nil {
			http.Error(w, "not signed in", http.StatusUnauthorized)
			return
		}
		next(w, r, id)
	})
}

func main() {
	for _, k := range []string{"JWKS_URL", "ISSUER", "ASSERTION"} {
		if os.Getenv(k) == "" {
			log.Fatalf("set %s", k)
		}
	}
	keys := &KeySet{URL: os.Getenv("JWKS_URL"), minInterval: 30 * time.Second}
	id, err := Verify(keys, os.Getenv("ASSERTION"), os.Getenv("ISSUER"), os.Getenv("AUDIENCE"))
	if err != nil {
		log.Fatalf("assertion refused: %v", err)
	}
	fmt.Printf("verified: %s %s %s/%s\n", id.Email, id.Role, id.Org, id.Tenant)
}
