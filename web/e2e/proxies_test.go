package e2e

import (
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// identityHeaders are the headers /auth/verify answers and the proxies pass on.
var identityHeaders = []string{"User", "Email", "Name", "Org", "Tenant", "Role"}

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
// checked with Gatehouse's /auth/verify?tenant=Tenant and passed to Upstream.
type proxySite struct {
	Host     string // server name, without port
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

// nginxConfig is the tested nginx configuration (docs/forward-auth.md shows
// the same blocks). signIn is where a request without a session is sent.
func nginxConfig(dir, listen, gatehouse, signIn string, sites []proxySite) string {
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
	for _, s := range sites {
		fmt.Fprintf(&b, `
  server {
    listen %[1]s;
    server_name %[2]s;

    # Ask Gatehouse who this is; the Cookie header goes along.
    location = /_gatehouse_verify {
      internal;
      proxy_pass http://%[3]s/auth/verify?org=acme&tenant=%[4]s;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
    }

    location / {
      auth_request /_gatehouse_verify;
      auth_request_set $gh_user   $upstream_http_x_gatehouse_user;
      auth_request_set $gh_email  $upstream_http_x_gatehouse_email;
      auth_request_set $gh_name   $upstream_http_x_gatehouse_name;
      auth_request_set $gh_org    $upstream_http_x_gatehouse_org;
      auth_request_set $gh_tenant $upstream_http_x_gatehouse_tenant;
      auth_request_set $gh_role   $upstream_http_x_gatehouse_role;
      # Always set (never passed through from the client).
      proxy_set_header X-Gatehouse-User   $gh_user;
      proxy_set_header X-Gatehouse-Email  $gh_email;
      proxy_set_header X-Gatehouse-Name   $gh_name;
      proxy_set_header X-Gatehouse-Org    $gh_org;
      proxy_set_header X-Gatehouse-Tenant $gh_tenant;
      proxy_set_header X-Gatehouse-Role   $gh_role;
      proxy_set_header Host $host;
      error_page 401 = @gatehouse_signin;
      proxy_pass http://%[5]s;
    }

    location @gatehouse_signin {
      return 302 %[6]s;
    }
  }
`, listen, s.Host, gatehouse, s.Tenant, s.Upstream, signIn)
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
	if err := os.WriteFile(conf, []byte(nginxConfig(dir, listen, gatehouse, signIn, sites)), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := func() string { b, _ := os.ReadFile(filepath.Join(dir, "error.log")); return string(b) }
	if out, err := exec.Command(bin, "-t", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	runProxy(t, exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf), listen, logs)
	return listen
}

// caddyfile is the tested Caddy configuration (docs/forward-auth.md).
func caddyfile(listen, gatehouse, signIn string, sites []proxySite) string {
	_, port, _ := net.SplitHostPort(listen)
	var b strings.Builder
	fmt.Fprintf(&b, "{\n\tadmin off\n\tauto_https off\n\thttp_port %s\n}\n", port)
	headers := make([]string, len(identityHeaders))
	for i, h := range identityHeaders {
		headers[i] = "X-Gatehouse-" + h
	}
	sort.Strings(headers)
	for _, s := range sites {
		fmt.Fprintf(&b, `
http://%[1]s:%[2]s {
	bind 127.0.0.1
	# route keeps the written order: strip, then ask, then proxy.
	route {
		# Never trust identity headers a client sends itself.
		request_header -X-Gatehouse-*
		forward_auth %[3]s {
			uri /auth/verify?org=acme&tenant=%[4]s
			copy_headers %[5]s
			@signin status 401
			handle_response @signin {
				redir %[6]s 302
			}
		}
		reverse_proxy %[7]s
	}
}
`, s.Host, port, gatehouse, s.Tenant, strings.Join(headers, " "), signIn, s.Upstream)
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
	if err := os.WriteFile(conf, []byte(caddyfile(listen, gatehouse, signIn, sites)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	val := exec.Command(bin, "validate", "--config", conf, "--adapter", "caddyfile")
	val.Env = env
	if out, err := val.CombinedOutput(); err != nil {
		t.Fatalf("caddy validate: %v\n%s\n%s", err, out, caddyfile(listen, gatehouse, signIn, sites))
	}
	cmd := exec.Command(bin, "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = env
	runProxy(t, cmd, listen, func() string { return "" })
	return listen
}
