package bolt

import (
	"path/filepath"
	"testing"

	"gatehouse/storage"
	"gatehouse/storage/storagetest"
)

// TestConformance runs the shared suite against real bbolt files, with group
// commit (production) and without (so both write paths are held to it).
func TestConformance(t *testing.T) {
	for name, opts := range map[string]Options{"GroupCommit": {}, "NoGroupCommit": {NoGroupCommit: true}} {
		t.Run(name, func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) storage.Store {
				s, err := Open(filepath.Join(t.TempDir(), "gatehouse.db"), opts)
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				return s
			})
		})
	}
}
