package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"gatehouse/storage"
)

var _ storage.Store = (*Store)(nil)

// Defaults the README documents for the options left zero.
const (
	DefaultMaxConns       = 10
	DefaultQueryTimeout   = 5 * time.Second
	DefaultConnectTimeout = 5 * time.Second
	DefaultMigrateTimeout = 2 * time.Minute
	// DefaultGroupSize caps how many queued sign-ins share one transaction.
	DefaultGroupSize = 64
)

// Options tunes Open. The zero value is the production configuration.
type Options struct {
	// MaxConns is the pool size (0: DefaultMaxConns).
	MaxConns int
	// Logger receives warnings about the server's settings; nil discards.
	Logger *slog.Logger
	// QueryTimeout bounds every call whose context has no deadline of its
	// own, so a database that stops answering surfaces as ErrUnavailable
	// instead of a request that hangs (0: DefaultQueryTimeout).
	QueryTimeout time.Duration
	// ConnectTimeout bounds dialling one connection (0: DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// MigrateTimeout bounds Open's wait for the migration lock and the
	// migrations themselves when ctx has no deadline (0: DefaultMigrateTimeout).
	MigrateTimeout time.Duration
	// NoGroupCommit gives every sign-in its own transaction instead of
	// sharing one with the sign-ins queued beside it (see doc.go); it exists
	// for the benchmark that compares the two.
	NoGroupCommit bool
	// GroupSize caps one group's sign-ins (0: DefaultGroupSize).
	GroupSize int
	// groupOneByOne writes a group's sign-ins one after the other, each in
	// a savepoint, instead of pipelining them (the path a pipelined group
	// falls back to); for the benchmark that compares the two.
	groupOneByOne bool
}

// Store is a storage.Store on a PostgreSQL database that any number of
// processes may share. The zero value is not usable; call Open.
type Store struct {
	pool         *pgxpool.Pool
	log          *slog.Logger
	queryTimeout time.Duration
	group        *groupWriter // nil with Options.NoGroupCommit
}

// Open connects to the database at url (a postgres:// URL or key=value DSN),
// migrates its schema under an advisory lock (so instances started together
// are safe: one migrates, the others wait) and returns the store. A schema
// newer than this binary knows is refused.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgconn's message can quote the URL, password included.
		return nil, errors.New("postgres: cannot parse the connection URL (check storage.postgres_url)")
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = DefaultQueryTimeout
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.MigrateTimeout <= 0 {
		opts.MigrateTimeout = DefaultMigrateTimeout
	}
	if opts.GroupSize <= 0 {
		opts.GroupSize = DefaultGroupSize
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.MaxConns = int32(opts.MaxConns)
	cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	// A dead server is noticed by the pool between requests, not only by
	// the next request to use a broken connection.
	cfg.HealthCheckPeriod = 5 * time.Second
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	// A transaction is never left open by this package; should a process
	// hang mid-transaction, its locks (a partner row, the audit head) must
	// not block every other instance for long.
	cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = "30000"
	cfg.ConnConfig.RuntimeParams["application_name"] = "gatehouse"
	// A 302 promises the sign-in is durable: a server or role configured
	// for asynchronous commit is overridden on every connection.
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		var sc string
		if err := c.QueryRow(ctx, "SELECT current_setting('synchronous_commit')").Scan(&sc); err != nil {
			return err
		}
		if sc == "off" {
			_, err := c.Exec(ctx, "SET synchronous_commit = on")
			return err
		}
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, log: log, queryTimeout: opts.QueryTimeout}
	mctx, cancel := withDefaultDeadline(ctx, opts.MigrateTimeout)
	defer cancel()
	if err := s.checkServer(mctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := migrate(mctx, pool); err != nil {
		pool.Close()
		return nil, classify(err)
	}
	if !opts.NoGroupCommit {
		s.group = newGroupWriter(s, opts.GroupSize, opts.groupOneByOne)
	}
	return s, nil
}

// checkServer refuses a server this package cannot be correct on and warns
// about settings that weaken what a 302 promises.
func (s *Store) checkServer(ctx context.Context) error {
	var version int
	var encoding, fsync string
	err := s.pool.QueryRow(ctx, `SELECT current_setting('server_version_num')::int,
		current_setting('server_encoding'), current_setting('fsync')`).Scan(&version, &encoding, &fsync)
	if err != nil {
		return fmt.Errorf("postgres: %w", classify(err))
	}
	if version < 130000 {
		return fmt.Errorf("postgres: server version %d.%d is too old: PostgreSQL 13 or later is required", version/10000, version%10000)
	}
	// The audit chain is hashed by the server over the event's text, so that
	// text must be the UTF-8 bytes Go hashed.
	if encoding != "UTF8" {
		return fmt.Errorf("postgres: database encoding is %s: create it with ENCODING 'UTF8'", encoding)
	}
	if fsync != "on" {
		s.log.Warn("postgres: fsync is off on the server: an acknowledged sign-in can be lost in a crash")
	}
	return nil
}

// Ping reports whether the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	var one int
	if err := s.pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("postgres ping: %w", classify(err))
	}
	return nil
}

// Close stops the group writer (after it has answered every queued sign-in)
// and closes the pool.
func (s *Store) Close() error {
	if s.group != nil {
		s.group.close()
	}
	s.pool.Close()
	return nil
}

// deadline gives ctx the store's query timeout unless the caller set one.
func (s *Store) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return withDefaultDeadline(ctx, s.queryTimeout)
}

func withDefaultDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// maxAttempts bounds how often a transaction that lost a deadlock (or, at a
// stricter isolation level, a serialization conflict) is run again.
const maxAttempts = 5

// tx runs fn in a READ COMMITTED transaction under the store's deadline. A
// transaction PostgreSQL aborted as a deadlock victim or for a serialization
// failure (40P01, 40001) changed nothing, so it runs again, up to
// maxAttempts times; fn must therefore be safe to repeat, as update
// closures and provision functions are by contract.
func (s *Store) tx(ctx context.Context, fn func(context.Context, pgx.Tx) error) error {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	return retryTx(ctx, func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(ctx, tx) })
	})
}

func retryTx(ctx context.Context, run func() error) error {
	for attempt := 1; ; attempt++ {
		err := run()
		if err == nil || attempt == maxAttempts || !retryable(err) {
			return classify(err)
		}
		// A short random pause lets the winner of the conflict commit.
		pause := time.Duration(rand.IntN(5*attempt)+1) * time.Millisecond
		select {
		case <-ctx.Done():
			return classify(err)
		case <-time.After(pause):
		}
	}
}

// retryable: the transaction was rolled back by the server to break a
// conflict with another one and may simply run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// classify wraps errors that mean "the database is not there" with
// storage.ErrUnavailable and maps constraint violations onto the storage
// sentinels. Errors that already carry a sentinel pass unchanged.
// usersTenantFK binds a user to a tenant of its organization (migration 0004).
const usersTenantFK = "users_tenant_fk"

func classify(err error) error {
	if err == nil {
		return nil
	}
	for _, sentinel := range []error{storage.ErrNotFound, storage.ErrExists, storage.ErrConflict,
		storage.ErrReplay, storage.ErrPartnerInactive, storage.ErrInvalidCursor, storage.ErrUnavailable, storage.ErrNoTenant} {
		if errors.Is(err, sentinel) {
			return err
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return fmt.Errorf("%w (%s)", storage.ErrExists, pe.ConstraintName)
		case pe.Code == "23503" && pe.ConstraintName == usersTenantFK: // a user for a tenant that is not there
			return fmt.Errorf("%w (%s)", storage.ErrNoTenant, pe.ConstraintName)
		case pe.Code == "23503": // foreign_key_violation: the parent is missing
			return fmt.Errorf("%w (%s)", storage.ErrNotFound, pe.ConstraintName)
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutting down, crashed, starting up
			pe.Code == "53300", // too many connections
			pe.Code == "57014": // query cancelled (a statement timeout)
			return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
		}
		return err
	}
	if unreachable(err) {
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	return err
}

// unreachable: the error came from the network or a deadline, not from SQL.
func unreachable(err error) bool {
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err),
		errors.As(err, &ce), errors.As(err, &ne),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	// A connection pgx closed after an I/O failure reports only this.
	return strings.Contains(err.Error(), "conn closed")
}

// utc drops the location a timestamptz scan attaches, so records read back
// compare (and encode) like the UTC instants Gatehouse writes.
func utc(t time.Time) time.Time { return t.UTC() }
