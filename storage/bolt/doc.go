// Package bolt is the production storage backend: one bbolt file owned by one
// process (bbolt locks it), with a bucket per entity holding JSON records and
// secondary index buckets maintained in the same transaction as the record.
//
// Sign-ins, audit appends, replay markers and login tokens go through a
// zero-delay group commit: one writer goroutine applies whatever requests are
// queued in a single fsynced transaction, so concurrent sign-ins share the
// cost of a commit without ever trading away durability. Rare administrative
// writes use their own transaction.
//
// Keys that combine identifiers (organization and tenant, partner and user…)
// join them with a NUL byte: IDs, kids and emails cannot contain one, so a
// prefix scan for one parent can never match another parent whose ID merely
// starts with the same characters.
package bolt
