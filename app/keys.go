package app

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Bounds on uploaded partner keys: below 2048 bits RSA is breakable; above
// 8192 a key only costs us verification time.
const (
	minKeyBits = 2048
	maxKeyBits = 8192
)

// ParsedKey is a validated partner public key.
type ParsedKey struct {
	Public      *rsa.PublicKey
	DER         []byte // PKIX
	Thumbprint  string // RFC 7638, base64url SHA-256: the default kid
	Fingerprint string // "SHA256:" + hex of SHA-256 over the PKIX DER, as operators compare keys
	Bits        int
}

// ParsePublicKeyPEM accepts exactly one PEM block holding an RSA public key as
// PUBLIC KEY (SPKI) or RSA PUBLIC KEY (PKCS#1). Private keys are refused with
// a message that says so, so an operator who pasted the wrong file learns why.
func ParsePublicKeyPEM(text string) (*ParsedKey, error) {
	block, rest := pem.Decode([]byte(strings.TrimSpace(text)))
	if block == nil {
		return nil, errors.New("not a PEM block")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("more than one PEM block (or trailing data)")
	}
	if strings.Contains(block.Type, "PRIVATE") {
		return nil, errors.New("this is a private key: upload the public key only (the private key stays with the partner)")
	}
	var pub *rsa.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, errors.New("malformed PUBLIC KEY")
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("not an RSA key (%T): only RS256 is supported", k)
		}
		pub = rk
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, errors.New("malformed RSA PUBLIC KEY")
		}
		pub = k
	default:
		return nil, fmt.Errorf("PEM type %q is not a public key (want PUBLIC KEY or RSA PUBLIC KEY)", block.Type)
	}
	return describeKey(pub)
}

func describeKey(pub *rsa.PublicKey) (*ParsedKey, error) {
	bits := pub.N.BitLen()
	if bits < minKeyBits {
		return nil, fmt.Errorf("RSA key of %d bits is too short (minimum %d)", bits, minKeyBits)
	}
	if bits > maxKeyBits {
		return nil, fmt.Errorf("RSA key of %d bits is too long (maximum %d)", bits, maxKeyBits)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("thumbprint: %w", err)
	}
	sum := sha256.Sum256(der)
	return &ParsedKey{
		Public:      pub,
		DER:         der,
		Thumbprint:  base64.RawURLEncoding.EncodeToString(tp),
		Fingerprint: fmt.Sprintf("SHA256:%x", sum),
		Bits:        bits,
	}, nil
}

// publicKeyFromDER parses a stored key.
func publicKeyFromDER(der []byte) (*rsa.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("stored key is not RSA")
	}
	return rk, nil
}

// GenerateKeyPair writes an RSA key pair NAME.key (PKCS#8, 0600) and NAME.pub
// (SPKI PEM) for a partner, refusing to overwrite existing files.
func GenerateKeyPair(name string, bits int) (privPath, pubPath string, err error) {
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return "", "", fmt.Errorf("generate key: %w", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", "", fmt.Errorf("encode private key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return "", "", fmt.Errorf("encode public key: %w", err)
	}
	privPath, pubPath = name+".key", name+".pub"
	if err := writeNew(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		return "", "", err
	}
	if err := writeNew(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		os.Remove(privPath)
		return "", "", err
	}
	return privPath, pubPath, nil
}

func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// LoadPrivateKeyPEM reads an RSA private key (PKCS#8 or PKCS#1 PEM).
func LoadPrivateKeyPEM(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not a PEM file")
	}
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse private key: %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("not an RSA private key")
		}
		return rk, nil
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	}
	return nil, fmt.Errorf("PEM type %q is not a private key", block.Type)
}

// TokenClaims are what a partner portal puts in a sign-in token.
type TokenClaims struct {
	OrganizationID string `json:"organizationId"`
	TenantID       string `json:"tenantId"`
	Role           string `json:"role"`
	Email          string `json:"email"`
	Name           string `json:"name,omitempty"`
	Exp            int64  `json:"exp"`
	Iat            int64  `json:"iat,omitempty"`
	JTI            string `json:"jti,omitempty"`
}

// SignToken signs claims as a compact RS256 JWS, as a partner portal does
// (used by `gatehouse sign`, the demo portal and tests).
func SignToken(priv *rsa.PrivateKey, kid string, claims TokenClaims) (string, error) {
	return signRS256(priv, kid, claims)
}

// signRS256 signs any claim set as a compact RS256 JWS with typ JWT.
func signRS256(priv *rsa.PrivateKey, kid string, claims any) (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: priv}, opts)
	if err != nil {
		return "", fmt.Errorf("signer: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return jws.CompactSerialize()
}

// NewTokenClaims fills exp/iat/jti for a token valid for ttl from now.
func NewTokenClaims(org, tenant, email, role, name string, now time.Time, ttl time.Duration) TokenClaims {
	jti, _ := newID(defaultRandom, "")
	return TokenClaims{
		OrganizationID: org, TenantID: tenant, Role: role, Email: email, Name: name,
		Exp: now.Add(ttl).Unix(), Iat: now.Unix(), JTI: jti,
	}
}

// NewDemoKey makes an in-memory RSA-2048 key pair for `gatehouse demo`.
func NewDemoKey() (*rsa.PrivateKey, string, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, "", err
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, "", err
	}
	return priv, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}
