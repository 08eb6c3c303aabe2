package bolt

import (
	"sync"
	"sync/atomic"

	"gatehouse/storage"
)

// identityCache answers GetSessionUser from memory while nothing has been
// written since the answer was read. A proxy calls forward-auth on every
// page load, and a read transaction (begin, two bucket and two key
// searches, rollback) was most of the check's store cost even with the
// decoded records cached.
//
// Freshness is by commit generation, not by record: every committed write
// transaction, whatever it touched, bumps the store's generation, and an
// entry answers only while the generation it was read under is still the
// current one. A reader takes the generation before it opens its read
// transaction, so an entry is never tagged with a generation newer than the
// state it saw: after a write's commit returns (and so before its caller
// answers), no lookup can return what the write changed — a revoked
// session, a deleted user, an old role. Only this process writes the file
// (bbolt's lock), so the generation sees every write.
//
// Sign-ins commit all the time under load, which empties the cache as
// often; the cache pays off for the common case of many page loads between
// writes, and costs one atomic load and a map lookup when it misses.
//
// Memory is bounded: each shard holds at most identityShardSize entries of
// one generation and starts afresh when it fills or the generation moves.
type identityCache struct {
	gen    atomic.Uint64
	shards [identityShards]identityShard
}

const (
	identityShards    = 16
	identityShardSize = 512 // 8192 entries in all, about 3 MB at most
)

type identityShard struct {
	mu  sync.Mutex
	gen uint64
	m   map[string]identity
}

type identity struct {
	sess storage.Session
	user storage.User
}

// generation is the tag for a lookup about to read the database.
func (c *identityCache) generation() uint64 { return c.gen.Load() }

// committed marks a write transaction as committed: every entry read
// before it is stale from now on.
func (c *identityCache) committed() { c.gen.Add(1) }

func (c *identityCache) shard(sessionID string) *identityShard {
	return &c.shards[storage.SessionShard(sessionID)%identityShards]
}

// get returns the identity cached for the session under generation gen.
func (c *identityCache) get(sessionID string, gen uint64) (identity, bool) {
	sh := c.shard(sessionID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.gen != gen {
		return identity{}, false
	}
	id, ok := sh.m[sessionID]
	return id, ok
}

// put remembers an identity read under generation gen (taken before the
// read transaction began). A put of an older generation than the shard's
// is dropped: it may predate a write the shard's entries already reflect.
func (c *identityCache) put(sessionID string, gen uint64, id identity) {
	sh := c.shard(sessionID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	switch {
	case gen < sh.gen:
		return
	case gen > sh.gen || sh.m == nil || len(sh.m) >= identityShardSize:
		sh.gen, sh.m = gen, make(map[string]identity, 64)
	}
	sh.m[sessionID] = id
}
