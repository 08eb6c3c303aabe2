package bench

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"gatehouse/web/e2e"
)

// serverConfig is what the benchmarked `gatehouse serve` adds to the e2e
// harness's config: nothing but a per-address sign-in limit high enough for
// one load generator on one address (the limiter still runs on every
// request). Logging and metrics stay at their defaults.
const serverConfig = "[ratelimit]\nsignin_per_ip = 1000000000\n"

// world is a running Gatehouse with org acme, tenant t1, partner Portal and
// one RSA-2048 key, and the partner's signing key.
type world struct {
	srv    *e2e.Server
	key    *rsa.PrivateKey
	kid    string
	pubPEM string // file with the public key, for the verify reference
}

func startWorld(b *testing.B, prepare func(dataDir string)) *world {
	b.Helper()
	srv := e2e.StartPrepared(b, serverConfig, prepare)
	w := &world{srv: srv, key: benchKey(b)}
	if prepare == nil {
		w.seed(b)
	}
	var keys struct {
		Keys []struct{ Kid string } `json:"keys"`
	}
	var partners struct {
		Partners []struct{ ID string } `json:"partners"`
	}
	srv.MustAPI("GET", "/api/v1/orgs/acme/partners", nil, 200, &partners)
	srv.MustAPI("GET", "/api/v1/orgs/acme/partners/"+partners.Partners[0].ID+"/keys", nil, 200, &keys)
	w.kid = keys.Keys[0].Kid
	w.pubPEM = filepath.Join(b.TempDir(), "partner.pub")
	if err := os.WriteFile(w.pubPEM, []byte(publicPEM(b, w.key)), 0o600); err != nil {
		b.Fatal(err)
	}
	return w
}

func (w *world) seed(b *testing.B) {
	s := w.srv
	s.MustAPI("POST", "/api/v1/orgs", map[string]any{"id": "acme", "name": "Acme"}, 201, nil)
	s.MustAPI("POST", "/api/v1/orgs/acme/tenants", map[string]any{"id": "t1", "name": "Tenant One",
		"redirect_url": "https://dash.example.test/t1"}, 201, nil)
	var p struct{ ID string }
	s.MustAPI("POST", "/api/v1/orgs/acme/partners", map[string]any{"name": "Portal"}, 201, &p)
	s.MustAPI("POST", "/api/v1/orgs/acme/partners/"+p.ID+"/keys", map[string]any{"pem": publicPEM(b, w.key)}, 201, nil)
}

var (
	benchKeyOnce sync.Once
	benchKeyVal  *rsa.PrivateKey
)

// benchKey is the partner's RSA-2048 key, one per benchmark process.
func benchKey(b *testing.B) *rsa.PrivateKey {
	benchKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		benchKeyVal = k
	})
	return benchKeyVal
}

func publicPEM(b *testing.B, k *rsa.PrivateKey) string {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// tokens signs sign-in forms ahead of the timed window (signing is the
// partner's cost). emailOf picks the email of token i; every token has its
// own jti.
func (w *world) tokens(b *testing.B, n int, emailOf func(i int) string) []string {
	b.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: w.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", w.kid))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	run := fmt.Sprintf("%d", now.UnixNano())
	out := make([]string, n)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for g := range workers {
		wg.Go(func() {
			for i := g; i < n; i += workers {
				claims := map[string]any{"organizationId": "acme", "tenantId": "t1", "role": "admin",
					"email": emailOf(i), "name": "Bench User", "iat": now.Unix(), "exp": now.Add(50 * time.Minute).Unix(),
					"jti": run + "-" + fmt.Sprint(i)}
				tok, err := jwt.Signed(signer).Claims(claims).Serialize()
				if err != nil {
					panic(err)
				}
				out[i] = url.Values{"token": {tok}}.Encode()
			}
		})
	}
	wg.Wait()
	return out
}

// seq numbers first sign-ins across the whole process, so no email is ever
// signed in twice as "first".
var seq struct {
	sync.Mutex
	n int
}

func freshEmails(n int) func(i int) string {
	seq.Lock()
	base := seq.n
	seq.n += n
	seq.Unlock()
	return func(i int) string { return fmt.Sprintf("first%08d@bench.test", base+i) }
}

func signInRequest(base string) func(form string) *http.Request {
	return func(form string) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, base+"/sso/jwt", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	}
}

const returningUsers = 512

// BenchmarkSignIn: POST /sso/jwt over TCP at 32 (and 64) concurrent clients.
// "reference" is the verify-only server; "first" are first sign-ins, each
// with its own email and jti (a new user, a session, an audit event and a
// replay marker per request, durable before the 302); "returning" are 512
// known users signing in again, each with a new jti. ratio is the
// Gatehouse rate over the reference rate of the same iteration.
func BenchmarkSignIn(b *testing.B) {
	w := startWorld(b, nil)
	ref := startReference(b, "verify", w.pubPEM)
	var refRate float64

	b.Run("reference/c32", func(b *testing.B) {
		forms := w.tokens(b, min(b.N, 4096), freshEmails(min(b.N, 4096)))
		mk := signInRequest(ref.Base)
		stop := sampleMemory(ref.PID())
		o := drive(b, 32, b.N, func(i int) *http.Request { return mk(forms[i%len(forms)]) }, http.StatusFound, nil)
		reportMemory(b, stop())
		report(b, o)
		refRate = o.rate()
	})
	for _, clients := range []int{32, 64} {
		b.Run(fmt.Sprintf("first/c%d", clients), func(b *testing.B) {
			forms := w.tokens(b, b.N, freshEmails(b.N))
			mk := signInRequest(w.srv.Base)
			stop := sampleMemory(w.srv.PID())
			o := drive(b, clients, b.N, func(i int) *http.Request { return mk(forms[i]) }, http.StatusFound, nil)
			reportMemory(b, stop())
			report(b, o)
			if refRate > 0 {
				b.ReportMetric(o.rate()/refRate, "ratio")
			}
		})
	}
	// Make the returning users exist (untimed), then sign them in again.
	known := func(i int) string { return fmt.Sprintf("returning%04d@bench.test", i%returningUsers) }
	b.Run("returning/c32", func(b *testing.B) {
		b.StopTimer()
		setup := w.tokens(b, returningUsers, known)
		mk := signInRequest(w.srv.Base)
		drive(b, 32, returningUsers, func(i int) *http.Request { return mk(setup[i]) }, http.StatusFound, nil)
		forms := w.tokens(b, b.N, known)
		stop := sampleMemory(w.srv.PID())
		o := drive(b, 32, b.N, func(i int) *http.Request { return mk(forms[i]) }, http.StatusFound, nil)
		reportMemory(b, stop())
		report(b, o)
		if refRate > 0 {
			b.ReportMetric(o.rate()/refRate, "ratio")
		}
	})
}

// BenchmarkForwardAuth: GET /auth/verify over TCP at 32 concurrent clients,
// round-robin over 512 live sessions, against the trivial reference (cookie
// → SHA-256 → map → six headers) holding as many sessions.
func BenchmarkForwardAuth(b *testing.B) {
	w := startWorld(b, nil)
	// 512 sessions from real sign-ins.
	forms := w.tokens(b, returningUsers, func(i int) string { return fmt.Sprintf("fa%04d@bench.test", i) })
	cookies := make([]string, returningUsers)
	mk := signInRequest(w.srv.Base)
	drive(b, 32, returningUsers, func(i int) *http.Request { return mk(forms[i]) }, http.StatusFound, func(i int, resp *http.Response) {
		for _, c := range resp.Cookies() {
			if c.Name == "gatehouse_session" {
				cookies[i] = c.Value
			}
		}
	})
	cookieFile := filepath.Join(b.TempDir(), "cookies")
	if err := os.WriteFile(cookieFile, []byte(strings.Join(cookies, "\n")), 0o600); err != nil {
		b.Fatal(err)
	}
	ref := startReference(b, "forward-auth", cookieFile)
	verify := func(base string) func(i int) *http.Request {
		return func(i int) *http.Request {
			req, _ := http.NewRequest(http.MethodGet, base+"/auth/verify", nil)
			req.Header.Set("Cookie", "gatehouse_session="+cookies[i%len(cookies)])
			return req
		}
	}
	var refRate float64
	b.Run("reference/c32", func(b *testing.B) {
		stop := sampleMemory(ref.PID())
		o := drive(b, 32, b.N, verify(ref.Base), http.StatusOK, nil)
		reportMemory(b, stop())
		report(b, o)
		refRate = o.rate()
	})
	b.Run("gatehouse/c32", func(b *testing.B) {
		stop := sampleMemory(w.srv.PID())
		o := drive(b, 32, b.N, verify(w.srv.Base), http.StatusOK, nil)
		reportMemory(b, stop())
		report(b, o)
		if refRate > 0 {
			b.ReportMetric(o.rate()/refRate, "ratio")
		}
	})
}
