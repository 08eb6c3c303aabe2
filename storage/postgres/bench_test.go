package postgres

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSignIn measures the sign-in write (replay marker, user, session,
// key touch, audit event: one durable commit per answer) on the real server,
// with pipelined group commit, with group commit one sign-in at a time and
// with a transaction per sign-in, at several numbers
// of concurrent callers on one Store. Emails cycle over 1000 users, so most
// sign-ins update a user and the first of each creates it.
//
//	go test -run '^$' -bench SignIn -benchtime 5s ./storage/postgres
func BenchmarkSignIn(b *testing.B) {
	for _, m := range []struct {
		name string
		opts Options
	}{{"GroupCommit", Options{}}, {"GroupOneByOne", Options{groupOneByOne: true}}, {"NoGroupCommit", Options{NoGroupCommit: true}}} {
		for _, conc := range []int{1, 8, 32, 64} {
			b.Run(fmt.Sprintf("%s/c%d", m.name, conc), func(b *testing.B) {
				url := newDatabase(b)
				opts := m.opts
				opts.MaxConns = 16
				s, err := Open(b.Context(), url, opts)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				ctx := b.Context()
				mustOK(b, s.CreateOrg(ctx, orgFixture))
				mustOK(b, s.CreateTenant(ctx, tenantFixture))
				mustOK(b, s.CreatePartner(ctx, partnerFixture))
				mustOK(b, s.CreateKey(ctx, keyFixture))
				var next atomic.Int64
				var failed atomic.Int64
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				for range conc {
					wg.Go(func() {
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							w := signInWrite(fmt.Sprintf("bench%04d@example.com", i%1000), fmt.Sprintf("s-%09d", i), fmt.Sprintf("jti:%09d", i))
							if _, err := s.SignIn(ctx, w); err != nil {
								if failed.Add(1) == 1 {
									b.Error(err)
								}
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "signins/s")
			})
		}
	}
}
