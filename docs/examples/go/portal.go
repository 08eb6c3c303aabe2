//go:build ignore

// A partner portal's side of Gatehouse sign-in, in Go with
// github.com/go-jose/go-jose/v4 (go get github.com/go-jose/go-jose/v4).
//
// signSignInToken makes the short-lived RS256 token; signInPage is the HTML
// your portal sends to the person's browser: it posts the token to Gatehouse
// at once, and Gatehouse answers with a 302 to the tenant dashboard.
//
//	Run it:  GATEHOUSE_URL=https://sso.example.com PARTNER_KEY=partner.key \
//	         ORG_ID=acme TENANT_ID=t1 USER_EMAIL=ann@example.com USER_ROLE=readOnly \
//	         go run portal.go > page.html
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
	"html/template"
	"io"
	"log"
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

// Claims are what Gatehouse requires (names are case-sensitive).
type Claims struct {
	OrganizationID string `json:"organizationId"`
	TenantID       string `json:"tenantId"`
	Email          string `json:"email"`
	Role           string `json:"role"` // "admin" or "readOnly"
	Name           string `json:"name,omitempty"`
	IssuedAt       int64  `json:"iat"`
	Expiry         int64  `json:"exp"`
	ID             string `json:"jti"` // lets Gatehouse refuse a replayed token
}

// signSignInToken signs c with RS256; kid is optional (Gatehouse then tries only that key).
func signSignInToken(key *rsa.PrivateKey, kid string, c Claims) (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

var page = template.Must(template.New("sso").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signing you in…</title></head>
<body>
<form id="sso" method="post" action="{{.Action}}">
<input type="hidden" name="token" value="{{.Token}}">
{{- if .ReturnTo}}
<input type="hidden" name="return_to" value="{{.ReturnTo}}">{{end}}
<noscript><button type="submit">Continue to the dashboard</button></noscript>
</form>
<script>document.getElementById("sso").submit();</script>
</body></html>
`))

// signInPage writes the auto-submitting form. returnTo is optional and must
// start with one of the tenant's allowed_return_urls.
func signInPage(w io.Writer, gatehouseURL, token, returnTo string) error {
	return page.Execute(w, map[string]string{
		"Action": strings.TrimRight(gatehouseURL, "/") + "/sso/jwt", "Token": token, "ReturnTo": returnTo,
	})
}

func main() {
	for _, k := range []string{"GATEHOUSE_URL", "PARTNER_KEY", "ORG_ID", "TENANT_ID", "USER_EMAIL", "USER_ROLE"} {
		if os.Getenv(k) == "" {
			log.Fatalf("set %s", k)
		}
	}
	key, err := loadKey(os.Getenv("PARTNER_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	jti := make([]byte, 16)
	rand.Read(jti)
	now := time.Now()
	token, err := signSignInToken(key, os.Getenv("KEY_ID"), Claims{
		OrganizationID: os.Getenv("ORG_ID"), TenantID: os.Getenv("TENANT_ID"),
		Email: os.Getenv("USER_EMAIL"), Role: os.Getenv("USER_ROLE"), Name: os.Getenv("USER_NAME"),
		IssuedAt: now.Unix(), Expiry: now.Add(time.Minute).Unix(), ID: hex.EncodeToString(jti),
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := signInPage(os.Stdout, os.Getenv("GATEHOUSE_URL"), token, os.Getenv("RETURN_TO")); err != nil {
		log.Fatal(err)
	}
	fmt.Fprintln(os.Stderr, "signed a sign-in token for", os.Getenv("USER_EMAIL"))
}
