package bench

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The reference servers run as child processes of the test binary (so each
// has its own process, like `gatehouse serve`): TestMain turns the binary
// into one when referenceEnv names it.
const (
	referenceEnv    = "GATEHOUSE_BENCH_REFERENCE" // "verify" or "forward-auth"
	referenceArgEnv = "GATEHOUSE_BENCH_REFERENCE_ARG"
)

func TestMain(m *testing.M) {
	switch os.Getenv(referenceEnv) {
	case "":
		os.Exit(m.Run())
	case "verify":
		serveReference(verifyReference(os.Getenv(referenceArgEnv)))
	case "forward-auth":
		serveReference(forwardAuthReference(os.Getenv(referenceArgEnv)))
	default:
		fmt.Fprintln(os.Stderr, "unknown reference", os.Getenv(referenceEnv))
		os.Exit(2)
	}
}

// serveReference listens on a loopback port, prints it, and serves until killed.
func serveReference(h http.Handler) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintln(os.Stderr, srv.Serve(ln))
	os.Exit(1)
}

// verifyReference is the least a sign-in can do: read the form, verify the
// RS256 token with go-jose against the one key, decode its claims, set a
// random session cookie and answer 302. Nothing is stored or checked beyond
// the signature and expiry.
func verifyReference(pubPEMFile string) http.Handler {
	raw, err := os.ReadFile(pubPEMFile)
	if err != nil {
		panic(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		panic("no PEM block in " + pubPEMFile)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/sso/jwt" {
			http.NotFound(w, r)
			return
		}
		tok, err := jwt.ParseSigned(r.PostFormValue("token"), []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		var claims struct {
			jwt.Claims
			Email    string `json:"email"`
			TenantID string `json:"tenantId"`
		}
		if err := tok.Claims(pub, &claims); err != nil || claims.Email == "" {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if err := claims.ValidateWithLeeway(jwt.Expected{Time: time.Now()}, time.Minute); err != nil {
			http.Error(w, "expired", http.StatusUnauthorized)
			return
		}
		var b [32]byte
		_, _ = rand.Read(b[:])
		http.SetCookie(w, &http.Cookie{Name: "ref_session", Value: base64.RawURLEncoding.EncodeToString(b[:]),
			Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		w.Header().Set("Location", "https://dash.example.test/"+claims.TenantID)
		w.WriteHeader(http.StatusFound)
	})
}

// forwardAuthReference is the least a forward-auth check can do: hash the
// cookie, look the hash up in a map, answer 200 with six identity headers.
// The map holds the cookies listed (one per line) in the file it is given.
func forwardAuthReference(cookieFile string) http.Handler {
	raw, err := os.ReadFile(cookieFile)
	if err != nil {
		panic(err)
	}
	type identity struct{ user, email, name, org, tenant, role string }
	sessions := map[string]identity{}
	for i, c := range strings.Fields(string(raw)) {
		sum := sha256.Sum256([]byte(c))
		sessions[hex.EncodeToString(sum[:])] = identity{fmt.Sprintf("usr_%020d", i), fmt.Sprintf("user%d@bench.test", i),
			fmt.Sprintf("User %d", i), "acme", "t1", "admin"}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("gatehouse_session")
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		sum := sha256.Sum256([]byte(c.Value))
		id, ok := sessions[hex.EncodeToString(sum[:])]
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h := w.Header()
		h.Set("X-Gatehouse-User", id.user)
		h.Set("X-Gatehouse-Email", id.email)
		h.Set("X-Gatehouse-Name", id.name)
		h.Set("X-Gatehouse-Org", id.org)
		h.Set("X-Gatehouse-Tenant", id.tenant)
		h.Set("X-Gatehouse-Role", id.role)
		w.WriteHeader(http.StatusOK)
	})
}

// reference is a running reference server process.
type reference struct {
	cmd  *exec.Cmd
	Base string
}

func (r *reference) PID() int { return r.cmd.Process.Pid }

// startReference runs this test binary as the named reference server.
func startReference(b *testing.B, kind, arg string) *reference {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), referenceEnv+"="+kind, referenceArgEnv+"="+arg)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("reference %s: %v", kind, err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if !ok {
		b.Fatalf("reference %s said %q", kind, line)
	}
	return &reference{cmd: cmd, Base: "http://" + addr}
}
