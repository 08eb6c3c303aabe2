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

const (
	returningUsers = 512
	// windows is how many alternating reference/Gatehouse windows a
	// benchmark's requests are split into.
	windows = 6
)

// BenchmarkSignIn: POST /sso/jwt over TCP at 32 and 64 concurrent clients,
// in windows alternating with the verify-only reference (go-jose verify,
// cookie, 302, nothing stored). "first" are first sign-ins, each with its
// own email and jti: a new user, a session, a replay marker and an audit
// event per request, durable (fsync) before the 302. "returning" are 512
// known users signing in again, each with a new jti. ratio = Gatehouse
// rate / reference rate, both from the same interleaved windows; memory is
// the Gatehouse process's.
func BenchmarkSignIn(b *testing.B) {
	w := startWorld(b, nil)
	ref := startReference(b, "verify", w.pubPEM)
	mkGH, mkRef := signInRequest(w.srv.Base), signInRequest(ref.Base)
	for _, clients := range []int{32, 64} {
		b.Run(fmt.Sprintf("first/c%d", clients), func(b *testing.B) {
			forms := w.tokens(b, b.N, freshEmails(b.N))
			c0, r0 := commits(b, w)
			stop := sampleMemory(w.srv.PID())
			b.ResetTimer()
			target, reference := interleaved(b.N, windows, func(isRef bool, lo, hi int) outcome {
				mk, pid := mkGH, w.srv.PID()
				if isRef {
					mk, pid = mkRef, ref.PID()
				}
				return drive(b, pid, clients, lo, hi, func(i int) *http.Request { return mk(forms[i]) }, http.StatusFound, nil)
			})
			b.StopTimer()
			reportMemory(b, stop())
			report(b, target, reference)
			reportGroups(b, w, c0, r0)
		})
	}
	known := func(i int) string { return fmt.Sprintf("returning%04d@bench.test", i%returningUsers) }
	b.Run("returning/c32", func(b *testing.B) {
		setup := w.tokens(b, returningUsers, known)
		drive(b, 0, 32, 0, returningUsers, func(i int) *http.Request { return mkGH(setup[i]) }, http.StatusFound, nil)
		forms := w.tokens(b, b.N, known)
		c0, r0 := commits(b, w)
		stop := sampleMemory(w.srv.PID())
		b.ResetTimer()
		target, reference := interleaved(b.N, windows, func(isRef bool, lo, hi int) outcome {
			mk, pid := mkGH, w.srv.PID()
			if isRef {
				mk, pid = mkRef, ref.PID()
			}
			return drive(b, pid, 32, lo, hi, func(i int) *http.Request { return mk(forms[i]) }, http.StatusFound, nil)
		})
		b.StopTimer()
		reportMemory(b, stop())
		report(b, target, reference)
		reportGroups(b, w, c0, r0)
	})
}

// BenchmarkForwardAuth: GET /auth/verify over TCP, round-robin over 512
// live sessions, in windows alternating with the trivial reference (cookie
// → SHA-256 → map → six headers) holding the same cookies.
//
// A session's signed assertion is reused while nothing in it changed and
// more than half its lifetime is left (SPEC §4.6), so a check costs either
// a cache hit or an ES256 signature. c32 and c64 are the steady state: one
// untimed pass over the sessions first, as a session's first page load
// would. first-checks/c32 is the other end: 512 sessions no check has
// touched yet, so one request in twelve (6000 over 512) signs. Without the
// warm-up, c32 would pay the signatures and c64 after it would not: the
// figures would depend on the order of the sub-benchmarks.
func BenchmarkForwardAuth(b *testing.B) {
	w := startWorld(b, nil)
	warm := w.sessions(b, returningUsers, "fa")
	cold := w.sessions(b, returningUsers, "cold")
	cookieFile := filepath.Join(b.TempDir(), "cookies")
	if err := os.WriteFile(cookieFile, []byte(strings.Join(append(append([]string{}, warm...), cold...), "\n")), 0o600); err != nil {
		b.Fatal(err)
	}
	ref := startReference(b, "forward-auth", cookieFile)
	requireAssertion(b, w, warm[0])
	run := func(b *testing.B, clients int, cookies []string) {
		stop := sampleMemory(w.srv.PID())
		b.ResetTimer()
		target, reference := interleaved(b.N, windows, func(isRef bool, lo, hi int) outcome {
			base, pid := w.srv.Base, w.srv.PID()
			if isRef {
				base, pid = ref.Base, ref.PID()
			}
			return drive(b, pid, clients, lo, hi, verifyRequest(base, cookies), http.StatusOK, nil)
		})
		b.StopTimer()
		reportMemory(b, stop())
		report(b, target, reference)
	}
	b.Run("first-checks/c32", func(b *testing.B) { run(b, 32, cold) })
	for _, base := range []string{w.srv.Base, ref.Base} { // the steady state: every assertion signed once
		drive(b, 0, 32, 0, len(warm), verifyRequest(base, warm), http.StatusOK, nil)
	}
	for _, clients := range []int{32, 64} {
		b.Run(fmt.Sprintf("c%d", clients), func(b *testing.B) { run(b, clients, warm) })
	}
}

// requireAssertion checks that the server answers forward-auth as it does
// by default, with the signed downstream assertion (SPEC §4.6): the figures
// are for the check with the ES256 assertion, not without it.
func requireAssertion(b *testing.B, w *world, cookie string) {
	b.Helper()
	resp, err := http.DefaultClient.Do(verifyRequest(w.srv.Base, []string{cookie})(0))
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Count(resp.Header.Get("X-Gatehouse-Assertion"), ".") != 2 {
		b.Fatalf("forward-auth: status %d, assertion %q: the benchmark must run with session.assertion on (the default)",
			resp.StatusCode, resp.Header.Get("X-Gatehouse-Assertion"))
	}
}

func verifyRequest(base string, cookies []string) func(i int) *http.Request {
	return func(i int) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, base+"/auth/verify", nil)
		req.Header.Set("Cookie", "gatehouse_session="+cookies[i%len(cookies)])
		return req
	}
}

// sessions signs n users in (emails prefix0000000@bench.test, …) and
// returns their session cookies.
func (w *world) sessions(b *testing.B, n int, prefix string) []string {
	forms := w.tokens(b, n, func(i int) string { return fmt.Sprintf("%s%07d@bench.test", prefix, i) })
	cookies := make([]string, n)
	mk := signInRequest(w.srv.Base)
	drive(b, 0, 32, 0, n, func(i int) *http.Request { return mk(forms[i]) }, http.StatusFound, func(i int, resp *http.Response) {
		for _, c := range resp.Cookies() {
			if c.Name == "gatehouse_session" {
				cookies[i] = c.Value
			}
		}
	})
	return cookies
}
