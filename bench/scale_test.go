package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/app"
	"gatehouse/storage"
	"gatehouse/storage/bolt"
)

// scaleUsersEnv sets how many users (each with one live session)
// BenchmarkScale puts in the database before measuring; unset, it is skipped.
const scaleUsersEnv = "GATEHOUSE_BENCH_USERS"

// BenchmarkScale measures the cost of data: two `gatehouse serve` processes
// side by side, one on a database that already holds GATEHOUSE_BENCH_USERS
// users and as many live sessions (written straight through the store, not
// over HTTP, before it starts), one on an empty database, driven in
// alternating windows of the same run. vs-empty is the large database's
// rate over the empty one's (cpu-vs-empty the same by server CPU per
// request); db-bytes/user is the file's size per generated user. The c64
// lines give the large server's anonymous memory at 64 clients.
//
//	GATEHOUSE_BENCH_USERS=1000000 go test -run '^$' -bench Scale -benchtime 6000x -timeout 120m ./bench
func BenchmarkScale(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv(scaleUsersEnv))
	if n <= 0 {
		b.Skipf("set %s to the number of users to generate", scaleUsersEnv)
	}
	if n < returningUsers {
		b.Fatalf("%s=%d: at least %d users", scaleUsersEnv, n, returningUsers)
	}
	var cookies []string
	var dbBytes int64
	large := startWorld(b, func(dataDir string) {
		start := time.Now()
		cookies, dbBytes = generateUsers(b, dataDir, n, publicPEM(b, benchKey(b)))
		b.Logf("generated %d users and sessions in %s: %d bytes, %.0f bytes per user", n, time.Since(start).Round(time.Second), dbBytes, float64(dbBytes)/float64(n))
	})
	empty := startWorld(b, nil)
	emptyCookies := empty.sessions(b, returningUsers, "fa")
	requireAssertion(b, large, cookies[0])
	mkLarge, mkEmpty := signInRequest(large.srv.Base), signInRequest(empty.srv.Base)
	for _, clients := range []int{32, 64} {
		b.Run(fmt.Sprintf("signin-first/c%d", clients), func(b *testing.B) {
			forms := large.tokens(b, b.N, freshEmails(b.N))
			emptyForms := empty.tokens(b, b.N, freshEmails(b.N))
			stop := sampleMemory(large.srv.PID())
			b.ResetTimer()
			target, base := interleaved(b.N, windows, func(isEmpty bool, lo, hi int) outcome {
				if isEmpty {
					return drive(b, empty.srv.PID(), clients, lo, hi, func(i int) *http.Request { return mkEmpty(emptyForms[i]) }, http.StatusFound, nil)
				}
				return drive(b, large.srv.PID(), clients, lo, hi, func(i int) *http.Request { return mkLarge(forms[i]) }, http.StatusFound, nil)
			})
			b.StopTimer()
			reportMemory(b, stop())
			reportAgainst(b, target, base, "empty")
			b.ReportMetric(float64(dbBytes)/float64(n), "db-bytes/user")
		})
	}
	for _, clients := range []int{32, 64} {
		b.Run(fmt.Sprintf("forward-auth/c%d", clients), func(b *testing.B) {
			stop := sampleMemory(large.srv.PID())
			b.ResetTimer()
			target, base := interleaved(b.N, windows, func(isEmpty bool, lo, hi int) outcome {
				if isEmpty {
					return drive(b, empty.srv.PID(), clients, lo, hi, verifyRequest(empty.srv.Base, emptyCookies), http.StatusOK, nil)
				}
				return drive(b, large.srv.PID(), clients, lo, hi, verifyRequest(large.srv.Base, cookies), http.StatusOK, nil)
			})
			b.StopTimer()
			reportMemory(b, stop())
			reportAgainst(b, target, base, "empty")
		})
	}
}

func joinLines(l []string) string {
	out := make([]byte, 0, len(l)*60)
	for _, s := range l {
		out = append(out, s...)
		out = append(out, '\n')
	}
	return string(out)
}

// generateUsers writes org acme / tenant t1 / partner Portal with the
// benchmark key, then n users each with one live session, through the store
// as sign-ins would leave them (no audit events: their volume is the audit
// retention's business, not the user count's). It returns the cookies of
// 512 sessions spread over the whole range, and the file's size.
func generateUsers(b *testing.B, dataDir string, n int, keyPEM string) ([]string, int64) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	path := filepath.Join(dataDir, "gatehouse.db")
	store, err := bolt.Open(path, bolt.Options{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	keys, err := app.LoadOrCreateKeyFile(nil, dataDir, log)
	if err != nil {
		b.Fatal(err)
	}
	ring, err := app.NewKeyRing(keys, nil)
	if err != nil {
		b.Fatal(err)
	}
	svc, err := app.New(app.Options{Store: store, Config: app.Defaults(), KeyRing: ring, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	_, err = svc.CreateOrg(ctx, app.Operator, app.OrgInput{ID: "acme", Name: "Acme"})
	must(err)
	_, err = svc.CreateTenant(ctx, app.Operator, "acme", app.TenantInput{ID: "t1", Name: "Tenant One", RedirectURL: "https://dash.example.test/t1"})
	must(err)
	p, err := svc.CreatePartner(ctx, app.Operator, "acme", app.PartnerInput{Name: "Portal"})
	must(err)
	_, err = svc.AddKey(ctx, app.Operator, "acme", p.ID, app.KeyInput{PEM: keyPEM})
	must(err)

	now := time.Now()
	const sample = returningUsers
	cookies := make([]string, sample)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	// Enough writers to fill the store's largest group commit (512).
	for range 512 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || failed.Load() != nil {
					return
				}
				raw := make([]byte, 40)
				binary.BigEndian.PutUint64(raw, uint64(now.UnixNano()+int64(i)))
				_, _ = rand.Read(raw[8:])
				token := base64.RawURLEncoding.EncodeToString(raw)
				sid, _ := app.SessionID(token)
				// Time-ordered like the app's own IDs (app/ids.go).
				var rnd [6]byte
				_, _ = rand.Read(rnd[:])
				u := storage.User{ID: fmt.Sprintf("usr_%016x%x", now.UnixNano()+int64(i), rnd), Email: fmt.Sprintf("scale%08d@bench.test", i), Name: "Scale User",
					OrgID: "acme", TenantID: "t1", Role: "admin", PartnerSSO: true, PartnerID: p.ID, CreatedAt: now, LastSignInAt: now}
				_, err := store.SignIn(ctx, storage.SignInWrite{
					Now: now, OrgID: "acme", Email: u.Email,
					Provision: func(*storage.User, func(string) int) (storage.User, error) { return u, nil },
					Session:   storage.Session{ID: sid, OrgID: "acme", PartnerID: p.ID, CreatedAt: now, ExpiresAt: now.Add(8 * time.Hour)},
				})
				if err != nil {
					failed.CompareAndSwap(nil, err.Error())
					return
				}
				if i%(n/sample) == 0 && i/(n/sample) < sample {
					cookies[i/(n/sample)] = token
				}
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f != nil {
		b.Fatal(f)
	}
	must(store.Close())
	fi, err := os.Stat(path)
	must(err)
	return cookies, fi.Size()
}
