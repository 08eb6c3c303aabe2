package web

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"gatehouse/app"
	"gatehouse/storage/bolt"
)

// BenchmarkForwardAuthAssertion measures GET /auth/verify on bbolt with the
// signed assertion off, on (the per-session cache hit: the common case, a
// proxy asking for the same session on every page load), and on with a
// cache miss on every request (a fresh ES256 signature each time: a
// distinct ?aud= per request).
func BenchmarkForwardAuthAssertion(b *testing.B) {
	for _, tc := range []struct {
		name      string
		assertion bool
		miss      bool
	}{
		{"off", false, false},
		{"on", true, false},
		{"on-sign-every-request", true, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			store, err := bolt.Open(filepath.Join(b.TempDir(), "bench.db"), bolt.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { store.Close() })
			f := newFixtureWithStore(b, store, func(c *app.Config) { c.Session.Assertion = tc.assertion })
			cookie := sessionCookie(f.signIn(f.token(f.claims())), f.srv.CookieName())
			if cookie == nil {
				b.Fatal("no session")
			}
			var n atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					target := "/auth/verify"
					if tc.miss {
						target += "?aud=dash-" + strconv.FormatInt(n.Add(1), 10)
					}
					req := httptest.NewRequest(http.MethodGet, target, nil)
					req.AddCookie(cookie)
					rec := httptest.NewRecorder()
					f.handler.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK || (rec.Header().Get("X-Gatehouse-Assertion") != "") != tc.assertion {
						b.Fatalf("verify: %d", rec.Code)
					}
				}
			})
			reportRate(b)
		})
	}
}
