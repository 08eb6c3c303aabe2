package e2e

import (
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/app"
	"gatehouse/storage/postgres/pgtest"
)

// clusterKey is the one encryption key every instance of a test cluster
// shares (SPEC §3: driver postgres needs configured keys).
var clusterKey = base64.RawURLEncoding.EncodeToString([]byte("e2e-cluster-key-32-bytes-long!!!"))

// cluster is several `gatehouse serve` processes on one PostgreSQL database
// (SPEC §7), optionally behind nginx.
type cluster struct {
	t      *testing.T
	db     string // the database URL every instance uses
	public string // the external base URL (the balancer's, when there is one)
	nodes  []*Server
}

// startNode runs one instance on db at addr, announcing public as its URL.
// extra is appended to its config file (more sections).
func startNode(t *testing.T, db, addr, public, extra string) *Server {
	t.Helper()
	dir := t.TempDir()
	s := &Server{t: t, Dir: filepath.Join(dir, "data"), Base: "http://" + addr, Socket: filepath.Join(dir, "admin.sock"),
		Config: filepath.Join(dir, "config.toml")}
	cfg := fmt.Sprintf(`[server]
listen = %q
public_url = %q
trusted_proxies = ["127.0.0.1"]

[storage]
driver = "postgres"
dir = %q
postgres_url = %q
postgres_max_conns = 8

[admin]
socket = %q

[crypto]
encryption_keys = { 1 = %q }

[ratelimit]
signin_per_ip = 0

%s`, addr, public, s.Dir, db, s.Socket, clusterKey, extra)
	if err := os.WriteFile(s.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.StartProcess()
	t.Cleanup(s.Stop)
	return s
}

// startCluster starts n instances on a fresh database (db, or a new one
// from pgtest when db is ""), each at its own address, all announcing public
// ("" = each its own address).
func startCluster(t *testing.T, n int, db, public, extra string) *cluster {
	t.Helper()
	if db == "" {
		db = pgtest.NewDatabase(t)
	}
	c := &cluster{t: t, db: db, public: public}
	for i := 0; i < n; i++ {
		addr := FreePort(t)
		pub := public
		if pub == "" {
			pub = "http://" + addr
		}
		c.nodes = append(c.nodes, startNode(t, db, addr, pub, extra))
	}
	return c
}

// servedBy reports whether the node's log shows a request to path answered
// with status.
func servedBy(s *Server, method, path string, status int) bool {
	want := fmt.Sprintf("method=%s path=%s status=%d", method, path, status)
	return strings.Contains(s.Output(), want)
}

// startBalancerListen runs nginx on listen with an `upstream gatehouse`
// balancing round robin over the nodes: sso.gh.localhost (and any other
// name without a site) proxies everything to it, and the dashboard sites
// ask it /auth/verify, so forward-auth can land on another instance than
// the sign-in. It returns listen.
func startBalancerListen(t *testing.T, listen string, nodes []*Server, signIn string, sites []proxySite) string {
	t.Helper()
	bin := RequireTool(t, "nginx")
	dir := t.TempDir()
	conf := nginxConfig(t, dir, listen, "gatehouse", signIn, sites)
	conf = strings.Replace(conf, "http {\n", "http {\n"+documentedBalancer(t, listen, nodes), 1)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := func() string { b, _ := os.ReadFile(filepath.Join(dir, "error.log")); return string(b) }
	balancerLog = logsFunc(logs)
	if out, err := exec.Command(bin, "-t", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", path).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s\n%s", err, out, conf)
	}
	runProxy(t, exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", path), listen, logs)
	return listen
}

// documentedBalancer is docs/examples/several-instances/nginx.conf made
// runnable here: the example upstream servers become the nodes, the TLS
// listener a plain one on listen, the server name sso.gh.localhost.
func documentedBalancer(t *testing.T, listen string, nodes []*Server) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "examples", "several-instances", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	placed := false
	for _, line := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "server 10.0.0."):
			if !placed {
				_, params, _ := strings.Cut(strings.TrimSuffix(trimmed, ";"), " ")
				_, params, _ = strings.Cut(params, " ")
				for _, n := range nodes {
					fmt.Fprintf(&out, "    server %s %s;\n", strings.TrimPrefix(n.Base, "http://"), params)
				}
				placed = true
			}
		case trimmed == "listen 443 ssl;":
			fmt.Fprintf(&out, "    listen %s default_server;\n", listen)
		case strings.HasPrefix(trimmed, "ssl_certificate"):
		case trimmed == "server_name sso.example.com;":
			out.WriteString("    server_name sso.gh.localhost;\n")
		default:
			out.WriteString(line + "\n")
		}
	}
	if !placed {
		t.Fatal("the documented nginx example has no upstream servers to replace")
	}
	return out.String()
}

// postToken posts a token form to base+path and returns the response
// (closed) and its session cookie, if any.
func postToken(t *testing.T, c *http.Client, base, path, token string) (*http.Response, *http.Cookie) {
	t.Helper()
	resp, err := c.PostForm(base+path, url.Values{"token": {token}})
	if err != nil {
		t.Fatalf("POST %s%s: %v", base, path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "gatehouse_session" {
			return resp, ck
		}
	}
	return resp, nil
}

// signer signs partner tokens in process with the World's key file (the
// `gatehouse sign` subprocess is too slow to feed a load test).
type signer struct {
	w   World
	key *rsa.PrivateKey
}

func newSigner(t *testing.T, w World) *signer {
	t.Helper()
	data, err := os.ReadFile(w.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	k, err := app.LoadPrivateKeyPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	return &signer{w: w, key: k}
}

// tokenQuiet signs a sign-in token; it is called from load goroutines,
// which may not stop the test, so a failure yields a token that is refused.
func (s *signer) tokenQuiet(tenant, email, role string) string {
	tok, err := app.SignToken(s.key, s.w.Kid, app.NewTokenClaims(s.w.Org, tenant, email, role, "", time.Now(), 30*time.Minute))
	if err != nil {
		return "unsigned"
	}
	return tok
}

// tcpProxy forwards loopback TCP connections to a target and can be
// paused: a paused proxy keeps every connection open but drops whatever
// either side sends (no RST, no FIN: only silence), which is what a database
// that stops answering, or a network partition, looks like to its clients.
// On Resume the connections that lost bytes are closed (their protocol
// streams are broken, as after a real partition) and new ones work again.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	paused bool
	resume chan struct{}
	conns  map[*proxyConn]bool
}

// proxyConn is one client connection and its upstream.
type proxyConn struct {
	client, upstream net.Conn
	tainted          atomic.Bool // dropped bytes while paused
}

func startTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, resume: make(chan struct{}), conns: map[*proxyConn]bool{}}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.Resume()
		p.mu.Lock()
		for c := range p.conns {
			c.client.Close()
			c.upstream.Close()
		}
		p.mu.Unlock()
	})
	return p
}

func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

// Pause starts dropping every byte, on open connections and new ones.
func (p *tcpProxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.paused {
		p.paused = true
		p.resume = make(chan struct{})
	}
}

// Resume forwards again, closing the connections that lost bytes.
func (p *tcpProxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.paused {
		return
	}
	p.paused = false
	close(p.resume)
	for c := range p.conns {
		if c.tainted.Load() {
			c.client.Close()
			c.upstream.Close()
			delete(p.conns, c)
		}
	}
}

func (p *tcpProxy) isPaused() (bool, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused, p.resume
}

func (p *tcpProxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			// A connection opened while paused gets no answer until Resume.
			if paused, ch := p.isPaused(); paused {
				<-ch
			}
			upstream, err := net.Dial("tcp", p.target)
			if err != nil {
				client.Close()
				return
			}
			c := &proxyConn{client: client, upstream: upstream}
			p.mu.Lock()
			p.conns[c] = true
			p.mu.Unlock()
			go p.pipe(c, upstream, client)
			p.pipe(c, client, upstream)
		}()
	}
}

func (p *tcpProxy) pipe(c *proxyConn, dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if paused, _ := p.isPaused(); paused {
				c.tainted.Store(true)
			} else if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// logsFunc prints as the text it returns (for failure messages).
type logsFunc func() string

func (l logsFunc) String() string { return l() }

// balancerLog is the last started balancer's error log.
var balancerLog logsFunc = func() string { return "" }
