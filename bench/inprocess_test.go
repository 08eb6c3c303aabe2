package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"testing"

	"gatehouse/app"
	"gatehouse/storage/bolt"
	"gatehouse/web"
)

// BenchmarkProfile runs the same server as `gatehouse serve` wires it (bbolt,
// fsync on, key ring, Prometheus metrics, info-level text log to a file,
// ServerTimeouts) inside the benchmark process, on a real TCP listener, so
// `-cpuprofile` and `-memprofile` see the server's hot paths. The load
// generator shares the profile (net/http client frames); the figures to
// quote are BenchmarkSignIn's and BenchmarkForwardAuth's, which run the
// real binary. See docs/performance.md.
//
// With GATEHOUSE_BENCH_PROFILE=<dir>, a CPU profile and allocation profiles
// (before/after, for pprof -base) cover only the timed window of each
// sub-benchmark, not the token signing before it.
func BenchmarkProfile(b *testing.B) {
	dir := b.TempDir()
	logFile, err := os.Create(filepath.Join(dir, "gatehouse.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	log := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))
	store, err := bolt.Open(filepath.Join(dir, "gatehouse.db"), bolt.Options{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	keys, err := app.LoadOrCreateKeyFile(nil, dir, log)
	if err != nil {
		b.Fatal(err)
	}
	ring, err := app.NewKeyRing(keys, nil)
	if err != nil {
		b.Fatal(err)
	}
	cfg := app.Defaults()
	cfg.RateLimit.SigninPerIP = 1000000000
	mets := web.NewMetrics(nil)
	svc, err := app.New(app.Options{Store: store, Config: cfg, KeyRing: ring, Logger: log, Observer: mets,
		Limiter: app.NewPartnerLimiter(cfg.RateLimit.SigninPerPartner)})
	if err != nil {
		b.Fatal(err)
	}
	mets.WatchStore(svc)
	srv, err := web.New(web.Options{Service: svc, Logger: log, Metrics: mets})
	if err != nil {
		b.Fatal(err)
	}
	h, err := srv.PublicHandler()
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := web.ServerTimeouts(h)
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	base := "http://" + ln.Addr().String()

	ctx := context.Background()
	w := &world{key: benchKey(b)}
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	_, err = svc.CreateOrg(ctx, app.Operator, app.OrgInput{ID: "acme", Name: "Acme"})
	must(err)
	_, err = svc.CreateTenant(ctx, app.Operator, "acme", app.TenantInput{ID: "t1", Name: "T1", RedirectURL: "https://dash.example.test/t1"})
	must(err)
	p, err := svc.CreatePartner(ctx, app.Operator, "acme", app.PartnerInput{Name: "Portal"})
	must(err)
	k, err := svc.AddKey(ctx, app.Operator, "acme", p.ID, app.KeyInput{PEM: publicPEM(b, w.key)})
	must(err)
	w.kid = k.Kid

	mk := signInRequest(base)
	b.Run("signin-first/c32", func(b *testing.B) {
		forms := w.tokens(b, b.N, freshEmails(b.N))
		stop := profileWindow(b, "signin-first")
		b.ResetTimer()
		o := drive(b, 0, 32, 0, b.N, func(i int) *http.Request { return mk(forms[i]) }, http.StatusFound, nil)
		b.StopTimer()
		stop()
		report(b, o, outcome{})
	})
	forms := w.tokens(b, returningUsers, func(i int) string { return fmt.Sprintf("fa%04d@bench.test", i) })
	cookies := make([]string, returningUsers)
	drive(b, 0, 32, 0, returningUsers, func(i int) *http.Request { return mk(forms[i]) }, http.StatusFound, func(i int, resp *http.Response) {
		for _, c := range resp.Cookies() {
			if c.Name == srv.CookieName() {
				cookies[i] = c.Value
			}
		}
	})
	b.Run("signin-returning/c32", func(b *testing.B) {
		forms := w.tokens(b, b.N, func(i int) string { return fmt.Sprintf("fa%04d@bench.test", i%returningUsers) })
		stop := profileWindow(b, "signin-returning")
		b.ResetTimer()
		o := drive(b, 0, 32, 0, b.N, func(i int) *http.Request { return mk(forms[i]) }, http.StatusFound, nil)
		b.StopTimer()
		stop()
		report(b, o, outcome{})
	})
	// The steady state of BenchmarkForwardAuth: every session's assertion signed once.
	drive(b, 0, 32, 0, returningUsers, verifyRequest(base, cookies), http.StatusOK, nil)
	b.Run("forward-auth/c32", func(b *testing.B) {
		stop := profileWindow(b, "forward-auth")
		b.ResetTimer()
		o := drive(b, 0, 32, 0, b.N, verifyRequest(base, cookies), http.StatusOK, nil)
		b.StopTimer()
		stop()
		report(b, o, outcome{})
	})
}

// profileWindow starts the profiles GATEHOUSE_BENCH_PROFILE asks for; the
// returned stop ends them. Runs with b.N == 1 (calibration) are skipped.
func profileWindow(b *testing.B, name string) (stop func()) {
	dir := os.Getenv("GATEHOUSE_BENCH_PROFILE")
	if dir == "" || b.N == 1 {
		return func() {}
	}
	writeAllocs := func(suffix string) {
		f, err := os.Create(filepath.Join(dir, name+suffix))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		runtime.GC()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			b.Fatal(err)
		}
	}
	writeAllocs(".allocs.base")
	cpu, err := os.Create(filepath.Join(dir, name+".cpu"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		cpu.Close()
		writeAllocs(".allocs")
	}
}
