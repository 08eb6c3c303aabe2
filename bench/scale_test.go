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

// BenchmarkScale is BenchmarkSignIn's first sign-ins and BenchmarkForwardAuth
// over a database that already holds GATEHOUSE_BENCH_USERS users and as many
// live sessions, written straight through the store (not over HTTP) before
// the server starts. Compare its req/s and cpu-µs/req with the empty
// database's; it also reports the file's size per user.
//
//	GATEHOUSE_BENCH_USERS=1000000 go test -run '^$' -bench Scale -benchtime 6000x -timeout 60m ./bench
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
	w := startWorld(b, func(dataDir string) {
		start := time.Now()
		cookies, dbBytes = generateUsers(b, dataDir, n, publicPEM(b, benchKey(b)))
		b.Logf("generated %d users and sessions in %s: %d bytes, %.0f bytes per user", n, time.Since(start).Round(time.Second), dbBytes, float64(dbBytes)/float64(n))
	})
	ref := startReference(b, "verify", w.pubPEM)
	mkGH, mkRef := signInRequest(w.srv.Base), signInRequest(ref.Base)
	b.Run("signin-first/c32", func(b *testing.B) {
		forms := w.tokens(b, b.N, freshEmails(b.N))
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
		b.ReportMetric(float64(dbBytes)/float64(n), "db-bytes/user")
	})
	cookieFile := filepath.Join(b.TempDir(), "cookies")
	if err := os.WriteFile(cookieFile, []byte(joinLines(cookies)), 0o600); err != nil {
		b.Fatal(err)
	}
	faRef := startReference(b, "forward-auth", cookieFile)
	b.Run("forward-auth/c32", func(b *testing.B) {
		stop := sampleMemory(w.srv.PID())
		b.ResetTimer()
		target, reference := interleaved(b.N, windows, func(isRef bool, lo, hi int) outcome {
			base, pid := w.srv.Base, w.srv.PID()
			if isRef {
				base, pid = faRef.Base, faRef.PID()
			}
			return drive(b, pid, 32, lo, hi, verifyRequest(base, cookies), http.StatusOK, nil)
		})
		b.StopTimer()
		reportMemory(b, stop())
		report(b, target, reference)
	})
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
	for range 64 {
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
				var rnd [10]byte
				_, _ = rand.Read(rnd[:])
				u := storage.User{ID: fmt.Sprintf("usr_%x", rnd), Email: fmt.Sprintf("scale%08d@bench.test", i), Name: "Scale User",
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
