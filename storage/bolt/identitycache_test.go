package bolt

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/storage"
)

// The identity cache may only ever save work: after any write returns, a
// GetSessionUser answers what the file holds now, however warm the cache.
func TestIdentityCacheNeverStale(t *testing.T) {
	s, _ := openTemp(t, Options{})
	seed(t, s)
	ctx := t.Context()
	warm := func(id string) {
		t.Helper()
		for range 3 {
			if _, _, err := s.GetSessionUser(ctx, id); err != nil {
				t.Fatalf("warm %s: %v", id, err)
			}
		}
		if _, ok := s.identities.get(id, s.identities.generation()); !ok {
			t.Fatalf("%s: not cached after three reads", id)
		}
	}
	u, err := s.SignIn(ctx, signInWrite("a@example.com", "s-1", "j-1", t0))
	mustNil(t, err)
	_, err = s.SignIn(ctx, signInWrite("a@example.com", "s-2", "j-2", t0))
	mustNil(t, err)

	// A role change by a later sign-in is seen at once.
	warm("s-1")
	again := signInWrite("a@example.com", "s-3", "j-3", t0.Add(time.Minute))
	again.Provision = func(cur *storage.User, _ func(string) int) (storage.User, error) {
		c := *cur
		c.Role = "readOnly"
		return c, nil
	}
	_, err = s.SignIn(ctx, again)
	mustNil(t, err)
	if _, got, err := s.GetSessionUser(ctx, "s-1"); err != nil || got.Role != "readOnly" {
		t.Errorf("after a role change: %+v, %v, want role readOnly", got, err)
	}

	// Revoking one session.
	warm("s-1")
	mustNil(t, s.DeleteSession(ctx, "s-1"))
	if _, _, err := s.GetSessionUser(ctx, "s-1"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("revoked session: %v, want ErrNotFound", err)
	}

	// A sweep of expired sessions.
	warm("s-2")
	_, err = s.Sweep(ctx, t0.Add(365*24*time.Hour))
	mustNil(t, err)
	if _, _, err := s.GetSessionUser(ctx, "s-2"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("swept session: %v, want ErrNotFound", err)
	}

	// Deleting the user.
	_, err = s.SignIn(ctx, signInWrite("a@example.com", "s-4", "j-4", t0))
	mustNil(t, err)
	warm("s-4")
	mustNil(t, s.DeleteUser(ctx, u.ID))
	if _, got, err := s.GetSessionUser(ctx, "s-4"); !errors.Is(err, storage.ErrNotFound) || got.ID != "" {
		t.Errorf("session of a deleted user: %+v, %v, want ErrNotFound", got, err)
	}
}

// Under concurrent reads, a write that has returned is never undone by a
// reader that read before it: once DeleteSession returns, no read of that
// session succeeds again.
func TestIdentityCacheRevocationUnderLoad(t *testing.T) {
	s, _ := openTemp(t, Options{})
	seed(t, s)
	ctx := t.Context()
	const n = 40
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "s-" + string(rune('A'+i))
		_, err := s.SignIn(ctx, signInWrite("a@example.com", ids[i], "j-"+ids[i], t0))
		mustNil(t, err)
	}
	var revoked [n]atomic.Bool
	var stale atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := r; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				i := k % n
				was := revoked[i].Load() // read before the lookup: the delete had returned
				if _, _, err := s.GetSessionUser(ctx, ids[i]); err == nil && was {
					stale.Add(1)
				}
			}
		}()
	}
	for i := range ids {
		mustNil(t, s.DeleteSession(ctx, ids[i]))
		revoked[i].Store(true)
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if got := stale.Load(); got != 0 {
		t.Errorf("%d reads found a session after its DeleteSession returned", got)
	}
}

// The cache stays within its bound, and a put read under an older
// generation never lands in a shard that has moved on.
func TestIdentityCacheBounds(t *testing.T) {
	var c identityCache
	for i := range 10 * identityShards * identityShardSize {
		c.put(string(rune(i)), 0, identity{})
	}
	total := 0
	for i := range c.shards {
		if l := len(c.shards[i].m); l > identityShardSize {
			t.Errorf("shard %d holds %d entries, bound %d", i, l, identityShardSize)
		}
		total += len(c.shards[i].m)
	}
	if total == 0 {
		t.Error("nothing cached")
	}
	c.committed()
	c.put("x", 1, identity{user: storage.User{ID: "new"}})
	c.put("x", 0, identity{user: storage.User{ID: "old"}})
	if got, ok := c.get("x", 1); !ok || got.user.ID != "new" {
		t.Errorf("after an older put: %+v, %v; want the newer entry", got, ok)
	}
	if _, ok := c.get("x", 0); ok {
		t.Error("an entry answered for a generation it was not read under")
	}
}

// Session ids (hex) spread over every shard, not a few.
func TestIdentityCacheShardsSpread(t *testing.T) {
	var c identityCache
	used := map[*identityShard]bool{}
	for _, d := range "0123456789abcdef" {
		used[c.shard("00ff"+string(d))] = true
	}
	if len(used) != identityShards {
		t.Errorf("16 hex digits use %d shards, want %d", len(used), identityShards)
	}
}
