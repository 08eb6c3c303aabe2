package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, returning the
// file paths and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "gatehouse test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestServeTLS: server.tls_cert/tls_key serve HTTPS directly; TLS 1.0 and
// 1.1 are refused, 1.2 and 1.3 accepted; every answer carries HSTS; the
// session cookie is Secure with the __Host- prefix.
func TestServeTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	var httpsBase string
	s := startConfigured(t, func(listen, dir, socket string) string {
		httpsBase = "https://" + listen
		return fmt.Sprintf("[server]\nlisten = %q\npublic_url = %q\ntls_cert = %q\ntls_key = %q\n\n[storage]\ndir = %q\n\n[admin]\nsocket = %q\n\n[ratelimit]\nsignin_per_ip = 0\n",
			listen, httpsBase, certFile, keyFile, dir, socket)
	})
	// StartProcess's health probe speaks plain HTTP; Go's TLS server answers
	// it with a 400, which is enough to know it listens. From here on, HTTPS.
	w := s.Seed()
	client := func(min, max uint16) *http.Client {
		return &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: min, MaxVersion: max}}}
	}

	for _, v := range []struct {
		name     string
		version  uint16
		accepted bool
	}{
		{"TLS 1.0", tls.VersionTLS10, false},
		{"TLS 1.1", tls.VersionTLS11, false},
		{"TLS 1.2", tls.VersionTLS12, true},
		{"TLS 1.3", tls.VersionTLS13, true},
	} {
		t.Run(v.name, func(t *testing.T) {
			resp, err := client(v.version, v.version).Get(httpsBase + "/healthz")
			if !v.accepted {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("%s was accepted (negotiated %x)", v.name, resp.TLS.Version)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s refused: %v", v.name, err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.TLS.Version != v.version {
				t.Fatalf("status %d, version %x", resp.StatusCode, resp.TLS.Version)
			}
			if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
				t.Fatalf("HSTS %q", hsts)
			}
		})
	}

	c := client(tls.VersionTLS12, 0)
	token := w.Sign(t, "t1", "tina@example.com", "admin")
	resp, err := c.PostForm(httpsBase+"/sso/jwt", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("sign-in over HTTPS: %d", resp.StatusCode)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("sign-in answer without HSTS")
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	ck := cookies[0]
	raw := resp.Header.Get("Set-Cookie")
	if ck.Name != "__Host-gatehouse_session" || !ck.Secure || ck.Path != "/" || ck.Domain != "" || !ck.HttpOnly ||
		strings.Contains(strings.ToLower(raw), "domain=") {
		t.Fatalf("cookie %q", raw)
	}
	req, _ := http.NewRequest("GET", httpsBase+"/auth/verify", nil)
	req.AddCookie(ck)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Gatehouse-Email") != "tina@example.com" {
		t.Fatalf("forward-auth over HTTPS: %d", resp.StatusCode)
	}

	// Plain HTTP on the TLS port gets no sign-in.
	resp, err = http.PostForm("http://"+strings.TrimPrefix(httpsBase, "https://")+"/sso/jwt", url.Values{"token": {token}})
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || len(resp.Cookies()) != 0 {
			t.Fatalf("plain HTTP on the TLS port: %d %v", resp.StatusCode, resp.Cookies())
		}
	}
}
