package jwks

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKey = k
	})
	return testKey
}

func jwk(kid string, pub *rsa.PublicKey) map[string]any {
	return map[string]any{
		"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}
}

func setJSON(t *testing.T, keys ...map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tlsFetcher serves h over https on loopback and returns a fetcher trusting it.
func tlsFetcher(t *testing.T, h http.Handler, o Options) (*Fetcher, string) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	o.RootCAs = pool
	return New(o), srv.URL
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url      string
		insecure bool
		ok       bool
	}{
		{"https://idp.example.com/.well-known/jwks.json", false, true},
		{"https://idp.example.com:8443/keys?tenant=a", false, true},
		{"http://idp.example.com/jwks.json", false, false},
		{"http://127.0.0.1:8080/jwks.json", false, false},
		{"http://127.0.0.1:8080/jwks.json", true, true},
		{"http://127.9.8.7/jwks.json", true, true},
		{"http://[::1]:9000/jwks.json", true, true},
		{"http://localhost/jwks.json", true, false}, // a name, not a literal IP
		{"http://10.0.0.1/jwks.json", true, false},  // not loopback
		{"http://[::ffff:127.0.0.1]/jwks.json", true, false},
		{"http://[fe80::1%25eth0]/jwks.json", true, false},
		{"http://127.1/jwks.json", true, false},
		{"https://user:pass@idp.example.com/jwks.json", false, false},
		{"https://user@idp.example.com/jwks.json", false, false},
		{"http://user@127.0.0.1/jwks.json", true, false},
		{"https://idp.example.com/jwks.json#frag", false, false},
		{"ftp://idp.example.com/jwks.json", false, false},
		{"file:///etc/passwd", true, false},
		{"//idp.example.com/jwks.json", false, false},
		{"https:///jwks.json", false, false},
		{"https://idp.example.com/a b", false, false},
		{"https://idp.example.com/\\x", false, false},
		{"", false, false},
		{"https://idp.example.com/" + strings.Repeat("a", 2048), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := CheckURL(tt.url, tt.insecure)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckURL(%q, %v) = %v, want ok=%v", tt.url, tt.insecure, err, tt.ok)
			}
		})
	}
}

func TestFetchHTTPS(t *testing.T) {
	k := rsaKey(t)
	var sawCredentials atomic.Bool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Cookie") != "" || r.Header.Get("Authorization") != "" {
			sawCredentials.Store(true)
		}
		http.SetCookie(w, &http.Cookie{Name: "tracker", Value: "1"})
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(setJSON(t, jwk("k1", &k.PublicKey), map[string]any{"kty": "EC", "kid": "ec1", "crv": "P-256"}))
	})
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	f, base := tlsFetcher(t, h, Options{Now: func() time.Time { return at }})
	for i := 0; i < 2; i++ { // the second fetch would carry the cookie if a jar existed
		set, err := f.Fetch(context.Background(), base+"/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		if !set.FetchedAt.Equal(at) {
			t.Errorf("FetchedAt = %v, want the injected %v", set.FetchedAt, at)
		}
		if len(set.Keys) != 2 || set.Keys[0].Kid != "k1" || set.Keys[0].Public == nil || set.Keys[0].Problem != "" {
			t.Fatalf("keys = %+v", set.Keys)
		}
		if set.Keys[0].Public.N.Cmp(k.N) != 0 || set.Keys[0].Public.E != k.E {
			t.Error("the parsed key is not the served key")
		}
		if set.Keys[1].Problem == "" || set.Keys[1].Public != nil {
			t.Errorf("EC key not flagged: %+v", set.Keys[1])
		}
	}
	if sawCredentials.Load() {
		t.Error("a fetch sent a cookie or credentials")
	}
}

func TestFetchPlainHTTPOnlyWhenAllowed(t *testing.T) {
	k := rsaKey(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(setJSON(t, jwk("k1", &k.PublicKey)))
	}))
	defer srv.Close()
	if _, err := New(Options{}).Fetch(context.Background(), srv.URL); err == nil || !strings.Contains(err.Error(), "https") {
		t.Fatalf("http without allow = %v, want a refusal naming https", err)
	}
	set, err := New(Options{AllowInsecure: true}).Fetch(context.Background(), srv.URL)
	if err != nil || len(set.Keys) != 1 {
		t.Fatalf("http with allow = %v, %v", set, err)
	}
}

func TestFetchRefusesRedirects(t *testing.T) {
	k := rsaKey(t)
	var followed atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/real", http.StatusFound)
	})
	mux.HandleFunc("/real", func(w http.ResponseWriter, r *http.Request) {
		followed.Store(true)
		w.Write(setJSON(t, jwk("k1", &k.PublicKey)))
	})
	for _, insecure := range []bool{false, true} {
		var f *Fetcher
		var base string
		if insecure {
			srv := httptest.NewServer(mux)
			defer srv.Close()
			f, base = New(Options{AllowInsecure: true}), srv.URL
		} else {
			f, base = tlsFetcher(t, mux, Options{})
		}
		_, err := f.Fetch(context.Background(), base+"/moved")
		if err == nil || !strings.Contains(err.Error(), "redirect") {
			t.Fatalf("redirect: err = %v", err)
		}
	}
	if followed.Load() {
		t.Error("the redirect was followed")
	}
}

func TestFetchSizeCap(t *testing.T) {
	k := rsaKey(t)
	valid := setJSON(t, jwk("k1", &k.PublicKey))
	padTo := func(n int) []byte { // whitespace keeps the JSON valid at any size
		return append(append([]byte{}, valid...), []byte(strings.Repeat(" ", n-len(valid)))...)
	}
	tests := []struct {
		name          string
		body          []byte
		contentLength bool
		ok            bool
	}{
		{"exactly 256 KiB", padTo(MaxBytes), true, true},
		{"one byte over, chunked", padTo(MaxBytes + 1), false, false},
		{"one byte over, declared", padTo(MaxBytes + 1), true, false},
		{"10 MiB chunked", padTo(10 << 20), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, base := tlsFetcher(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.contentLength {
					w.Header().Set("Content-Length", fmt.Sprint(len(tt.body)))
				} else if fl, ok := w.(http.Flusher); ok {
					fl.Flush() // forces chunked encoding: no length to trust
				}
				w.Write(tt.body)
			}), Options{})
			_, err := f.Fetch(context.Background(), base)
			if tt.ok && err != nil {
				t.Fatalf("err = %v", err)
			}
			if !tt.ok && (err == nil || !strings.Contains(err.Error(), "256 KiB")) {
				t.Fatalf("err = %v, want the size cap", err)
			}
		})
	}
}

func TestFetchTimeout(t *testing.T) {
	if got := New(Options{}).Timeout(); got != 5*time.Second {
		t.Fatalf("default timeout = %v, want 5s", got)
	}
	k := rsaKey(t)
	release := make(chan struct{})
	defer close(release)
	body := setJSON(t, jwk("k1", &k.PublicKey))
	mux := http.NewServeMux()
	mux.HandleFunc("/no-headers", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/trickle", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body[:10])
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	f, base := tlsFetcher(t, mux, Options{Timeout: 300 * time.Millisecond})
	for _, path := range []string{"/no-headers", "/trickle"} {
		_, err := f.Fetch(context.Background(), base+path)
		if err == nil || !strings.Contains(err.Error(), "within 300ms") {
			t.Errorf("%s: err = %v, want a timeout", path, err)
		}
	}
}

func TestFetchStatusAndShape(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		want       string
	}{
		{"not found", `{"keys":[]}`, 404, "HTTP 404"},
		{"html", `<html>`, 200, "not a JSON key set"},
		{"array", `[]`, 200, "not a JSON key set"},
		{"no keys", `{"other":1}`, 200, `no "keys" array`},
		{"keys not array", `{"keys":{}}`, 200, "not a JSON key set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, base := tlsFetcher(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}), Options{})
			_, err := f.Fetch(context.Background(), base)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseFlagsUnusableMembers(t *testing.T) {
	k := rsaKey(t)
	good := jwk("good", &k.PublicKey)
	with := func(change map[string]any) map[string]any {
		m := map[string]any{}
		for n, v := range good {
			m[n] = v
		}
		for n, v := range change {
			if v == nil {
				delete(m, n)
			} else {
				m[n] = v
			}
		}
		return m
	}
	raw := setJSON(t,
		good,
		with(map[string]any{"kid": "dup"}),
		with(map[string]any{"kid": "dup"}),
		with(map[string]any{"kid": "ec", "kty": "EC"}),
		with(map[string]any{"kid": "priv", "d": "AQAB"}),
		with(map[string]any{"kid": "even-e", "e": "AQA"}), // 256: even
		with(map[string]any{"kid": "padded", "n": base64.URLEncoding.EncodeToString(k.N.Bytes())}),
		with(map[string]any{"kid": 7}),
		with(map[string]any{"kid": "no-n", "n": nil}),
	)
	keys, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	wantUsable := map[string]bool{"good": true, "dup": true}
	if len(keys) != 9 {
		t.Fatalf("got %d keys", len(keys))
	}
	for i, k := range keys {
		usable := k.Problem == "" && k.Public != nil
		if i == 2 { // the second "dup"
			if usable {
				t.Error("a repeated kid was not flagged")
			}
			continue
		}
		if usable != wantUsable[k.Kid] {
			t.Errorf("key %d (%q): usable = %v (%s)", i, k.Kid, usable, k.Problem)
		}
	}
	if _, err := Parse([]byte(`{"keys":[1,"x",null]}`)); err != nil {
		t.Fatalf("odd members must not fail the set: %v", err)
	}
}

func TestTransportHardening(t *testing.T) {
	f := New(Options{AllowInsecure: true})
	for name, c := range map[string]*http.Client{"https": f.https, "loopback": f.loopback} {
		tr := c.Transport.(*http.Transport)
		if tr.Proxy != nil {
			t.Errorf("%s: Transport.Proxy is set; the environment's proxy would be used", name)
		}
		if c.Jar != nil {
			t.Errorf("%s: a cookie jar is set", name)
		}
		if c.CheckRedirect == nil || c.CheckRedirect(nil, nil) == nil {
			t.Errorf("%s: redirects are not refused", name)
		}
		if c.Timeout != DefaultTimeout {
			t.Errorf("%s: timeout %v", name, c.Timeout)
		}
	}
	for addr, ok := range map[string]bool{
		"127.0.0.1:80": true, "127.200.0.1:8080": true, "[::1]:443": true,
		"192.0.2.1:80": false, "[2001:db8::1]:80": false, "10.0.0.1:80": false, "0.0.0.0:80": false,
	} {
		if err := refuseNonLoopback("tcp", addr, nil); (err == nil) != ok {
			t.Errorf("dial control for %s: %v, want ok=%v", addr, err, ok)
		}
	}
}
