package e2e

import (
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// identityHeaders are the headers /auth/verify answers and the proxies pass on.
var identityHeaders = []string{"User", "Email", "Name", "Org", "Tenant", "Role", "Assertion"}

// dashboard is a tenant dashboard upstream: it shows the X-Gatehouse-*
// identity the proxy handed it and remembers the last one. gatehouse is
// Gatehouse's public base URL, where its sign-out link points.
type dashboard struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func startDashboard(t testing.TB, title, gatehouse string) *dashboard {
	t.Helper()
	d := &dashboard{}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.seen = append(d.seen, r.Header.Clone())
		d.mu.Unlock()
		var b strings.Builder
		fmt.Fprintf(&b, "<!doctype html><html lang=en><head><meta charset=utf-8><title>%s</title></head><body><main><h1>%s</h1><dl id=identity>",
			html.EscapeString(title), html.EscapeString(title))
		for _, h := range identityHeaders {
			fmt.Fprintf(&b, "<dt>X-Gatehouse-%s</dt><dd id=%s>%s</dd>", h, strings.ToLower(h), html.EscapeString(r.Header.Get("X-Gatehouse-"+h)))
		}
		// Signing out happens on Gatehouse's own page: a form on this
		// dashboard's origin posting to /logout is a cross-site sign-out,
		// which Gatehouse refuses (the #crosssite form proves it).
		fmt.Fprintf(&b, `</dl><p><a id=logout href="%s/">Sign out</a></p><form method=post action="%s/logout"><button id=crosssite type=submit>Cross-site sign-out</button></form></main></body></html>`,
			html.EscapeString(gatehouse), html.EscapeString(gatehouse))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(b.String()))
	}))
	t.Cleanup(d.Close)
	return d
}

// last is the request headers of the most recent request that reached the dashboard.
func (d *dashboard) last() http.Header {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.seen) == 0 {
		return nil
	}
	return d.seen[len(d.seen)-1]
}

func (d *dashboard) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seen)
}

// upstreamAddr is host:port of an httptest server.
func upstreamAddr(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

// proxySite is one virtual host of a reverse proxy: requests for Host are
// checked with Gatehouse's /auth/verify?org=Org&tenant=Tenant and passed to
// Upstream.
type proxySite struct {
	Host     string // server name, without port
	Org      string // default "acme"
	Tenant   string
	Upstream string // host:port
}

// waitListening waits until addr accepts TCP connections.
func waitListening(t testing.TB, addr string, done <-chan struct{}, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			t.Fatalf("proxy exited early:\n%s", logs())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("proxy did not listen on %s:\n%s", addr, logs())
}

// runProxy starts cmd, stops it at cleanup, and waits for addr.
func runProxy(t testing.TB, cmd *exec.Cmd, addr string, logs func() string) {
	t.Helper()
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	all := func() string { return out.String() + logs() }
	waitListening(t, addr, done, all)
}

// docsRecipe is the one fenced block of lang in a documentation file (path
// from the repository root) that calls /auth/verify: the recipe the tests
// run is the recipe people copy.
func docsRecipe(t testing.TB, file, lang string) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(here), "..", "..", file))
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, m := range regexp.MustCompile("(?s)```"+regexp.QuoteMeta(lang)+"\n(.*?)```\n").FindAllStringSubmatch(string(b), -1) {
		if strings.Contains(m[1], "/auth/verify") {
			found = append(found, m[1])
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s has %d %s forward-auth recipes, want exactly one", file, len(found), lang)
	}
	return found[0]
}

// swap replaces the one occurrence of old in s: a recipe that no longer
// reads as the test expects fails loudly instead of running something else.
func swap(t testing.TB, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("recipe has %d occurrences of %q, want 1:\n%s", n, old, s)
	}
	return strings.Replace(s, old, new, 1)
}

// The placeholders of the documented recipes.
const (
	recipeGatehouse = "127.0.0.1:8080"
	recipeUpstream  = "127.0.0.1:3001"
	recipeHost      = "t1.dash.example.com"
	recipeQuery     = "/auth/verify?org=acme&tenant=t1"
	recipeSignIn    = "https://sso.dash.example.com/"
)

func (s proxySite) query() string {
	org := s.Org
	if org == "" {
		org = "acme"
	}
	return "/auth/verify?" + url.Values{"org": {org}, "tenant": {s.Tenant}}.Encode()
}

// nginxConfig is docs/forward-auth.md's nginx recipe, one server block per
// site with its host, tenant and upstream, plain HTTP on listen instead of
// TLS, inside an http block whose pid, logs and temp paths live in dir.
func nginxConfig(t testing.TB, dir, listen, gatehouse, signIn string, sites []proxySite) string {
	t.Helper()
	recipe := docsRecipe(t, "docs/forward-auth.md", "nginx")
	var b strings.Builder
	if os.Geteuid() == 0 {
		// Workers would otherwise drop to nobody, who cannot reach the temp dir.
		if u, err := user.Current(); err == nil {
			fmt.Fprintf(&b, "user %s;\n", u.Username)
		}
	}
	fmt.Fprintf(&b, `worker_processes 1;
daemon off;
master_process on;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 128; }
http {
  access_log %[1]s/access.log;
  client_body_temp_path %[1]s/client_body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
`, dir)
	for _, site := range sites {
		c := swap(t, recipe, "    listen 443 ssl;\n", "    listen "+listen+";\n")
		c = swap(t, c, "    ssl_certificate     /etc/ssl/dash/fullchain.pem;\n", "")
		c = swap(t, c, "    ssl_certificate_key /etc/ssl/dash/privkey.pem;\n", "")
		c = swap(t, c, "server_name "+recipeHost+";", "server_name "+site.Host+";")
		c = swap(t, c, "proxy_pass http://"+recipeGatehouse+recipeQuery+";", "proxy_pass http://"+gatehouse+site.query()+";")
		c = swap(t, c, "proxy_pass http://"+recipeUpstream+";", "proxy_pass http://"+site.Upstream+";")
		c = swap(t, c, "return 302 "+recipeSignIn+";", "return 302 "+signIn+";")
		b.WriteString(c)
	}
	b.WriteString("}\n")
	return b.String()
}

// startNginx runs nginx in the foreground with a generated config whose pid,
// logs and temp paths all live in a temp dir. It returns the listen address.
func startNginx(t testing.TB, gatehouse, signIn string, sites []proxySite) string {
	t.Helper()
	bin := RequireTool(t, "nginx")
	dir := t.TempDir()
	listen := FreePort(t)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConfig(t, dir, listen, gatehouse, signIn, sites)), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := func() string { b, _ := os.ReadFile(filepath.Join(dir, "error.log")); return string(b) }
	if out, err := exec.Command(bin, "-t", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	runProxy(t, exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf), listen, logs)
	return listen
}

// caddyfile is docs/forward-auth.md's Caddy recipe: its tenant site once per
// site (plain HTTP on listen's port, bound to loopback), after a global block
// that turns off the admin API and automatic HTTPS.
func caddyfile(t testing.TB, listen, gatehouse, signIn string, sites []proxySite) string {
	t.Helper()
	recipe := docsRecipe(t, "docs/forward-auth.md", "caddyfile")
	open := recipeHost + " {\n"
	i := strings.Index(recipe, open)
	j := strings.Index(recipe[i:], "\n}\n")
	if i < 0 || j < 0 {
		t.Fatalf("the Caddy recipe has no %q site block:\n%s", recipeHost, recipe)
	}
	site := recipe[i : i+j+3]
	_, port, _ := net.SplitHostPort(listen)
	var b strings.Builder
	fmt.Fprintf(&b, "{\n\tadmin off\n\tauto_https off\n\thttp_port %s\n}\n", port)
	for _, s := range sites {
		c := swap(t, site, open, "http://"+s.Host+":"+port+" {\n\tbind 127.0.0.1\n")
		c = swap(t, c, "forward_auth "+recipeGatehouse+" {", "forward_auth "+gatehouse+" {")
		c = swap(t, c, "uri "+recipeQuery+"\n", "uri "+s.query()+"\n")
		c = swap(t, c, "redir "+recipeSignIn+" 302", "redir "+signIn+" 302")
		c = swap(t, c, "reverse_proxy "+recipeUpstream+"\n", "reverse_proxy "+s.Upstream+"\n")
		b.WriteString("\n" + c)
	}
	return b.String()
}

// startCaddy runs `caddy run` with a generated Caddyfile; HOME and XDG dirs
// point into a temp dir so nothing is written elsewhere.
func startCaddy(t testing.TB, gatehouse, signIn string, sites []proxySite) string {
	t.Helper()
	bin := RequireTool(t, "caddy")
	dir := t.TempDir()
	listen := FreePort(t)
	conf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(conf, []byte(caddyfile(t, listen, gatehouse, signIn, sites)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	val := exec.Command(bin, "validate", "--config", conf, "--adapter", "caddyfile")
	val.Env = env
	if out, err := val.CombinedOutput(); err != nil {
		t.Fatalf("caddy validate: %v\n%s\n%s", err, out, caddyfile(t, listen, gatehouse, signIn, sites))
	}
	cmd := exec.Command(bin, "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = env
	runProxy(t, cmd, listen, func() string { return "" })
	return listen
}
