package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"gatehouse/app"
	"gatehouse/web"
	"gatehouse/web/client"
)

func init() { register(newServeCmd) }

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server: public listener, admin socket and optional admin TCP listener",
		Long: `Run the server: the public listener (server.listen) for partner sign-in and
sessions, the admin socket (admin.socket) for the operator, and, when admin.listen
is set, the token-authenticated admin API on TCP. Stops cleanly on SIGINT/SIGTERM.`,
		Example: `  gatehouse serve
  gatehouse serve --config /etc/gatehouse/config.toml
  GATEHOUSE_SERVER__LISTEN=127.0.0.1:9000 gatehouse serve`,
		Args: noArgs,
	}
	cfgPath := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		log := newLogger(cfg.Log, os.Stderr)
		tuneGC()
		// Everything that can fail without writing is tried before the
		// database, secret.key or the admin socket exist: a port in use or
		// an unreadable certificate leaves storage.dir as it was.
		if err := checkSocketPath(cfg); err != nil {
			return err
		}
		if err := checkKeyFile(cfg); err != nil {
			return err
		}
		lns, err := bindListeners(cfg)
		if err != nil {
			return err
		}
		defer lns.close()
		inst, err := openInstance(cfg, log)
		if err != nil {
			return err
		}
		defer inst.store.Close()
		return serve(inst, lns, nil)
	}
	return cmd
}

// serveListeners are the TCP listeners of `gatehouse serve`, bound (and the
// TLS certificate loaded) before anything is written to disk, then handed to
// serve: binding first, rather than probing a port and closing it, leaves no
// window for another process to take the port in between.
type serveListeners struct {
	public, metrics, admin net.Listener // metrics and admin are nil when not configured
	tls                    *tls.Config  // nil without server.tls_cert
}

// close releases listeners serve never took over (an error before it ran);
// closing one serve already shut down is harmless.
func (l *serveListeners) close() {
	for _, ln := range []net.Listener{l.public, l.metrics, l.admin} {
		if ln != nil {
			_ = ln.Close()
		}
	}
}

// bindListeners binds server.listen, server.metrics_listen and admin.listen
// and loads server.tls_cert/tls_key; an error names the key and the address
// or file.
func bindListeners(cfg app.Config) (*serveListeners, error) {
	l := &serveListeners{}
	ok := false
	defer func() {
		if !ok {
			l.close()
		}
	}()
	var err error
	if l.public, err = listenTCP("server.listen", cfg.Server.Listen); err != nil {
		return nil, err
	}
	if cfg.Server.MetricsListen != "" {
		if l.metrics, err = listenTCP("server.metrics_listen", cfg.Server.MetricsListen); err != nil {
			return nil, err
		}
	}
	if cfg.Admin.Listen != "" {
		if l.admin, err = listenTCP("admin.listen", cfg.Admin.Listen); err != nil {
			return nil, err
		}
	}
	if cfg.Server.TLSCert != "" {
		if l.tls, err = loadTLS(cfg.Server.TLSCert, cfg.Server.TLSKey); err != nil {
			return nil, err
		}
	}
	ok = true
	return l, nil
}

// listenTCP binds addr, explaining the failures an operator meets.
func listenTCP(key, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	reason := err.Error()
	var op *net.OpError
	var dns *net.DNSError
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		reason = "address already in use (another process listens there: another `gatehouse serve`? `ss -ltnp` shows which)"
	case errors.Is(err, syscall.EACCES):
		reason = "permission denied (a port below 1024 needs root or CAP_NET_BIND_SERVICE)"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		reason = "cannot assign requested address (no interface of this host has that IP)"
	case errors.As(err, &dns):
		reason = "cannot resolve host: " + dns.Err
	case errors.As(err, &op):
		reason = op.Err.Error()
	}
	return nil, fmt.Errorf("%s %s: %s", key, addr, reason)
}

// loadTLS reads the certificate and key now, so a missing or bad file
// stops start-up naming it, before anything is written (http.Server would
// only read them once serving).
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("server.tls_cert %s: %w", certFile, pathCause(err))
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("server.tls_key %s: %w", keyFile, pathCause(err))
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("server.tls_cert %s, server.tls_key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

// pathCause is a *fs.PathError's cause alone, for messages that already
// name the path (and would otherwise say it twice).
func pathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// checkSocketPath refuses an admin socket path that cannot be bound (too
// long for a Unix socket, under a file, in a directory this user cannot
// write) before anything is written; the socket itself is made only once
// the database lock is held (see serve).
func checkSocketPath(cfg app.Config) error {
	path := cfg.AdminSocketPath()
	key := "admin.socket " + path
	if cfg.Admin.Socket == "" {
		key = "admin.socket (default <storage.dir>/admin.sock) " + path
	}
	if len(path) > client.MaxSocketPath {
		return fmt.Errorf("%s: the path is %d bytes, longer than the %d a Unix socket path may have (set admin.socket to a shorter path, e.g. /run/gatehouse/admin.sock)", key, len(path), client.MaxSocketPath)
	}
	// The nearest directory that exists must be one this user may write:
	// serve creates what is missing below it, then the socket.
	dir := filepath.Dir(path)
	for {
		fi, err := os.Stat(dir)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s: %s is not a directory", key, dir)
			}
			if err := syscall.Access(dir, 0o2|0o1); err != nil { // W_OK|X_OK
				return fmt.Errorf("%s: directory %s is not writable by this user: %w", key, dir, err)
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: %w", key, err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

// checkKeyFile reads an existing <storage.dir>/secret.key (when no key is
// configured), so an unreadable or damaged one stops start-up before a new
// database is created beside it. A missing one is generated later, once the
// database shows that nothing sealed needs the old one (app.OpenKeyRing).
func checkKeyFile(cfg app.Config) error {
	if len(cfg.Crypto.EncryptionKeys) > 0 {
		return nil
	}
	if _, err := os.Lstat(filepath.Join(cfg.Storage.Dir, "secret.key")); err != nil {
		return nil
	}
	_, err := app.LoadOrCreateKeyFile(nil, cfg.Storage.Dir, nil)
	return err
}

// serve runs the listeners until SIGINT/SIGTERM.
func serve(inst *instance, lns *serveListeners, demo *web.Demo) error {
	cfg, log := inst.cfg, inst.log
	publicLn := lns.public
	// The assertion signing key is made (or opened) now, so a key that does
	// not open stops start-up instead of failing the first /auth/verify.
	if err := inst.svc.InitSigningKey(context.Background()); err != nil {
		return err
	}
	srv, err := web.New(web.Options{Service: inst.svc, Logger: log, Metrics: inst.mets, Demo: demo})
	if err != nil {
		return err
	}
	public, err := srv.PublicHandler()
	if err != nil {
		return err
	}
	adminSock, err := srv.AdminHandler(web.OperatorAuth)
	if err != nil {
		return err
	}
	sockPath := cfg.AdminSocketPath()
	// We hold the database lock, so a socket file left here is stale.
	_ = os.Remove(sockPath)
	if err := os.MkdirAll(filepath.Dir(sockPath), 0o700); err != nil {
		return fmt.Errorf("admin.socket %s: %w", sockPath, err)
	}
	sockLn, err := net.Listen("unix", sockPath)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			err = op.Err
		}
		return fmt.Errorf("admin.socket %s: %w", sockPath, err)
	}
	if err := secureSocket(sockPath, cfg.Admin.SocketGroup); err != nil {
		return err
	}
	defer os.Remove(sockPath)

	type listener struct {
		name string
		srv  *http.Server
		ln   net.Listener
		tls  bool
	}
	listeners := []listener{
		{"public", web.ServerTimeouts(public), publicLn, lns.tls != nil},
		{"admin socket", web.ServerTimeouts(adminSock), sockLn, false},
	}
	if lns.metrics != nil {
		listeners = append(listeners, listener{"metrics", web.ServerTimeouts(srv.MetricsHandler()), lns.metrics, false})
	}
	if lns.admin != nil {
		adminTCP, err := srv.AdminHandler(web.TokenAuth(inst.svc))
		if err != nil {
			return err
		}
		listeners = append(listeners, listener{"admin", web.ServerTimeouts(adminTCP), lns.admin, lns.tls != nil})
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	g, ctx := errgroup.WithContext(ctx)
	for _, l := range listeners {
		l := l
		if l.tls {
			l.srv.TLSConfig = lns.tls.Clone()
		}
		g.Go(func() error {
			var err error
			if l.tls {
				err = l.srv.ServeTLS(l.ln, "", "") // the certificate is in TLSConfig
			} else {
				err = l.srv.Serve(l.ln)
			}
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("%s listener: %w", l.name, err)
		})
	}
	g.Go(func() error {
		inst.svc.RunSweeper(ctx, time.Minute)
		return nil
	})
	g.Go(func() error {
		inst.svc.RunChangeFeed(ctx)
		return nil
	})
	g.Go(func() error {
		inst.svc.RunJWKSRefresher(ctx)
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, l := range listeners {
			_ = l.srv.Shutdown(shutdownCtx)
		}
		return nil
	})
	log.Info("gatehouse serving", "version", version, "public", cfg.PublicBaseURL(), "listen", publicLn.Addr().String(),
		"admin_socket", sockPath, "admin_listen", cfg.Admin.Listen, "metrics_listen", cfg.Server.MetricsListen, "database", cfg.DatabasePath())
	err = g.Wait()
	log.Info("gatehouse stopped")
	return err
}

// secureSocket makes the admin socket 0600, or 0660 owned by group when
// admin.socket_group is set (members may then run `gatehouse console`).
func secureSocket(path, group string) error {
	mode := os.FileMode(0o600)
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return fmt.Errorf("admin.socket_group: %w", err)
		}
		gid, err := strconv.Atoi(g.Gid)
		if err != nil {
			return fmt.Errorf("admin.socket_group: gid %q: %w", g.Gid, err)
		}
		if err := os.Chown(path, -1, gid); err != nil {
			return fmt.Errorf("admin.socket_group: %w", err)
		}
		mode = 0o660
	}
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("admin.socket: %w", err)
	}
	return nil
}
