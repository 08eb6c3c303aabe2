package jwks

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// Limits of one fetch (SPEC §4.7).
const (
	DefaultTimeout = 5 * time.Second
	MaxBytes       = 256 << 10
)

// Options configure a Fetcher.
type Options struct {
	// AllowInsecure permits http:// URLs whose host is a literal loopback IP
	// (sso.allow_insecure_jwks); such requests can only ever dial loopback.
	AllowInsecure bool
	// Timeout bounds a whole fetch, body included; 0 means DefaultTimeout.
	Timeout time.Duration
	// RootCAs verifies https servers; nil means the system roots. Tests pass
	// the certificate of their httptest server.
	RootCAs *x509.CertPool
	// Now stamps each fetched set (FetchedAt); nil means time.Now.
	Now func() time.Time
}

// Fetcher downloads key sets. It is safe for concurrent use.
type Fetcher struct {
	https, loopback *http.Client
	allowInsecure   bool
	timeout         time.Duration
	now             func() time.Time
}

// errRedirect is what CheckRedirect answers: a key set that moves must be
// re-registered at its new address by an administrator, never followed.
var errRedirect = errors.New("redirects are not followed")

// New builds a Fetcher.
func New(o Options) *Fetcher {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Fetcher{
		https:         newClient(o, nil),
		loopback:      newClient(o, refuseNonLoopback),
		allowInsecure: o.AllowInsecure,
		timeout:       o.Timeout,
		now:           o.Now,
	}
}

// Timeout is the deadline of one fetch.
func (f *Fetcher) Timeout() time.Duration { return f.timeout }

func newClient(o Options, control func(network, address string, c syscall.RawConn) error) *http.Client {
	dialer := &net.Dialer{Timeout: o.Timeout, Control: control}
	transport := &http.Transport{
		Proxy:                  nil, // HTTPS_PROXY and friends must not reroute key fetches
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: o.RootCAs},
		TLSHandshakeTimeout:    o.Timeout,
		ResponseHeaderTimeout:  o.Timeout,
		MaxIdleConns:           4,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 16 << 10,
		ForceAttemptHTTP2:      true,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   o.Timeout,
		Jar:       nil, // no cookies, ever
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errRedirect
		},
	}
}

// refuseNonLoopback runs on the socket about to be connected: the one check
// that no resolver, redirect or proxy trick can get around.
func refuseNonLoopback(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() {
		return fmt.Errorf("plain http may only reach a loopback address, not %s", host)
	}
	return nil
}

// CheckURL validates a jwks_url: https with a host, or, when allowInsecure,
// http to a literal loopback IP (127.0.0.0/8, [::1]); never user info, a
// fragment, or control characters. The error is the reason, without the URL.
func CheckURL(raw string, allowInsecure bool) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("must not be empty")
	}
	if len(raw) > 2048 {
		return nil, errors.New("longer than 2048 characters")
	}
	for _, r := range raw {
		if r <= ' ' || r == 0x7f || r == '\\' {
			return nil, errors.New("must not contain spaces, control characters or backslashes")
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return nil, errors.New("not a valid absolute URL")
	}
	if u.User != nil {
		return nil, errors.New("must not carry user info (credentials are never sent)")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, errors.New("must not have a fragment")
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("must name a host")
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		if !allowInsecure {
			return nil, errors.New("must be https:// (http:// only to a loopback IP when sso.allow_insecure_jwks is true)")
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || ip.Zone() != "" || !ip.IsLoopback() || ip.Is4In6() {
			return nil, errors.New("http:// is allowed only on a literal loopback IP (127.0.0.0/8 or [::1])")
		}
		return u, nil
	}
	return nil, errors.New("must be an https:// URL")
}

// Key is one member of a fetched set. Public is set for an RSA key whose
// modulus and exponent decode; Problem says why a member cannot be used at
// all (app adds its own rules on top).
type Key struct {
	Kid     string
	Kty     string
	Use     string
	Alg     string
	Public  *rsa.PublicKey
	Problem string
}

// Set is a fetched key set.
type Set struct {
	Keys      []Key
	FetchedAt time.Time
}

// Fetch downloads and parses the key set at rawURL. Any failure — a refused
// URL, a transport error, a redirect, a status other than 200, an answer over
// MaxBytes, a body that is not a key set — is an error whose text is the
// reason, fit to show an administrator.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string) (Set, error) {
	u, err := CheckURL(rawURL, f.allowInsecure)
	if err != nil {
		return Set{}, err
	}
	client := f.https
	if u.Scheme == "http" {
		client = f.loopback
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Set{}, errors.New("not a valid URL")
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	req.Header.Set("User-Agent", "gatehouse-jwks")
	resp, err := client.Do(req)
	if err != nil {
		return Set{}, describe(err, f.timeout)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Set{}, fmt.Errorf("the server answered HTTP %d (want 200)", resp.StatusCode)
	}
	if resp.ContentLength > MaxBytes {
		return Set{}, fmt.Errorf("the key set is larger than %d KiB", MaxBytes>>10)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBytes+1))
	if err != nil {
		return Set{}, describe(err, f.timeout)
	}
	if len(body) > MaxBytes {
		return Set{}, fmt.Errorf("the key set is larger than %d KiB", MaxBytes>>10)
	}
	keys, err := Parse(body)
	if err != nil {
		return Set{}, err
	}
	return Set{Keys: keys, FetchedAt: f.now()}, nil
}

func describe(err error, timeout time.Duration) error {
	var netErr net.Error
	switch {
	case errors.Is(err, errRedirect):
		return errors.New("the server answered with a redirect; redirects are not followed")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Errorf("no complete answer within %s", timeout)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err // drop the URL: it is the caller's to show
	}
	return fmt.Errorf("fetch failed: %v", err)
}

// Parse reads a JWKS document: an object whose "keys" member is an array of
// objects. Members that are not RSA public keys are returned with a Problem
// rather than failing the whole set, so one odd key never hides the others.
func Parse(body []byte) ([]Key, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, errors.New(`the answer is not a JSON key set ({"keys": [...]})`)
	}
	if doc.Keys == nil {
		return nil, errors.New(`the answer has no "keys" array`)
	}
	out := make([]Key, 0, len(doc.Keys))
	seen := map[string]bool{}
	for _, raw := range doc.Keys {
		k := parseKey(raw)
		if k.Problem == "" && seen[k.Kid] {
			k.Problem = "kid appears twice in the set"
		}
		if k.Kid != "" {
			seen[k.Kid] = true
		}
		out = append(out, k)
	}
	return out, nil
}

func parseKey(raw json.RawMessage) Key {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return Key{Problem: "not a JSON object"}
	}
	str := func(name string) (string, bool) {
		v, ok := m[name]
		if !ok {
			return "", true
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", false
		}
		return s, true
	}
	var k Key
	var ok bool
	for _, f := range []struct {
		name string
		dst  *string
	}{{"kid", &k.Kid}, {"kty", &k.Kty}, {"use", &k.Use}, {"alg", &k.Alg}} {
		if *f.dst, ok = str(f.name); !ok {
			k.Problem = f.name + " is not a string"
			return k
		}
	}
	if k.Kty != "RSA" {
		k.Problem = fmt.Sprintf("kty %q is not RSA", k.Kty)
		return k
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		if _, ok := m[private]; ok {
			k.Problem = "the set publishes private key material"
			return k
		}
	}
	n, okN := str("n")
	e, okE := str("e")
	if !okN || !okE || n == "" || e == "" {
		k.Problem = "n and e must be base64url strings"
		return k
	}
	nb, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil || len(nb) > 8192/8+1 {
		k.Problem = "n is not base64url (unpadded) of a modulus up to 8192 bits"
		return k
	}
	eb, err := base64.RawURLEncoding.DecodeString(e)
	if err != nil || len(eb) == 0 || len(eb) > 4 {
		k.Problem = "e is not base64url (unpadded) of a small exponent"
		return k
	}
	exp := new(big.Int).SetBytes(eb)
	if !exp.IsInt64() || exp.Int64() < 3 || exp.Int64() > 1<<31-1 || exp.Bit(0) == 0 {
		k.Problem = "e is not a usable RSA exponent"
		return k
	}
	k.Public = &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: int(exp.Int64())}
	return k
}
