package app

import (
	"crypto/rand"
	"testing"
	"time"
)

// TestNewTimeIDSortsByTime: user IDs order by creation time (so new users
// append to the B+tree) and stay unique within one instant.
func TestNewTimeIDSortsByTime(t *testing.T) {
	base := time.Unix(1_800_000_000, 0)
	prev := ""
	seen := map[string]bool{}
	for i := range 2000 {
		at := base.Add(time.Duration(i/4) * time.Microsecond) // four per instant
		id, err := newTimeID(rand.Reader, "usr_", at)
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != len("usr_")+28 || seen[id] {
			t.Fatalf("id %q (len %d, seen %v)", id, len(id), seen[id])
		}
		seen[id] = true
		if i%4 == 0 && id <= prev {
			t.Fatalf("%q created after %q sorts before it", id, prev)
		}
		if i%4 == 3 {
			prev = id
		}
	}
}
