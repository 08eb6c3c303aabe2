package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/storage"
	"gatehouse/storage/bolt"
	"gatehouse/storage/memory"
)

// Sign-in benchmarks run the whole request through the real handler —
// parse, RS256 verify, policies, the durable write of user + session + audit
// event, the cookie and the 302 — at 64 concurrent requests (b.SetParallelism
// over GOMAXPROCS), once on bbolt (fsync on) and once on the in-memory store.
// Tokens are signed beforehand (signing is the partner's cost, not ours) and
// reused round-robin over 512 users, as returning users sign in again.
func BenchmarkSignInBolt(b *testing.B) {
	store, err := bolt.Open(filepath.Join(b.TempDir(), "bench.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	benchSignIn(b, store)
}

func BenchmarkSignInMemory(b *testing.B) { benchSignIn(b, memory.New()) }

func benchSignIn(b *testing.B, store storage.Store) {
	f := newFixtureWithStore(b, store)
	const users = 512
	forms := make([]string, users)
	for i := range forms {
		c := f.claims()
		c["email"] = fmt.Sprintf("user%04d@example.com", i)
		c["exp"] = f.clock.Now().Add(50 * time.Minute).Unix()
		forms[i] = url.Values{"token": {f.token(c)}}.Encode()
	}
	var next sync.Mutex
	i := 0
	pick := func() string {
		next.Lock()
		defer next.Unlock()
		i++
		return forms[i%users]
	}
	lat := newLatencies()
	b.ReportAllocs()
	b.SetParallelism(32) // × GOMAXPROCS (2 here) = 64 concurrent sign-ins
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/sso/jwt", strings.NewReader(pick()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			start := time.Now()
			f.handler.ServeHTTP(rec, req)
			lat.add(time.Since(start))
			if rec.Code != http.StatusFound {
				b.Fatalf("sign-in: %d %s", rec.Code, rec.Body)
			}
		}
	})
	b.StopTimer()
	reportRate(b)
	b.ReportMetric(lat.percentile(99).Seconds()*1000, "p99-ms")
}

// BenchmarkForwardAuth measures GET /auth/verify with a valid session.
func BenchmarkForwardAuth(b *testing.B) {
	store, err := bolt.Open(filepath.Join(b.TempDir(), "bench.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	benchForwardAuth(b, store)
}

func benchForwardAuth(b *testing.B, store storage.Store) {
	f := newFixtureWithStore(b, store)
	rec := f.signIn(f.token(f.claims()))
	cookie := sessionCookie(rec, f.srv.CookieName())
	if cookie == nil {
		b.Fatal("no session")
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "/auth/verify?org=acme&tenant=t1", nil)
			req.AddCookie(cookie)
			rec := httptest.NewRecorder()
			f.handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("verify: %d", rec.Code)
			}
		}
	})
	reportRate(b)
}

// BenchmarkHMACToken measures POST /sso/hmac/token (step 1) on bbolt: MAC
// check, policies, the nonce write and the one-time login token write.
func BenchmarkHMACToken(b *testing.B) {
	store, err := bolt.Open(filepath.Join(b.TempDir(), "bench.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	f := newFixtureWithStore(b, store)
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := f.hmacToken(hmacReq{})
			if rec.Code != http.StatusOK {
				b.Fatalf("hmac: %d %s", rec.Code, rec.Body)
			}
		}
	})
	reportRate(b)
}

func reportRate(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
}

// latencies collects request durations for a percentile.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func newLatencies() *latencies { return &latencies{} }

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) percentile(p int) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}
