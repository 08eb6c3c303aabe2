package storage

import (
	"context"
	"errors"
	"fmt"
)

// Record is one stored record of any kind, as Dumper.Export hands it out and
// Dumper.Import takes it. Exactly one field is set. Records are complete:
// sealed partner secrets stay sealed, audit events keep Seq, PrevHash and
// Hash, sessions and tokens keep their hashed IDs, so a copy is the same
// appliance (sessions still valid, the chain still verifying).
type Record struct {
	Org        *Org
	Tenant     *Tenant
	Partner    *Partner
	Key        *Key
	User       *User
	Session    *Session
	Replay     *Replay
	LoginToken *LoginToken
	AdminToken *AdminToken
	// SigningKeys is the assertion signing state (sealed, as stored), so a
	// copy keeps signing with the same key and sid secret.
	SigningKeys *SigningKeys
	Audit       *AuditEvent
}

// Record kinds, in the order Export emits them: every record comes after
// the records it refers to, so Import can check references as it goes.
const (
	KindOrgs        = "orgs"
	KindTenants     = "tenants"
	KindPartners    = "partners"
	KindKeys        = "keys"
	KindUsers       = "users"
	KindSessions    = "sessions"
	KindReplays     = "replay_markers"
	KindLoginTokens = "login_tokens"
	KindAdminTokens = "admin_tokens"
	KindSigningKeys = "signing_keys"
	KindAudit       = "audit_events"
)

// RecordKinds lists every kind in export order.
var RecordKinds = []string{
	KindOrgs, KindTenants, KindPartners, KindKeys, KindUsers, KindSessions,
	KindReplays, KindLoginTokens, KindAdminTokens, KindSigningKeys, KindAudit,
}

// Kind names the record's kind; "" when no field (or more than one) is set.
func (r Record) Kind() string {
	kind, n := "", 0
	set := func(ok bool, k string) {
		if ok {
			kind, n = k, n+1
		}
	}
	set(r.Org != nil, KindOrgs)
	set(r.Tenant != nil, KindTenants)
	set(r.Partner != nil, KindPartners)
	set(r.Key != nil, KindKeys)
	set(r.User != nil, KindUsers)
	set(r.Session != nil, KindSessions)
	set(r.Replay != nil, KindReplays)
	set(r.LoginToken != nil, KindLoginTokens)
	set(r.AdminToken != nil, KindAdminTokens)
	set(r.SigningKeys != nil, KindSigningKeys)
	set(r.Audit != nil, KindAudit)
	if n != 1 {
		return ""
	}
	return kind
}

// ErrNotEmpty: Import was given a store that already holds records.
var ErrNotEmpty = errors.New("destination store is not empty")

// Dumper is implemented by every backend: the whole store as a stream of
// records, for `gatehouse migrate` between backends and for backups of a
// backend whose native copy is not a bbolt file.
type Dumper interface {
	// Export calls fn for every record, in RecordKinds order (audit events in
	// Seq order), all read from ONE consistent snapshot: a copy taken while
	// sign-ins run never holds a session without its user. fn may be slow and
	// may write to another store, never to this one. An error from fn stops
	// the export and is returned as is.
	Export(ctx context.Context, fn func(Record) error) error
	// Import stores every record that src passes to put, exactly as given
	// (IDs, hashes, Seq and chain hashes preserved); the store must be empty
	// (ErrNotEmpty). Records must come in RecordKinds order. When Import
	// fails the store is left empty where the backend can do so in one
	// transaction; otherwise the caller discards it (see each backend).
	Import(ctx context.Context, src func(put func(Record) error) error) error
}

// Copy streams every record of src into the empty dst and returns how many
// records of each kind it copied.
func Copy(ctx context.Context, dst, src Dumper) (map[string]int, error) {
	counts := make(map[string]int, len(RecordKinds))
	err := dst.Import(ctx, func(put func(Record) error) error {
		return src.Export(ctx, func(r Record) error {
			kind := r.Kind()
			if kind == "" {
				return errors.New("copy: a record with no single kind")
			}
			counts[kind]++
			return put(r)
		})
	})
	if err != nil {
		return counts, fmt.Errorf("copy store: %w", err)
	}
	return counts, nil
}

// ImportOrder checks that records arrive in RecordKinds order and audit
// events in ascending Seq; backends call Next for every record they import.
type ImportOrder struct {
	rank    int
	lastSeq uint64
}

// Next reports an error when r is out of order or has no single kind.
func (o *ImportOrder) Next(r Record) error {
	kind := r.Kind()
	rank := -1
	for i, k := range RecordKinds {
		if k == kind {
			rank = i
		}
	}
	if rank < 0 {
		return errors.New("import: a record with no single kind")
	}
	if rank < o.rank {
		return fmt.Errorf("import: %s after %s: records must come in export order", kind, RecordKinds[o.rank])
	}
	o.rank = rank
	if r.Audit != nil {
		if r.Audit.Seq <= o.lastSeq {
			return fmt.Errorf("import: audit event seq %d after %d: events must come in ascending seq", r.Audit.Seq, o.lastSeq)
		}
		o.lastSeq = r.Audit.Seq
	}
	return nil
}
