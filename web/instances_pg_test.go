package web

import (
	"testing"

	"gatehouse/storage/postgres"
	"gatehouse/storage/postgres/pgtest"
)

// TestTwoInstancesOnePostgresDatabase is SPEC §7's 1-second rule on what
// production runs: two stores (two pools, two change feeds) on one real
// PostgreSQL database. B learns of A's key and partner changes through
// LISTEN/NOTIFY, so they apply in milliseconds rather than at the cache TTL.
func TestTwoInstancesOnePostgresDatabase(t *testing.T) {
	url := pgtest.NewDatabase(t)
	open := func() *postgres.Store {
		s, err := postgres.Open(t.Context(), url, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	runTwoInstances(t, open(), open())
}
