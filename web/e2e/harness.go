package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds the gatehouse binary once per test process. With
// GATEHOUSE_E2E_BINARY set, that binary is used instead (e.g. to benchmark
// an older release against the same load).
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("GATEHOUSE_E2E_BINARY"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gatehouse-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "gatehouse")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// RequireTool returns the path of an outside program, skipping the test when
// it is missing — except in CI, where .ci/run installs it and missing is a failure.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed; .ci/run should install it", name)
	}
	t.Skipf("%s is not installed", name)
	return ""
}

// FreePort returns a loopback address with a free port.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Server is a running `gatehouse serve`.
type Server struct {
	t       testing.TB
	Dir     string // the data directory
	Config  string // the config file
	Base    string // http://127.0.0.1:port
	Socket  string
	cmd     *exec.Cmd
	out     *lockedBuffer
	done    chan struct{}
	Admin   *http.Client // speaks to the admin socket
	Browser *http.Client // plain client that does not follow redirects
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Start runs `gatehouse serve` with a config whose [server] listen,
// public_url, [storage] dir and [admin] socket are filled in; extra is
// appended verbatim (more sections). Rate limits are off unless extra sets them.
func Start(t testing.TB, extra string) *Server { return StartPrepared(t, extra, nil) }

// StartPrepared is Start with a step between writing the config and starting
// the process: prepare may fill the data directory (e.g. a large database
// generated through the store, for benchmarks).
func StartPrepared(t testing.TB, extra string, prepare func(dataDir string)) *Server {
	t.Helper()
	dir := t.TempDir()
	addr := FreePort(t)
	s := &Server{t: t, Dir: filepath.Join(dir, "data"), Base: "http://" + addr, Socket: filepath.Join(dir, "admin.sock"),
		Config: filepath.Join(dir, "config.toml")}
	cfg := fmt.Sprintf("[server]\nlisten = %q\npublic_url = %q\n\n[storage]\ndir = %q\n\n[admin]\nsocket = %q\n\n", addr, s.Base, s.Dir, s.Socket)
	if !strings.Contains(extra, "[ratelimit]") {
		cfg += "[ratelimit]\nsignin_per_ip = 0\n\n"
	}
	cfg += extra
	if err := os.WriteFile(s.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(s.Dir)
	}
	s.StartProcess()
	t.Cleanup(s.Stop)
	return s
}

// StartProcess (re)starts the server process on the same config and data.
func (s *Server) StartProcess() {
	t := s.t
	t.Helper()
	s.out = &lockedBuffer{}
	s.cmd = exec.Command(Binary(t), "serve", "--config", s.Config)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.Env = append(os.Environ(), "GATEHOUSE_CONFIG=")
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.done) }()
	s.Admin = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", s.Socket)
		}}}
	s.Browser = &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			t.Fatalf("gatehouse serve exited early:\n%s", s.out.String())
		default:
		}
		resp, err := http.Get(s.Base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if _, err := os.Stat(s.Socket); err == nil {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("gatehouse serve did not become healthy:\n%s", s.out.String())
}

// Stop ends the server with SIGINT and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// PID is the server process's id (to read its memory from /proc).
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Output is everything the server process printed so far.
func (s *Server) Output() string { return s.out.String() }

// API calls the admin socket; in is marshalled unless it is already []byte
// or a string. It returns the status and the raw body.
func (s *Server) API(method, path string, in any) (int, []byte) {
	s.t.Helper()
	var body io.Reader
	switch v := in.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(v)
	case string:
		body = strings.NewReader(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			s.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://gatehouse"+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.Admin.Do(req)
	if err != nil {
		s.t.Fatalf("admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// MustAPI is API that fails the test unless the status is want; it decodes into out.
func (s *Server) MustAPI(method, path string, in any, want int, out any) {
	s.t.Helper()
	code, body := s.API(method, path, in)
	if code != want {
		s.t.Fatalf("admin %s %s: status %d, want %d: %s", method, path, code, want, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			s.t.Fatalf("admin %s %s: %v: %s", method, path, err, body)
		}
	}
}

// Run runs the gatehouse binary with args and returns its stdout (failing on error).
func Run(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// World is a seeded organization, tenants, partner and key.
type World struct {
	Org, Tenant, Tenant2 string
	PartnerID            string
	ConsumerKey          string
	ConsumerSecret       string
	Kid                  string
	KeyFile              string // the partner's private key, for `gatehouse sign`
}

// Seed creates org "acme", tenants "t1" (returns under https://dash.example.test/t1/)
// and "t2", partner "Portal" and an RSA key made with `gatehouse keygen`.
func (s *Server) Seed() World {
	s.t.Helper()
	w := World{Org: "acme", Tenant: "t1", Tenant2: "t2"}
	s.MustAPI("POST", "/api/v1/orgs", map[string]any{"id": "acme", "name": "Acme MSSP"}, 201, nil)
	s.MustAPI("POST", "/api/v1/orgs/acme/tenants", map[string]any{"id": "t1", "name": "Tenant One",
		"redirect_url": "https://dash.example.test/t1", "allowed_return_urls": []string{"https://dash.example.test/t1/"}}, 201, nil)
	s.MustAPI("POST", "/api/v1/orgs/acme/tenants", map[string]any{"id": "t2", "name": "Tenant Two",
		"redirect_url": "https://dash.example.test/t2"}, 201, nil)
	var p struct {
		ID             string `json:"id"`
		ConsumerKey    string `json:"consumer_key"`
		ConsumerSecret string `json:"consumer_secret"`
	}
	s.MustAPI("POST", "/api/v1/orgs/acme/partners", map[string]any{"name": "Portal"}, 201, &p)
	w.PartnerID, w.ConsumerKey, w.ConsumerSecret = p.ID, p.ConsumerKey, p.ConsumerSecret
	stem := filepath.Join(filepath.Dir(s.Dir), "partner")
	Run(s.t, "keygen", "--out", stem)
	w.KeyFile = stem + ".key"
	pem, err := os.ReadFile(stem + ".pub")
	if err != nil {
		s.t.Fatal(err)
	}
	var k struct{ Kid string }
	s.MustAPI("POST", "/api/v1/orgs/acme/partners/"+p.ID+"/keys", map[string]any{"pem": string(pem), "label": "e2e"}, 201, &k)
	w.Kid = k.Kid
	return w
}

// Sign makes a token with `gatehouse sign`.
func (w World) Sign(t testing.TB, tenant, email, role string, extra ...string) string {
	args := append([]string{"sign", "--key", w.KeyFile, "--org", w.Org, "--tenant", tenant, "--email", email, "--role", role}, extra...)
	return Run(t, args...)
}
