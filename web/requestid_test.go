package web

import (
	"regexp"
	"sync"
	"testing"
)

// Request ids are 64 random bits in hex, distinct across concurrent
// requests (each generator is used by one goroutine at a time).
func TestRequestIDs(t *testing.T) {
	shape := regexp.MustCompile(`^[0-9a-f]{16}$`)
	const workers, each = 8, 5000
	ids := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				ids[w] = append(ids[w], newRequestID())
			}
		}()
	}
	wg.Wait()
	seen := make(map[string]bool, workers*each)
	for _, list := range ids {
		for _, id := range list {
			if !shape.MatchString(id) {
				t.Fatalf("request id %q is not 16 lowercase hex digits", id)
			}
			if seen[id] {
				t.Fatalf("request id %q issued twice", id)
			}
			seen[id] = true
		}
	}
}
