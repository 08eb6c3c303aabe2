package postgres

import (
	"context"
	"os"
	"sync"
	"testing"

	"gatehouse/storage"
	"gatehouse/storage/memory"
	"gatehouse/storage/postgres/pgtest"
	"gatehouse/storage/storagetest"
)

// migrated is a database at the current schema that each test copies
// (pgtest.Template): building the schema once instead of per test keeps the
// package fast. It is made on first use and dropped by TestMain.
var (
	migratedOnce sync.Once
	migrated     *pgtest.Template
)

func TestMain(m *testing.M) {
	code := m.Run()
	if migrated != nil {
		if err := migrated.Drop(); err != nil {
			println("drop template:", err.Error())
			code = 1
		}
	}
	os.Exit(code)
}

// newDatabase returns the URL of a fresh, migrated database for t.
func newDatabase(t testing.TB) string {
	t.Helper()
	// Skip (or, under CI, fail) each test on its own when no server is
	// configured: the template below is built once, so a skip inside it
	// would leave every later test without one.
	pgtest.ServerURL(t)
	migratedOnce.Do(func() {
		migrated = pgtest.NewTemplate(t, func(url string) error {
			s, err := Open(context.Background(), url, Options{NoGroupCommit: true})
			if err != nil {
				return err
			}
			return s.Close()
		})
	})
	if migrated == nil {
		t.Fatal("no template database (see the first test's failure)")
	}
	return migrated.NewDatabase(t)
}

// TestConformance runs the shared suite against a real PostgreSQL server,
// with pipelined group commit (production), with its one-by-one fallback and
// with a transaction per sign-in, so every write path is held to it. Each variant has a database of its own, emptied
// before every subtest (the suite runs them one after another): creating and
// dropping a database per subtest would cost a second each on this machine.
func TestConformance(t *testing.T) {
	for name, opts := range map[string]Options{"GroupCommit": {}, "GroupOneByOne": {groupOneByOne: true}, "NoGroupCommit": {NoGroupCommit: true}} {
		t.Run(name, func(t *testing.T) {
			url := newDatabase(t)
			storagetest.Run(t, func(t *testing.T) storage.Store {
				s := openTest(t, url, opts)
				empty(t, s)
				return s
			})
		})
	}
}

// empty deletes every record, leaving the schema (and a chain head at zero),
// as a freshly migrated database has it.
func empty(t testing.TB, s *Store) {
	t.Helper()
	_, err := s.pool.Exec(t.Context(), `TRUNCATE orgs, tenants, partners, keys, users, sessions, replays,
		login_tokens, admin_tokens, audit; UPDATE audit_head SET seq = 0, hash = ''; UPDATE signing_keys SET data = NULL`)
	if err != nil {
		t.Fatalf("empty the database: %v", err)
	}
}

// openTest opens a store on url; Run (or the test) closes it.
func openTest(t testing.TB, url string, opts Options) *Store {
	t.Helper()
	s, err := Open(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// TestDump holds Export/Import to the shared contract; every store is a
// database of its own (the suite holds two at once).
func TestDump(t *testing.T) {
	storagetest.RunDump(t, func(t *testing.T) storage.Store {
		return openTest(t, newDatabase(t), Options{})
	})
}

// TestCopyBetweenMemoryAndPostgres: memory → postgres → memory loses nothing
// (what `gatehouse migrate` there and back does), and the chain verifies on
// postgres.
func TestCopyBetweenMemoryAndPostgres(t *testing.T) {
	storagetest.RunCopyBetween(t,
		func(*testing.T) storage.Store { return memory.New() },
		func(t *testing.T) storage.Store { return openTest(t, newDatabase(t), Options{}) })
}
