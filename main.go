// Command gatehouse is a self-hosted Partner SSO appliance: one binary, all
// state in one bbolt file. This file only parses commands, loads
// configuration, wires the packages together and handles signals.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"gatehouse/app"
	"gatehouse/storage/bolt"
	"gatehouse/tui"
	"gatehouse/web"
	"gatehouse/web/client"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

const usage = `gatehouse — partner single sign-on appliance

Usage:
  gatehouse serve   [--config FILE]   run the server
  gatehouse console [--config FILE]   the terminal console
  gatehouse demo    [--listen ADDR]   a throw-away server with a demo partner portal at /demo
  gatehouse keygen  --out NAME        write an RSA-3072 key pair NAME.key / NAME.pub
  gatehouse sign    --key FILE --org ID --tenant ID --email E --role admin|readOnly [--name N] [--ttl 5m] [--kid K]
  gatehouse backup  --out FILE [--config FILE]
  gatehouse rekey   [--config FILE]
  gatehouse audit   verify|export [--config FILE]
  gatehouse version
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "serve":
		err = runServe(args)
	case "demo":
		err = runDemo(args)
	case "keygen":
		err = runKeygen(args)
	case "sign":
		err = runSign(args)
	case "backup":
		err = runBackup(args)
	case "rekey":
		err = runRekey(args)
	case "console":
		err = runConsole(args)
	case "audit":
		err = runAudit(args)
	case "version", "--version", "-v":
		fmt.Println("gatehouse", version)
	case "help", "--help", "-h":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "gatehouse: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gatehouse:", err)
		}
		os.Exit(1)
	}
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("gatehouse "+name, flag.ContinueOnError)
	return fs
}

// loadConfig reads --config / GATEHOUSE_CONFIG and the environment.
func loadConfig(path string) (app.Config, error) {
	return app.LoadConfig(app.LookupConfigPath(path), os.Environ())
}

func newLogger(cfg app.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// instance is an opened database with the service over it.
type instance struct {
	cfg   app.Config
	log   *slog.Logger
	store *bolt.Store
	svc   *app.Service
	mets  *web.Metrics
}

// openInstance opens the database (failing fast if another process holds
// it) and builds the service.
func openInstance(cfg app.Config, log *slog.Logger) (*instance, error) {
	if err := os.MkdirAll(cfg.Storage.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("storage.dir: %w", err)
	}
	store, err := bolt.Open(cfg.DatabasePath(), bolt.Options{Timeout: 2 * time.Second, Logger: log})
	if err != nil {
		return nil, err
	}
	keys, err := app.LoadOrCreateKeyFile(cfg.Crypto.EncryptionKeys, cfg.Storage.Dir, log)
	if err != nil {
		store.Close()
		return nil, err
	}
	ring, err := app.NewKeyRing(keys, nil)
	if err != nil {
		store.Close()
		return nil, err
	}
	mets := web.NewMetrics(nil)
	svc, err := app.New(app.Options{
		Store: store, Config: cfg, KeyRing: ring, Logger: log, Observer: mets, Version: version,
		Limiter: app.NewPartnerLimiter(cfg.RateLimit.SigninPerPartner),
	})
	if err != nil {
		store.Close()
		return nil, err
	}
	mets.WatchStore(svc)
	return &instance{cfg: cfg, log: log, store: store, svc: svc, mets: mets}, nil
}

func runServe(args []string) error {
	fs := newFlags("serve")
	cfgPath := fs.String("config", "", "TOML configuration file (or GATEHOUSE_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, os.Stderr)
	inst, err := openInstance(cfg, log)
	if err != nil {
		return err
	}
	defer inst.store.Close()
	publicLn, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("server.listen: %w", err)
	}
	return serve(inst, publicLn, nil)
}

// serve runs the listeners until SIGINT/SIGTERM.
func serve(inst *instance, publicLn net.Listener, demo *web.Demo) error {
	cfg, log := inst.cfg, inst.log
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
		return fmt.Errorf("admin.socket: %w", err)
	}
	sockLn, err := net.Listen("unix", sockPath)
	if err != nil {
		return fmt.Errorf("admin.socket: %w", err)
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
		{"public", web.ServerTimeouts(public), publicLn, cfg.Server.TLSCert != ""},
		{"admin socket", web.ServerTimeouts(adminSock), sockLn, false},
	}
	if cfg.Admin.Listen != "" {
		adminTCP, err := srv.AdminHandler(web.TokenAuth(inst.svc))
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			return fmt.Errorf("admin.listen: %w", err)
		}
		listeners = append(listeners, listener{"admin", web.ServerTimeouts(adminTCP), ln, cfg.Server.TLSCert != ""})
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	g, ctx := errgroup.WithContext(ctx)
	for _, l := range listeners {
		l := l
		if l.tls {
			l.srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		g.Go(func() error {
			var err error
			if l.tls {
				err = l.srv.ServeTLS(l.ln, cfg.Server.TLSCert, cfg.Server.TLSKey)
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
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, l := range listeners {
			_ = l.srv.Shutdown(shutdownCtx)
		}
		return nil
	})
	log.Info("gatehouse serving", "version", version, "public", cfg.PublicBaseURL(), "listen", publicLn.Addr().String(),
		"admin_socket", sockPath, "admin_listen", cfg.Admin.Listen, "database", cfg.DatabasePath())
	err = g.Wait()
	log.Info("gatehouse stopped")
	return err
}

func runKeygen(args []string) error {
	fs := newFlags("keygen")
	out := fs.String("out", "", "file name stem: writes NAME.key (0600) and NAME.pub")
	bits := fs.Int("bits", 3072, "RSA key size (2048–8192)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("keygen: --out NAME is required")
	}
	if *bits < 2048 || *bits > 8192 {
		return errors.New("keygen: --bits must be between 2048 and 8192")
	}
	priv, pub, err := app.GenerateKeyPair(*out, *bits)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s (private: keep it on the partner portal) and %s (upload this one)\n", priv, pub)
	return nil
}

func runSign(args []string) error {
	fs := newFlags("sign")
	keyPath := fs.String("key", "", "the partner's private key (PEM)")
	org := fs.String("org", "", "organizationId")
	tenant := fs.String("tenant", "", "tenantId")
	email := fs.String("email", "", "the user's email")
	role := fs.String("role", "", "admin or readOnly")
	name := fs.String("name", "", "the user's display name")
	ttl := fs.Duration("ttl", 5*time.Minute, "lifetime; negative makes an already-expired token")
	kid := fs.String("kid", "", "key id header (optional)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *keyPath == "" || *org == "" || *tenant == "" || *email == "" || *role == "" {
		return errors.New("sign: --key, --org, --tenant, --email and --role are required")
	}
	data, err := os.ReadFile(*keyPath)
	if err != nil {
		return err
	}
	priv, err := app.LoadPrivateKeyPEM(data)
	if err != nil {
		return fmt.Errorf("sign: %s: %w", *keyPath, err)
	}
	token, err := app.SignToken(priv, *kid, app.NewTokenClaims(*org, *tenant, *email, *role, *name, time.Now(), *ttl))
	if err != nil {
		return err
	}
	fmt.Println(token)
	return nil
}

// runDemo starts a throw-away server in a temporary directory with a seeded
// organization, tenant, partner and key, and the /demo portal pages.
func runDemo(args []string) error {
	fs := newFlags("demo")
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve on (a free port is used if it is taken)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "gatehouse-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
	}
	cfg := app.Defaults()
	cfg.Server.Listen = ln.Addr().String()
	cfg.Server.PublicURL = "http://" + ln.Addr().String()
	cfg.Storage.Dir = dir
	cfg.Log.Level = "warn"
	// A throw-away key: the demo's data dies with it, so there is nothing to back up.
	demoKey := make([]byte, 32)
	if _, err := rand.Read(demoKey); err != nil {
		return err
	}
	cfg.Crypto.EncryptionKeys = map[int][]byte{1: demoKey}
	log := newLogger(cfg.Log, os.Stderr)
	inst, err := openInstance(cfg, log)
	if err != nil {
		return err
	}
	defer inst.store.Close()
	demo, err := seedDemo(inst.svc, cfg.PublicBaseURL())
	if err != nil {
		return fmt.Errorf("seed demo: %w", err)
	}
	fmt.Printf(`Gatehouse demo is running (data in a temporary directory, deleted on exit).

  Open the demo partner portal:  %[1]s/demo
  Organization: %[2]s   Tenant: %[3]s   Key id: %[4]s

  In another terminal:
    GATEHOUSE_ADMIN__SOCKET=%[5]s gatehouse console
    curl -s --unix-socket %[5]s http://gatehouse/api/v1/orgs/%[2]s/users

Press Ctrl-C to stop.
`, cfg.PublicBaseURL(), demo.OrgID, demo.TenantID, demo.Kid, cfg.AdminSocketPath())
	return serve(inst, ln, demo)
}

func seedDemo(svc *app.Service, base string) (*web.Demo, error) {
	ctx := context.Background()
	org, err := svc.CreateOrg(ctx, app.Operator, app.OrgInput{ID: "demo-org", Name: "Demo MSSP"})
	if err != nil {
		return nil, err
	}
	tenant, err := svc.CreateTenant(ctx, app.Operator, org.ID, app.TenantInput{
		ID: "demo-tenant", Name: "Demo Customer", RedirectURL: base + "/demo/dashboard",
		AllowedReturnURLs: []string{base + "/"},
	})
	if err != nil {
		return nil, err
	}
	partner, err := svc.CreatePartner(ctx, app.Operator, org.ID, app.PartnerInput{Name: "Demo Portal"})
	if err != nil {
		return nil, err
	}
	priv, pubPEM, err := app.NewDemoKey()
	if err != nil {
		return nil, err
	}
	key, err := svc.AddKey(ctx, app.Operator, org.ID, partner.ID, app.KeyInput{PEM: pubPEM, Label: "demo"})
	if err != nil {
		return nil, err
	}
	return &web.Demo{OrgID: org.ID, TenantID: tenant.ID, Kid: key.Kid, PrivateKey: priv}, nil
}

// socketClient returns a client when a server answers on the admin socket.
func socketClient(cfg app.Config) *client.Client {
	if client.Reachable(cfg.AdminSocketPath()) {
		return client.New(cfg.AdminSocketPath())
	}
	return nil
}

func runRekey(args []string) error {
	fs := newFlags("rekey")
	cfgPath := fs.String("config", "", "TOML configuration file (or GATEHOUSE_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	ctx := context.Background()
	var n int
	if c := socketClient(cfg); c != nil {
		var out struct{ Resealed int }
		if err := c.Do(ctx, http.MethodPost, "/api/v1/rekey", struct{}{}, &out); err != nil {
			return err
		}
		n = out.Resealed
	} else {
		inst, err := openInstance(cfg, newLogger(cfg.Log, os.Stderr))
		if err != nil {
			return err
		}
		defer inst.store.Close()
		if n, err = inst.svc.Rekey(ctx, app.Operator); err != nil {
			return err
		}
	}
	fmt.Printf("re-sealed %d partner secret(s) under the newest encryption key\n", n)
	return nil
}

// runConsole starts the terminal console: over the admin socket when a
// server answers there, else on the database opened directly (failing fast,
// with the store's message, if another process holds its lock).
func runConsole(args []string) error {
	fs := newFlags("console")
	cfgPath := fs.String("config", "", "TOML configuration file (or GATEHOUSE_CONFIG)")
	org := fs.String("org", "", "organization to open (default: the first)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	opts := tui.Options{Org: *org}
	if c := socketClient(cfg); c != nil {
		opts.Admin, opts.Actor, opts.Mode = c, app.Operator, tui.ModeSocket
	} else {
		// Logs would draw over the console: drop them.
		inst, err := openInstance(cfg, newLogger(cfg.Log, io.Discard))
		if err != nil {
			return fmt.Errorf("console: no server answers on %s, and opening the database failed: %w", cfg.AdminSocketPath(), err)
		}
		defer inst.store.Close()
		opts.Admin, opts.Actor, opts.Mode = inst.svc, app.Console, tui.ModeDirect
	}
	return tui.Run(opts)
}

// openStoreOnly opens an existing database without the service (backup and
// audit need no key ring); it never creates a database that is not there.
func openStoreOnly(cfg app.Config) (*bolt.Store, error) {
	path := cfg.DatabasePath()
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no database at %s (is storage.dir right?): %w", path, err)
	}
	return bolt.Open(path, bolt.Options{Timeout: 2 * time.Second})
}

// runBackup writes a consistent copy of the database: through the admin
// socket while a server runs, else straight from the file. The copy is
// written to a temporary file beside FILE, synced, opened and checked with
// the bbolt consistency check, and only then renamed over FILE (mode 0600).
func runBackup(args []string) error {
	fs := newFlags("backup")
	out := fs.String("out", "", "file to write the copy to")
	cfgPath := fs.String("config", "", "TOML configuration file (or GATEHOUSE_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("backup: --out FILE is required")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if abs, err := filepath.Abs(*out); err == nil {
		if db, err := filepath.Abs(cfg.DatabasePath()); err == nil && abs == db {
			return errors.New("backup: --out must not be the live database")
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	via := "database file"
	n, err := writeAtomically(*out, func(w io.Writer) (int64, error) {
		if c := socketClient(cfg); c != nil {
			via = "running server"
			cw := &countingWriter{w: w}
			err := c.Do(ctx, http.MethodGet, "/api/v1/backup", nil, cw)
			return cw.n, err
		}
		store, err := openStoreOnly(cfg)
		if err != nil {
			return 0, err
		}
		defer store.Close()
		return store.Backup(ctx, w)
	}, verifyBackup)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Printf("wrote %s (%d bytes, from the %s); consistency check passed\n", *out, n, via)
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// verifyBackup opens a copy as a database and runs the full consistency check.
func verifyBackup(path string) error {
	store, err := bolt.Open(path, bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return fmt.Errorf("the copy does not open: %w", err)
	}
	if err := store.Check(); err != nil {
		store.Close()
		return fmt.Errorf("the copy fails the consistency check: %w", err)
	}
	return store.Close()
}

// writeAtomically writes a temporary file beside path (0600), syncs it,
// runs verify on it and renames it over path, syncing the directory; on any
// failure path is left as it was.
func writeAtomically(path string, write func(io.Writer) (int64, error), verify func(string) error) (int64, error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return 0, err
	}
	n, err := write(f)
	if err != nil {
		return n, err
	}
	if n == 0 {
		return 0, errors.New("the copy is empty")
	}
	if err := f.Sync(); err != nil {
		return n, err
	}
	if err := f.Close(); err != nil {
		return n, err
	}
	if err := verify(tmp); err != nil {
		return n, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return n, err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return n, nil
}

// runAudit is `gatehouse audit verify|export`: through the admin socket
// while a server runs, else straight from the database file.
func runAudit(args []string) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		return errors.New("audit: usage: gatehouse audit verify|export [--config FILE]")
	}
	sub := args[0]
	fs := newFlags("audit " + sub)
	cfgPath := fs.String("config", "", "TOML configuration file (or GATEHOUSE_CONFIG)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	c := socketClient(cfg)
	var store *bolt.Store
	if c == nil {
		if store, err = openStoreOnly(cfg); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		defer store.Close()
	}
	if sub == "export" {
		w := bufio.NewWriterSize(os.Stdout, 64<<10)
		if c != nil {
			err = c.Do(ctx, http.MethodGet, "/api/v1/audit/export", nil, w)
		} else {
			_, err = app.ExportAuditLines(ctx, store, w)
		}
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
		if err != nil {
			return fmt.Errorf("audit export: %w", err)
		}
		return nil
	}
	var v app.AuditVerification
	if c != nil {
		err = c.Do(ctx, http.MethodGet, "/api/v1/audit/verify", nil, &v)
	} else {
		v, err = app.VerifyAuditChain(ctx, store)
	}
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	if !v.OK {
		return fmt.Errorf("audit verify: FAILED at event %d: %s (%d events before it verified)", v.BadSeq, v.Problem, v.Events)
	}
	if v.Events == 0 {
		fmt.Println("audit chain OK: no events")
		return nil
	}
	fmt.Printf("audit chain OK: %d events (seq %d to %d)\n", v.Events, v.First, v.Last)
	return nil
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
