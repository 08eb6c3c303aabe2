package web

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serveReal runs the public handler on a loopback listener with the same
// timeouts as `gatehouse serve` (ServerTimeouts).
func serveReal(t *testing.T, f *fixture) (addr string, srv *http.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv = ServerTimeouts(f.handler)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), srv
}

// TestSlowHeaders: a client that trickles its headers (slowloris) is cut off
// after ReadHeaderTimeout instead of holding a connection forever.
func TestSlowHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	addr, srv := serveReal(t, f)
	if srv.ReadHeaderTimeout <= 0 || srv.ReadHeaderTimeout > 10*time.Second || srv.ReadTimeout <= 0 ||
		srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 1<<20 {
		t.Fatalf("server timeouts: %+v", srv)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "POST /sso/jwt HTTP/1.1\r\nHost: sso.example.test\r\n"); err != nil {
		t.Fatal(err)
	}
	// Keep trickling a header byte a second, as slowloris does.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := io.WriteString(conn, "X"); err != nil {
					return
				}
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(srv.ReadHeaderTimeout + 5*time.Second))
	_, err = io.ReadAll(conn) // returns when the server closes the connection
	took := time.Since(start)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server kept a slow client for %s", took)
	}
	if took < srv.ReadHeaderTimeout-time.Second {
		t.Fatalf("closed after %s, before ReadHeaderTimeout %s", took, srv.ReadHeaderTimeout)
	}
}

// TestOversizeHeaders: headers above MaxHeaderBytes get 431, not a crash or a
// memory spike.
func TestOversizeHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	addr, srv := serveReal(t, f)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	big := strings.Repeat("a", srv.MaxHeaderBytes+4096)
	go io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "+big+"\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
