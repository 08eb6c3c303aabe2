// Command gatehouse is a self-hosted Partner SSO appliance: one binary, all
// state in one bbolt file. This file only wires the command tree together
// (each command lives in its own cmd_*.go file and registers itself), loads
// configuration and opens the database; cli.go holds the command-line
// conventions every command shares (exit codes, flag validation, help).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"gatehouse/app"
	"gatehouse/storage"
	"gatehouse/storage/bolt"
	"gatehouse/web"
	"gatehouse/web/client"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
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
	store storage.Store
	svc   *app.Service
	mets  *web.Metrics
}

// openInstance opens the database (failing fast if another process holds
// it) and builds the service.
func openInstance(cfg app.Config, log *slog.Logger) (*instance, error) {
	store, err := openStore(cfg, log)
	if err != nil {
		return nil, err
	}
	// The ring must open every sealed secret: a missing or wrong key stops
	// start-up with one line naming the version (never a new generated key).
	ring, err := app.OpenKeyRing(context.Background(), store, cfg.Crypto.EncryptionKeys, cfg.Storage.Dir, log)
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
	if b, ok := store.(*bolt.Store); ok {
		b.ObserveCommits(mets) // commit sizes and durations of the group commit
	}
	return &instance{cfg: cfg, log: log, store: store, svc: svc, mets: mets}, nil
}

// socketClient returns a client when a server answers on the admin socket,
// else nil and why not (the socket named, and missing, refused, permission
// denied…), for directFailed.
func socketClient(cfg app.Config) (*client.Client, error) {
	path := cfg.AdminSocketPath()
	if err := client.Probe(path); err != nil {
		return nil, err
	}
	return client.New(path), nil
}

// directFailed is the error of a command that found no server on the admin
// socket and then could not open the database itself: both reasons, because
// the fix is usually on the socket's side (a server running as another
// user, another admin.socket) rather than the file's.
func directFailed(noServer, err error) error {
	return fmt.Errorf("%v; and opening the database directly failed: %w", noServer, err)
}

// openStoreOnly opens an existing database without the service (backup and
// audit need no key ring); it never creates a database that is not there.
func openStoreOnly(cfg app.Config) (storage.Store, error) {
	if err := requireDatabase(cfg); err != nil {
		return nil, err
	}
	if cfg.Storage.Driver == app.DriverPostgres {
		return openStore(cfg, nil)
	}
	return bolt.Open(cfg.DatabasePath(), bolt.Options{Timeout: 2 * time.Second})
}

// requireDatabase refuses a bbolt database file that is not there: an
// operator command run with the wrong --config or storage.dir must say so,
// not create an empty database (and a secret.key) and act on that.
func requireDatabase(cfg app.Config) error {
	if cfg.Storage.Driver == app.DriverPostgres {
		return nil
	}
	path := cfg.DatabasePath()
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no database at %s (is storage.dir right?): %w", path, pathCause(err))
	}
	return nil
}

// openExistingInstance is openInstance for the operator commands that act
// on a database a server has created (audit list, rekey, signing-key rotate).
func openExistingInstance(cfg app.Config, log *slog.Logger) (*instance, error) {
	if err := requireDatabase(cfg); err != nil {
		return nil, err
	}
	return openInstance(cfg, log)
}
