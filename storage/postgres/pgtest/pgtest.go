// Package pgtest gives tests a real, empty PostgreSQL database of their own.
//
// The server comes from GATEHOUSE_TEST_POSTGRES_URL (scripts/pg-test-cluster.sh
// starts a throw-away one and prints the line to export). Each call creates a
// database named gh_test_<random> through that URL and drops it when the test
// ends, so test packages run in parallel without seeing each other's rows.
// Without the variable the test is skipped on a laptop, but fails under CI
// (CI=true), where .ci/run always provides a server.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable holding the server's URL.
const EnvURL = "GATEHOUSE_TEST_POSTGRES_URL"

// ServerURL returns the configured server URL, skipping the test when there
// is none (or failing it under CI).
func ServerURL(t testing.TB) string {
	t.Helper()
	server := os.Getenv(EnvURL)
	if server == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must run the PostgreSQL tests (.ci/run starts a cluster)", EnvURL)
		}
		t.Skipf("%s is not set; start a throw-away server with: eval \"$(scripts/pg-test-cluster.sh start)\"", EnvURL)
	}
	return server
}

// NewDatabase creates an empty database for t and returns its URL. It is
// dropped (with every connection to it closed) when t ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return newDatabase(t, "template0")
}

func newDatabase(t testing.TB, template string) string {
	t.Helper()
	server := ServerURL(t)
	name, err := create(server, "gh_test_", template)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := drop(server, name); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return withDatabase(server, name)
}

// Template is a database prepared once (migrated, say) that NewDatabase
// copies: copying a small database is much faster than building its schema
// again for every test.
type Template struct {
	server, name string
}

// NewTemplate creates a database and hands its URL to prepare, which must
// close every connection it opened before returning (a database with open
// connections cannot be copied). Drop it when the tests are done.
func NewTemplate(t testing.TB, prepare func(url string) error) *Template {
	t.Helper()
	server := ServerURL(t)
	name, err := create(server, "gh_tmpl_", "template0")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	tp := &Template{server: server, name: name}
	if err := prepare(withDatabase(server, name)); err != nil {
		_ = tp.Drop()
		t.Fatalf("pgtest: prepare template: %v", err)
	}
	return tp
}

// NewDatabase creates a copy of the template for t, dropped when t ends.
func (tp *Template) NewDatabase(t testing.TB) string {
	t.Helper()
	return newDatabase(t, tp.name)
}

// Drop removes the template database.
func (tp *Template) Drop() error { return drop(tp.server, tp.name) }

func create(server, prefix, template string) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	name := prefix + hex.EncodeToString(b[:])
	if err := admin(server, "CREATE DATABASE "+name+" ENCODING 'UTF8' TEMPLATE "+template); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	return name, nil
}

func drop(server, name string) error {
	if err := admin(server, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// admin runs one statement on the server's own database.
func admin(server, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase points a URL or key=value DSN at another database.
func withDatabase(server, name string) string {
	if strings.HasPrefix(server, "postgres://") || strings.HasPrefix(server, "postgresql://") {
		u, err := url.Parse(server)
		if err == nil {
			u.Path = "/" + name
			return u.String()
		}
	}
	return server + " dbname=" + name // the last occurrence of a key wins
}
