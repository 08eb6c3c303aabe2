package storage

import "context"

// Change kinds a ChangeNotifier reports.
const (
	ChangeKeys     = "keys"
	ChangePartners = "partners"
	ChangeTenants  = "tenants"
	ChangeUsers    = "users"
	// ChangeAll: notifications may have been missed (the feed connected or
	// reconnected); drop everything cached.
	ChangeAll = "all"
)

// Change says that records of Kind in organization OrgID ("" = any) were
// changed, by this process or another one sharing the database.
type Change struct {
	Kind  string
	OrgID string
}

// ChangeNotifier is implemented by backends that several processes share
// (PostgreSQL): it is how an in-process cache learns of a change another
// instance committed. Backends owned by one process (bbolt, memory) do not
// implement it; their only writer invalidates its own caches.
type ChangeNotifier interface {
	// Subscribe calls fn for every change committed on the database until
	// ctx ends, then returns ctx's error. It reconnects by itself after a
	// failure and reports ChangeAll after every (re)connection, because
	// changes committed while it was away were not delivered. fn must be
	// quick and must not call the store.
	Subscribe(ctx context.Context, fn func(Change)) error
}
