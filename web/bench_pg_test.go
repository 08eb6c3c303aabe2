package web

import (
	"testing"

	"gatehouse/storage/postgres"
	"gatehouse/storage/postgres/pgtest"
)

// The same harness on PostgreSQL (synchronous_commit on, the pool at its
// default size, group commit on), so the README's figures compare backends
// on equal terms. Needs GATEHOUSE_TEST_POSTGRES_URL (skipped without it).
func BenchmarkSignInPostgres(b *testing.B) { benchSignIn(b, openBenchPostgres(b)) }

func BenchmarkForwardAuthPostgres(b *testing.B) { benchForwardAuth(b, openBenchPostgres(b)) }

func openBenchPostgres(b *testing.B) *postgres.Store {
	b.Helper()
	s, err := postgres.Open(b.Context(), pgtest.NewDatabase(b), postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}
