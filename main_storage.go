package main

import (
	"errors"
	"fmt"
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
		s, err := openPostgres(cfg.Storage.PostgresURL, cfg.Storage.PostgresMaxConns, log)
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

// openPostgres opens (and migrates) a PostgreSQL store; main_postgres.go
// sets it when the backend is built in.
var openPostgres = func(url string, maxConns int, log *slog.Logger) (storage.Store, error) {
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
