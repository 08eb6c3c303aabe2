package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"gatehouse/app"
	"gatehouse/storage"
	"gatehouse/storage/bolt"
)

// This file is the one place that knows which backend runs: it opens the
// store storage.driver names, and the stores `gatehouse migrate` names by a
// file path or a postgres:// URL.

// openStore opens the configured backend for a server (creating a bbolt
// file, or migrating a PostgreSQL schema, as needed).
func openStore(cfg app.Config, log *slog.Logger) (storage.Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch cfg.Storage.Driver {
	case app.DriverPostgres:
		s, err := openPostgres(cfg.Storage.PostgresURL, cfg.Storage.PostgresMaxConns, cfg.Storage.Dir, log)
		if err != nil {
			return nil, fmt.Errorf("storage.postgres_url %s: %w", redactURL(cfg.Storage.PostgresURL), err)
		}
		return s, nil
	default:
		if err := os.MkdirAll(cfg.Storage.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("storage.dir: %w", err)
		}
		return bolt.Open(cfg.DatabasePath(), bolt.Options{Timeout: 2 * time.Second, Logger: log})
	}
}

// isPostgresURL reports whether a migrate argument names PostgreSQL rather
// than a bbolt file.
func isPostgresURL(spec string) bool {
	return strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://")
}

// openPostgres opens (and migrates) a PostgreSQL store; dir is where its
// bbolt backups are assembled. main_postgres.go sets it when the backend is
// built in.
var openPostgres = func(url string, maxConns int, dir string, log *slog.Logger) (storage.Store, error) {
	return nil, errors.New("storage.driver postgres: this binary was built without the PostgreSQL backend")
}

// redactURL hides a password in a postgres URL before it reaches a message.
func redactURL(spec string) string {
	scheme, rest, ok := strings.Cut(spec, "://")
	if !ok {
		return spec
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return spec
	}
	if user, _, hasPass := strings.Cut(userinfo, ":"); hasPass {
		return scheme + "://" + user + ":xxxxx@" + host
	}
	return spec
}

// boltBackups gives a store whose native copy is not a bbolt file (a
// PostgreSQL database) the one backup format: Backup exports it, in one
// snapshot, into a fresh bbolt file under dir and streams that file, so
// `gatehouse backup` and GET /api/v1/backup answer the same kind of file on
// every backend, and the copy restores with `gatehouse migrate`. The other
// optional interfaces are passed through.
type boltBackups struct {
	storage.Store
	dump storage.Dumper
	dir  string
}

// withBoltBackups wraps s, which must export (storage.Dumper).
func withBoltBackups(s storage.Store, dir string) (*boltBackups, error) {
	d, ok := s.(storage.Dumper)
	if !ok {
		return nil, fmt.Errorf("%T cannot export, so it cannot be backed up", s)
	}
	return &boltBackups{Store: s, dump: d, dir: dir}, nil
}

var (
	_ storage.Dumper         = (*boltBackups)(nil)
	_ storage.ChangeNotifier = (*boltBackups)(nil)
)

func (b *boltBackups) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return 0, fmt.Errorf("backup: storage.dir: %w", err)
	}
	return bolt.WriteCopy(ctx, b.dump, b.dir, w)
}

func (b *boltBackups) Export(ctx context.Context, fn func(storage.Record) error) error {
	return b.dump.Export(ctx, fn)
}

func (b *boltBackups) Import(ctx context.Context, src func(put func(storage.Record) error) error) error {
	return b.dump.Import(ctx, src)
}

// Subscribe passes the change feed through; a store without one has no
// other writers to hear from, so it waits for ctx.
func (b *boltBackups) Subscribe(ctx context.Context, fn func(storage.Change)) error {
	if n, ok := b.Store.(storage.ChangeNotifier); ok {
		return n.Subscribe(ctx, fn)
	}
	<-ctx.Done()
	return ctx.Err()
}
