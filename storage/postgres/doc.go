// Package postgres is the storage backend for several Gatehouse instances
// sharing one PostgreSQL database (version 13 or later), on jackc/pgx v5 and
// its pgxpool. It passes storage/storagetest like storage/memory and
// storage/bolt; only main imports it.
//
// # Records
//
// Every record is stored whole in a json column (the bytes encoding/json
// wrote, so nanoseconds and nil-versus-empty slices survive), beside the
// columns the database must index, constrain or compare. Instants in those
// columns (expiry, last use) are computed in Go in UTC and kept to the
// microsecond; the server's clock is never consulted.
//
// # Schema and migrations
//
// The schema is a numbered series of SQL files embedded in the binary
// (migrations/NNNN_name.sql), applied by Open. Open takes a session-level
// advisory lock first, so of several instances started together one
// migrates and the others wait for it and then find nothing to do; each file
// runs in one transaction with its version row in gatehouse_schema, so a
// crash leaves a whole version. A database at a version this binary does not
// know is refused with one line (ErrSchemaTooNew).
//
// Why a small runner of our own rather than pressly/goose: the runner is
// about eighty lines that do exactly the three things needed (advisory
// lock, ordered files in transactions, refuse a newer schema with a clear
// message); goose would add a dependency with process-global settings
// (dialect, base filesystem, table name), its own version-table format and
// CLI-oriented behaviour (down migrations, out-of-order modes) that an
// appliance upgrading itself at start-up should never use, and its "newer
// than the binary" case is not an error by default.
//
// # Invariants across instances
//
// Nothing relies on a lock inside one process; the database decides:
//
//   - Replay markers (jti, nonce): the primary key of replays. A sign-in
//     inserts its marker with INSERT … ON CONFLICT DO UPDATE … WHERE the old
//     marker expired; zero rows back is a replay. The insert is part of the
//     sign-in's own transaction, so a refused sign-in records nothing, and
//     a second instance racing for the same key waits for the first to
//     commit and then sees its row.
//   - Login tokens: DELETE … RETURNING; exactly one caller gets the row.
//   - One user per email: a unique index on (org_id, lower(email)) (and, until
//     the contract scopes emails to an organization, on lower(email)). A
//     first sign-in whose insert meets a user another instance committed in
//     the meantime runs again and signs in as that user, so concurrent first
//     sign-ins all succeed and share one user.
//   - max_users: counting a partner's users inside a sign-in first takes a
//     transaction-level advisory lock named after the partner, so two
//     instances creating the partner's last allowed user count one after
//     the other and the second sees the first's committed user.
//   - Partner deactivation: a sign-in holds its partner's row FOR SHARE until
//     it commits; UpdatePartner locks it FOR UPDATE and deletes the
//     partner's sessions in the same transaction. A sign-in either commits
//     first (and its session is deleted with the others) or waits and then
//     finds the partner inactive. DeleteUser and a sign-in of that user are
//     ordered the same way by the user's row lock.
//   - Durability: every connection runs with synchronous_commit on (forced on
//     when the server or role says off), and SignIn returns nil only after
//     COMMIT returned.
//
// A transaction the server aborts as a deadlock victim (40P01) or for a
// serialization failure (40001) changed nothing and is run again, a few
// times, after a short random pause.
//
// # The audit chain
//
// One chain for all instances, serialised by one row: audit_head holds the
// last Seq and Hash. An append locks that row (SELECT … FOR UPDATE) in its
// own transaction, then one statement computes the next Seq, hashes the
// event with the server's sha256() over exactly the bytes storage.HashEvent
// hashes (the event's JSON, prepared in Go before the transaction, with Seq
// and PrevHash spliced in), inserts the event and moves the head. Seq and
// PrevHash are therefore serial across instances, a rolled-back transaction
// leaves no gap, and the head survives a prune of every event. The row lock
// is taken as the last step of a transaction and held only for its final
// round trip and commit. A chain per instance was the alternative; it would
// avoid the shared lock but make `gatehouse audit verify` and every reader
// merge several chains, and Seq would no longer order the log.
//
// # Group commit
//
// Because the chain head is held through COMMIT, sign-ins in separate
// transactions cannot share the server's WAL flushes: they commit one after
// another. So concurrent sign-ins of one Store are written together: writer
// goroutines each take every sign-in queued (never waiting for more) and run
// them in one transaction, each inside its own savepoint so that one refused
// sign-in rolls back alone, then chain all their audit events under one head
// lock and commit once. A sign-in is answered only after that COMMIT
// returned. Options.NoGroupCommit gives each sign-in its own transaction;
// the benchmark in this package measures both.
//
// # Failures
//
// Every call runs under a deadline: the caller's, or Options.QueryTimeout.
// A server that refuses connections, drops them or stops answering surfaces
// as an error wrapping storage.ErrUnavailable (the service answers 503);
// the pool dials again on the next call, so recovery needs no restart.
// Unique and foreign-key violations map to storage.ErrExists and
// storage.ErrNotFound. Expired rows are swept in batches of 1000 (LIMIT …
// FOR UPDATE SKIP LOCKED), never by one unbounded DELETE.
package postgres
