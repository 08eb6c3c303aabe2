package web

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"gatehouse/app"
	"gatehouse/storage/bolt"
)

// metricsWorld is a fixture over a real bolt file whose commits, sign-ins,
// forward-auth checks and store gauges all feed one Metrics, wired as main
// wires them.
type metricsWorld struct {
	*fixture
	m *Metrics
}

func newMetricsWorld(t *testing.T) metricsWorld {
	t.Helper()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "gatehouse.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	m := NewMetrics(nil)
	store.ObserveCommits(m)
	f := newFixtureWithStore(t, store)
	m.WatchStore(f.svc)
	srv, err := New(Options{Service: f.svc, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	if f.handler, err = srv.PublicHandler(); err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	return metricsWorld{fixture: f, m: m}
}

// scrape GETs /metrics from h and returns the body.
func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// TestMetricsOffThePublicListener is issue 10 item 9: the public listener
// has no /metrics; the admin socket and the metrics listener serve it, and
// an organization's admin token cannot read it.
func TestMetricsOffThePublicListener(t *testing.T) {
	w := newMetricsWorld(t)
	for _, p := range []string{"/metrics", "/metrics/", "/Metrics", "/metrics?format=text"} {
		for _, method := range []string{"GET", "HEAD", "POST"} {
			rec := w.do(httptest.NewRequest(method, p, nil))
			if rec.Code != http.StatusNotFound {
				t.Errorf("public %s %s: %d, want 404", method, p, rec.Code)
			}
			if strings.Contains(rec.Body.String(), "gatehouse_") {
				t.Errorf("public %s %s leaks metrics", method, p)
			}
		}
	}

	sock, err := w.srv.AdminHandler(OperatorAuth)
	if err != nil {
		t.Fatal(err)
	}
	out := scrape(t, sock)
	want := `gatehouse_build_info{goversion="` + runtime.Version() + `",version="`
	if !strings.Contains(out, want) {
		t.Errorf("admin socket metrics lack %s…", want)
	}

	ml := w.srv.MetricsHandler()
	if out := scrape(t, ml); !strings.Contains(out, "gatehouse_build_info") {
		t.Error("metrics listener lacks gatehouse_build_info")
	}
	for _, c := range []struct {
		method, path string
		want         int
	}{{"GET", "/", 404}, {"GET", "/api/v1/orgs", 404}, {"GET", "/sso/jwt", 404}, {"POST", "/metrics", 405}} {
		rec := httptest.NewRecorder()
		ml.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.want {
			t.Errorf("metrics listener %s %s: %d, want %d", c.method, c.path, rec.Code, c.want)
		}
	}

	// An organization's admin token (admin.listen) is not the operator.
	tokenAuth := func(*gin.Context) (app.Actor, error) {
		return app.Actor{Kind: app.ActorToken, OrgID: "acme", Role: app.RoleAdmin, TokenID: "tok_test"}, nil
	}
	tcp, err := w.srv.AdminHandler(tokenAuth)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	tcp.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusForbidden || strings.Contains(rec.Body.String(), "gatehouse_") {
		t.Errorf("admin token reading metrics: %d %.200s", rec.Code, rec.Body)
	}
}

// documentedMetrics reads the metrics table of docs/operations.md: name →
// sorted label names.
func documentedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `(gatehouse_[a-z0-9_]+)(?:\\{([a-z_,]+)\\})?` \\|")
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := row.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		var labels []string
		if m[2] != "" {
			labels = strings.Split(m[2], ",")
		}
		sort.Strings(labels)
		out[m[1]] = labels
	}
	if len(out) == 0 {
		t.Fatal("docs/operations.md has no metrics table")
	}
	return out
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? `)
var labelName = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"`)

// servedMetrics parses a scrape: family name → sorted label names, with a
// histogram's _bucket/_sum/_count folded into its family and "le" dropped.
func servedMetrics(out string) map[string][]string {
	families := map[string][]string{}
	histograms := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			if name, kind, _ := strings.Cut(f, " "); kind == "histogram" {
				histograms[name] = true
			}
		}
	}
	for _, line := range strings.Split(out, "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil || !strings.HasPrefix(m[1], "gatehouse_") {
			continue
		}
		name := m[1]
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && histograms[base] {
				name = base
			}
		}
		var labels []string
		for _, l := range labelName.FindAllStringSubmatch(m[2], -1) {
			if l[1] != "le" {
				labels = append(labels, l[1])
			}
		}
		sort.Strings(labels)
		families[name] = labels
	}
	return families
}

// TestMetricsMatchDocs: every metric docs/operations.md promises is served
// with exactly the label names it promises, and nothing undocumented is
// served. The world signs in, checks forward-auth and commits to a real
// bolt file first, so every family has samples.
func TestMetricsMatchDocs(t *testing.T) {
	w := newMetricsWorld(t)
	cookie := w.signInCookie(t, w.claims(), "")
	w.signIn("not-a-token")
	for _, q := range []string{"?org=acme&tenant=t1", "?org=acme&tenant=t2", "?tenant=t1"} {
		w.verifyWith(cookie, q)
	}
	w.verifyWith("", "")
	w.m.KeyUsed("acme", w.kid, w.clock.Now())
	// The service counts sign-ins through its Observer; this fixture's
	// service has none, so record one as main's wiring would.
	w.m.SignIn("jwt", "success", "", 0)
	w.m.JWKSRefreshFailed(w.partner.ID) // a counter vector shows only once it has a sample
	sock, err := w.srv.AdminHandler(OperatorAuth)
	if err != nil {
		t.Fatal(err)
	}
	out := scrape(t, sock)
	served := servedMetrics(out)
	docs := documentedMetrics(t)
	for name, labels := range docs {
		got, ok := served[name]
		if !ok {
			t.Errorf("docs promise %s, not served", name)
			continue
		}
		if strings.Join(got, ",") != strings.Join(labels, ",") {
			t.Errorf("%s: served labels {%s}, docs promise {%s}", name, strings.Join(got, ","), strings.Join(labels, ","))
		}
	}
	for name := range served {
		if _, ok := docs[name]; !ok {
			t.Errorf("%s is served but not documented in docs/operations.md", name)
		}
	}
	// Every mention elsewhere (PromQL in alerts, prose in README and docs)
	// uses served metrics and label names only.
	mention := regexp.MustCompile(`(gatehouse_[a-z0-9_]+)\{([^}]*)\}`)
	matcher := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	files, _ := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	for _, file := range append(files, filepath.Join("..", "README.md")) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mention.FindAllStringSubmatch(string(b), -1) {
			name := m[1]
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suffix); ok && served[base] != nil {
					name = base
				}
			}
			labels, ok := served[name]
			if !ok {
				t.Errorf("%s mentions %s, which is not served", file, m[0])
				continue
			}
			names := matcher.FindAllStringSubmatch(m[2], -1)
			if len(names) == 0 { // a table row: {a,b}
				for _, n := range strings.Split(m[2], ",") {
					names = append(names, []string{"", strings.TrimSpace(n)})
				}
			}
			for _, n := range names {
				if n[1] != "le" && !contains(labels, n[1]) {
					t.Errorf("%s: %s uses label %q; %s has {%s}", file, m[0], n[1], name, strings.Join(labels, ","))
				}
			}
		}
	}
	// The commit metrics saw the fixture's real bolt commits.
	if !regexp.MustCompile(`(?m)^gatehouse_store_commit_requests_count [1-9]`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^gatehouse_store_commit_duration_seconds_count [1-9]`).MatchString(out) {
		t.Errorf("no store commits observed:\n%s", grepLines(out, "gatehouse_store_commit"))
	}
	for _, want := range []string{`gatehouse_forward_auth_total{outcome="allowed"} 1`, `gatehouse_forward_auth_total{outcome="forbidden"} 1`,
		`gatehouse_forward_auth_total{outcome="invalid_request"} 1`, `gatehouse_forward_auth_total{outcome="unauthenticated"} 1`} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func grepLines(s, sub string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
