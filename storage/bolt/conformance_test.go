package bolt

import (
	"path/filepath"
	"testing"

	"gatehouse/storage"
	"gatehouse/storage/memory"
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

// TestDump holds Export/Import to the shared contract on real bbolt files.
func TestDump(t *testing.T) {
	storagetest.RunDump(t, func(t *testing.T) storage.Store {
		s, err := Open(filepath.Join(t.TempDir(), "gatehouse.db"), Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

// TestCopyBetweenMemoryAndBolt: memory → bolt → memory loses nothing.
func TestCopyBetweenMemoryAndBolt(t *testing.T) {
	storagetest.RunCopyBetween(t,
		func(*testing.T) storage.Store { return memory.New() },
		func(t *testing.T) storage.Store {
			s, err := Open(filepath.Join(t.TempDir(), "gatehouse.db"), Options{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return s
		})
}
