//go:build ignore

// Partner-side sign-out and deprovisioning in Go, with
// github.com/go-jose/go-jose/v4: when a customer's employee leaves, the
// portal tells Gatehouse at once, server to server. "logout" ends every
// session of the user; "deprovision" also deletes the user (only one your
// partner provisioned).
//
//	Run it:  GATEHOUSE_URL=https://sso.example.com PARTNER_KEY=partner.key \
//	         ORG_ID=acme USER_EMAIL=ann@example.com ACTION=logout go run revoke.go
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// loadKey reads the partner's private key (PKCS#8 or PKCS#1 PEM).
func loadKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block in " + path)
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return rk, nil
}

// signRevokeToken signs the revoke claims. jti is required here: Gatehouse
// refuses a revoke token without one, and refuses it a second time.
func signRevokeToken(key *rsa.PrivateKey, orgID, email, action string) (string, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	now := time.Now().Unix()
	claims, err := json.Marshal(map[string]any{
		"organizationId": orgID,
		"email":          email,
		"action":         action, // "logout" or "deprovision"
		"iat":            now,
		"exp":            now + 60,
		"jti":            hex.EncodeToString(jti),
	})
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(claims)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// revokeAnswer is Gatehouse's 200 answer.
type revokeAnswer struct {
	Action          string `json:"action"`
	UserFound       bool   `json:"user_found"`
	SessionsRevoked int    `json:"sessions_revoked"`
}

// revoke posts the token to /sso/jwt/revoke.
func revoke(base, token string) (revokeAnswer, error) {
	form := url.Values{"token": {token}}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).PostForm(strings.TrimRight(base, "/")+"/sso/jwt/revoke", form)
	if err != nil {
		return revokeAnswer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return revokeAnswer{}, err
	}
	if resp.StatusCode != http.StatusOK {
		// {"code", "message", "request_id"}: quote the request_id to the operator.
		return revokeAnswer{}, fmt.Errorf("gatehouse answered %d: %s", resp.StatusCode, body)
	}
	var out revokeAnswer
	return out, json.Unmarshal(body, &out)
}

func main() {
	for _, k := range []string{"GATEHOUSE_URL", "PARTNER_KEY", "ORG_ID", "USER_EMAIL", "ACTION"} {
		if os.Getenv(k) == "" {
			log.Fatalf("set %s", k)
		}
	}
	key, err := loadKey(os.Getenv("PARTNER_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	token, err := signRevokeToken(key, os.Getenv("ORG_ID"), os.Getenv("USER_EMAIL"), os.Getenv("ACTION"))
	if err != nil {
		log.Fatal(err)
	}
	out, err := revoke(os.Getenv("GATEHOUSE_URL"), token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: user_found=%t sessions_revoked=%d\n", out.Action, out.UserFound, out.SessionsRevoked)
}
