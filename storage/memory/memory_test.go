package memory_test

import (
	"testing"

	"gatehouse/storage"
	"gatehouse/storage/memory"
	"gatehouse/storage/storagetest"
)

// TestConformance holds the memory store to the same contract as bolt.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(*testing.T) storage.Store { return memory.New() })
}

// TestDump holds the memory store's Export/Import to the shared contract.
func TestDump(t *testing.T) {
	storagetest.RunDump(t, func(*testing.T) storage.Store { return memory.New() })
}
