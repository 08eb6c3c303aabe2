package postgres

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"gatehouse/storage"
)

// faultProxy sits between a Store and the real server on a loopback port and
// plays the database's failures: refusing connections (the server is down)
// and swallowing bytes (the server or the network hangs).
type faultProxy struct {
	t      *testing.T
	addr   string // the proxy's listening address, kept across restarts
	dial   func() (net.Conn, error)
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
	hang   bool
	closed bool
}

func newFaultProxy(t *testing.T, dbURL string) (*faultProxy, string) {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dbURL)
	mustOK(t, err)
	network, target := "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if strings.HasPrefix(cfg.Host, "/") {
		network, target = "unix", cfg.Host+"/.s.PGSQL."+strconv.Itoa(int(cfg.Port))
	}
	p := &faultProxy{t: t, dial: func() (net.Conn, error) { return net.Dial(network, target) }}
	p.listen("127.0.0.1:0")
	t.Cleanup(p.stop)
	host, port, _ := net.SplitHostPort(p.addr)
	if u, err := url.Parse(dbURL); err == nil && u.Scheme != "" {
		q := u.Query()
		q.Del("host")
		u.RawQuery = q.Encode()
		u.Host = net.JoinHostPort(host, port)
		return p, u.String()
	}
	return p, dbURL + " host=" + host + " port=" + port
}

func (p *faultProxy) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	mustOK(p.t, err)
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
}

func (p *faultProxy) serve(c net.Conn) {
	up, err := p.dial()
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, c, up)
	p.mu.Unlock()
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if err != nil {
				dst.Close()
				return
			}
			p.mu.Lock()
			hang := p.hang
			p.mu.Unlock()
			if hang {
				continue // swallowed: the other side waits for an answer that never comes
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				src.Close()
				return
			}
		}
	}
	go pipe(up, c)
	go pipe(c, up)
}

// down closes the listener and every connection: the server is gone.
func (p *faultProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// up listens again on the same port: the server is back.
func (p *faultProxy) up() { p.listen(p.addr) }

func (p *faultProxy) setHang(h bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hang = h
	if !h {
		// Connections that lost bytes are useless; the pool dials anew.
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

func (p *faultProxy) stop() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.down()
}

// waitReady pings until the store answers, for at most limit.
func waitReady(t *testing.T, s *Store, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := s.Ping(t.Context())
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("the store did not recover within %v: %v", limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestUnavailable: a database that refuses connections or stops answering
// surfaces as storage.ErrUnavailable within the query timeout (the service
// answers 503), nothing is half-written, and the same Store recovers by
// itself once the database is back. Elapsed times are logged, not asserted
// beyond the contract's bounds (SPEC §7: 5 s refused, 10 s hung, recovery
// within 10 s).
func TestUnavailable(t *testing.T) {
	proxy, viaProxy := newFaultProxy(t, newDatabase(t))
	s := openTest(t, viaProxy, Options{QueryTimeout: time.Second, ConnectTimeout: time.Second})
	defer s.Close()
	ctx := t.Context()
	mustOK(t, s.CreateOrg(ctx, orgFixture))
	mustOK(t, s.CreateTenant(ctx, tenantFixture))
	mustOK(t, s.CreatePartner(ctx, partnerFixture))
	mustOK(t, s.CreateKey(ctx, keyFixture))

	for _, fault := range []struct {
		name         string
		start, clear func()
		bound        time.Duration
	}{
		{"refused", proxy.down, proxy.up, 5 * time.Second},
		{"hung", func() { proxy.setHang(true) }, func() { proxy.setHang(false) }, 10 * time.Second},
	} {
		t.Run(fault.name, func(t *testing.T) {
			fault.start()
			for _, op := range []struct {
				name string
				call func() error
			}{
				{"Ping", func() error { return s.Ping(ctx) }},
				{"SignIn", func() error {
					_, err := s.SignIn(ctx, signInWrite("f-"+fault.name+"@example.com", "s-"+fault.name, "jti:"+fault.name))
					return err
				}},
				{"UpdatePartner", func() error {
					_, err := s.UpdatePartner(ctx, "org-1", "p-a", func(p storage.Partner) (storage.Partner, error) { return p, nil })
					return err
				}},
				{"GetUser", func() error { _, err := s.GetUser(ctx, "u-x"); return err }},
			} {
				start := time.Now()
				err := op.call()
				took := time.Since(start)
				t.Logf("%s while %s: %v after %v", op.name, fault.name, err, took.Round(time.Millisecond))
				if !errors.Is(err, storage.ErrUnavailable) {
					t.Errorf("%s: %v, want an error wrapping storage.ErrUnavailable", op.name, err)
				}
				if took > fault.bound {
					t.Errorf("%s took %v, the contract allows %v", op.name, took, fault.bound)
				}
			}
			fault.clear()
			took := waitReady(t, s, 10*time.Second)
			t.Logf("recovered %v after the database came back", took.Round(time.Millisecond))
			// Nothing of the failed sign-in was written; a new one works.
			if _, err := s.GetSession(ctx, "s-"+fault.name); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("session of the sign-in that failed: %v", err)
			}
			if _, err := s.SignIn(ctx, signInWrite("f-"+fault.name+"@example.com", "s-"+fault.name+"-2", "jti:"+fault.name+"-2")); err != nil {
				t.Errorf("sign-in after recovery: %v", err)
			}
		})
	}
}

// TestOpenUnreachable: Open on a server that refuses connections fails with
// an error wrapping storage.ErrUnavailable, naming no password.
func TestOpenUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	mustOK(t, err)
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, err = Open(t.Context(), "postgres://gatehouse:secret-pw@"+addr+"/gatehouse?sslmode=disable&connect_timeout=2", Options{})
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Open: %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "secret-pw") {
		t.Errorf("the error shows the password: %v", err)
	}
}
