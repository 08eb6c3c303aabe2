package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"gatehouse/storage"
)

// Format marker and schema version written to the meta bucket. The version
// is bumped when the on-disk layout changes; Open migrates an older file up
// to formatVersion (see migrations) and refuses a newer one, so an older
// binary never misreads a layout it does not know.
const (
	formatName    = "gatehouse"
	formatVersion = 3
)

// Bucket names. Index buckets hold only keys (and small fixed values) that
// point back to the record buckets.
var (
	bktMeta          = []byte("meta")
	bktOrgs          = []byte("orgs")
	bktTenants       = []byte("tenants")        // org\0tenant → Tenant
	bktPartners      = []byte("partners")       // id → Partner
	bktPartnerActive = []byte("partner_active") // id → org\0 1|0 (the sign-in write's check)
	bktPartnerNames  = []byte("partner_names")  // org\0name → partner id
	bktPartnerCKs    = []byte("partner_cks")    // consumer key → partner id
	bktKeys          = []byte("keys")           // org\0kid → Key
	bktUsers         = []byte("users")          // id → User
	bktOrgUsers      = []byte("org_users")      // org\0email → tenant\0user id: the (per-organization) email index
	bktPartnerUsers  = []byte("partner_users")  // partner\0user → (empty)
	bktSessions      = []byte("sessions")       // id → Session
	bktReplays       = []byte("replays")        // key → expiry
	bktLoginTokens   = []byte("login_tokens")   // id → LoginToken
	bktAdminTokens   = []byte("admin_tokens")   // id → AdminToken
	bktAdminTokenIdx = []byte("admin_token_hashes")
	bktAudit         = []byte("audit")   // big-endian seq → AuditEvent
	bktSigning       = []byte("signing") // "keys" → SigningKeys (the assertion signing state)

	allBuckets = [][]byte{
		bktMeta, bktOrgs, bktTenants, bktPartners, bktPartnerActive, bktPartnerNames, bktPartnerCKs,
		bktKeys, bktKeyPrints, bktUsers, bktOrgUsers, bktPartnerUsers,
		bktSessions, bktReplays, bktLoginTokens, bktAdminTokens,
		bktAdminTokenIdx, bktAudit, bktSigning,
	}
)

// Meta bucket keys.
var (
	metaFormat    = []byte("format")
	metaVersion   = []byte("version")
	metaAuditHead = []byte("audit_head") // hash of the newest event ever appended: the chain head
)

// Fill percents for buckets whose keys grow at the end. bbolt splits pages at
// half by default, which leaves every page of an append-only bucket half
// empty forever; packing them means fewer pages written per commit.
// Sessions are only roughly ordered (concurrent requests race for the next
// time prefix), so they keep a little room for near-tail inserts.
var fillPercent = map[string]float64{
	string(bktAudit):    1.0,
	string(bktSessions): 0.9,
}

// Options tunes Open. The zero value is the production configuration.
type Options struct {
	// Timeout bounds the wait for the file lock held by another process
	// (default 1s): a second process must fail fast, never hang.
	Timeout time.Duration
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// NoGroupCommit runs every write in its own transaction. It exists only to
	// measure what group commit buys; production leaves it false.
	NoGroupCommit bool
}

// Store is the bbolt implementation of storage.Store.
type Store struct {
	db  *bbolt.DB
	log *slog.Logger

	noGroup bool
	// mu guards closed and sends on reqs, so Close cannot close the channel
	// while a sender is between its check and its send.
	mu      sync.RWMutex
	closed  bool
	reqs    chan *request
	writerD chan struct{}
	// groups counts group transactions, so tests can tell that requests
	// really shared one.
	groups atomic.Uint64
	// commitObs, when set, hears of every commit (metrics).
	commitObs atomic.Pointer[CommitObserver]

	// Decoded records of the hot read paths (forward-auth, sign-in), by
	// their exact bytes: see decodeCache.
	userCache    *decodeCache[storage.User]
	sessionCache *decodeCache[storage.Session]
	partnerCache *decodeCache[storage.Partner]
	tenantCache  *decodeCache[storage.Tenant]
	// identities answers forward-auth's session and user read while no
	// write has committed since (see identityCache).
	identities identityCache
}

// Decode cache sizes: the sessions and users of the pages being browsed
// right now, and every partner. About 5 MB at most.
const (
	userCacheSize    = 8192
	sessionCacheSize = 8192
	partnerCacheSize = 1024
	tenantCacheSize  = 1024
)

var _ storage.Store = (*Store)(nil)

// errClosed is returned by writes submitted after Close.
var errClosed = errors.New("store closed")

// Open opens (or creates) the database file at path. It refuses files that
// are empty, not bbolt, or bbolt but not Gatehouse, and fails after
// opts.Timeout when another process holds the file.
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}

	fi, err := os.Stat(path)
	switch {
	case err == nil:
		if fi.IsDir() {
			return nil, fmt.Errorf("open database %s: is a directory", path)
		}
		// bbolt treats an empty file as new and writes a fresh database into
		// it; an empty file where a database should be means data was lost
		// (truncated copy, full disk) and must not be papered over.
		if fi.Size() == 0 {
			return nil, fmt.Errorf("open database %s: file is empty (zero bytes); refusing to initialise it over what may be a lost database — restore a backup or remove the file", path)
		}
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("open database: create directory: %w", err)
		}
	default:
		return nil, fmt.Errorf("open database: %w", err)
	}

	// NoFreelistSync, as etcd runs bbolt: a commit no longer rewrites the
	// whole freelist (pages that grow with the file) next to its data; the
	// freelist is rebuilt by scanning the file at open instead. Data and meta
	// pages are still fsynced on every commit, so durability is unchanged,
	// and a file written this way opens in any bbolt.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:        opts.Timeout,
		FreelistType:   bbolt.FreelistMapType,
		NoFreelistSync: true,
	})
	if err != nil {
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("open database %s: in use by another process (its lock was not released within %s): a running `gatehouse serve` (use its admin socket, or stop it), a `gatehouse console` operation in direct mode (it holds the file only while an operation runs: retry), or a `gatehouse backup`, `migrate`, `rekey`, `audit` or `signing-key` run on this file: %w", path, opts.Timeout, err)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch),
			strings.HasPrefix(err.Error(), "file size too small"): // bbolt's error for a file shorter than its meta pages
			return nil, fmt.Errorf("open database %s: not a bbolt database (or a corrupt one): %w", path, err)
		}
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := initSchema(db, lg); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}

	s := &Store{db: db, log: lg, noGroup: opts.NoGroupCommit,
		userCache:    newDecodeCache[storage.User](userCacheSize, nil),
		sessionCache: newDecodeCache[storage.Session](sessionCacheSize, nil),
		partnerCache: newDecodeCache(partnerCacheSize, clonePartner),
		tenantCache:  newDecodeCache(tenantCacheSize, cloneTenant),
	}
	if !s.noGroup {
		s.reqs = make(chan *request, 1024)
		s.writerD = make(chan struct{})
		go s.writer()
	}
	lg.Debug("database opened", "path", path, "group_commit", !s.noGroup)
	return s, nil
}

// initSchema stamps a new database, or verifies an existing one and migrates
// it to formatVersion, then creates any bucket a newer release added. It is
// one transaction: a crash (or a failed migration) leaves the file exactly as
// it was, and opening it again simply runs the migration again.
func initSchema(db *bbolt.DB, lg *slog.Logger) error {
	return db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		if meta == nil {
			// A bbolt file with foreign buckets belongs to some other program.
			foreign := false
			_ = tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
				foreign = true
				return nil
			})
			if foreign {
				return errors.New("bbolt file is not a gatehouse database (no meta bucket)")
			}
			var err error
			if meta, err = tx.CreateBucket(bktMeta); err != nil {
				return fmt.Errorf("create meta bucket: %w", err)
			}
			if err := meta.Put(metaFormat, []byte(formatName)); err != nil {
				return fmt.Errorf("write format marker: %w", err)
			}
			if err := meta.Put(metaVersion, u64(formatVersion)); err != nil {
				return fmt.Errorf("write format version: %w", err)
			}
		}
		if string(meta.Get(metaFormat)) != formatName {
			return errors.New("bbolt file is not a gatehouse database (bad format marker)")
		}
		v := meta.Get(metaVersion)
		if len(v) != 8 {
			return errors.New("gatehouse database has no valid format version")
		}
		got := binary.BigEndian.Uint64(v)
		if got == 0 {
			return errors.New("gatehouse database has no valid format version (0)")
		}
		if got > formatVersion {
			return fmt.Errorf("database schema version %d is newer than this binary supports (%d): upgrade gatehouse to the release that wrote it, or a newer one", got, formatVersion)
		}
		for ; got < formatVersion; got++ {
			migrate, ok := migrations[got]
			if !ok {
				return fmt.Errorf("no migration from schema version %d", got)
			}
			if err := migrate(tx); err != nil {
				return fmt.Errorf("migrate schema %d → %d: %w", got, got+1, err)
			}
			if err := meta.Put(metaVersion, u64(got+1)); err != nil {
				return fmt.Errorf("write format version: %w", err)
			}
			lg.Info("database schema migrated", "from", got, "to", got+1)
		}
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	})
}

// Close stops the group-commit writer after it has answered every queued
// request, then closes the file. It is safe to call more than once.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.reqs != nil {
		close(s.reqs)
	}
	s.mu.Unlock()
	if s.writerD != nil {
		<-s.writerD
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}

// Ping reports whether the database answers a read transaction.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bktMeta) == nil {
			return errors.New("meta bucket missing")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Backup writes a consistent copy of the database to w. It runs in a read
// transaction, so sign-ins keep committing while the copy is written.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(ctxWriter{ctx: ctx, w: w})
		return err
	})
	if err != nil {
		// bbolt flattens the writer's error into text; report the
		// cancellation itself so callers can recognise it.
		if cerr := ctx.Err(); cerr != nil {
			return n, fmt.Errorf("backup database: %w", cerr)
		}
		return n, fmt.Errorf("backup database: %w", err)
	}
	return n, nil
}

// ctxWriter stops a long backup when its context ends; WriteTo itself has no
// other way to be interrupted.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// Check runs bbolt's page-level consistency check, e.g. on a restored backup
// before trusting it. It uses a write transaction (rolled back) because
// bbolt's check is only safe against concurrent writers from one.
func (s *Store) Check() error {
	tx, err := s.db.Begin(true)
	if err != nil {
		return fmt.Errorf("check database: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var errs []error
	for err := range tx.Check() {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("check database: %w", errors.Join(errs...))
	}
	return nil
}

// --- encoding helpers ---

// join builds a composite key; see the package comment for why NUL.
func join(parts ...string) []byte {
	n := len(parts) - 1
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

// prefix is join(parts...) plus the trailing separator, selecting every key
// under that parent.
func prefix(parts ...string) []byte {
	return append(join(parts...), 0)
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// Expiry values in index buckets are Unix nanoseconds, so counting and
// sweeping never decode JSON. Times outside int64 nanoseconds are clamped.
func encTime(t time.Time) []byte {
	var n int64
	switch {
	case t.IsZero():
		n = math.MinInt64
	case t.Unix() >= math.MaxInt64/int64(time.Second):
		n = math.MaxInt64
	case t.Unix() <= math.MinInt64/int64(time.Second):
		n = math.MinInt64
	default:
		n = t.UnixNano()
	}
	return u64(uint64(n))
}

// liveAt reports whether an encoded expiry lies after now.
func liveAt(enc []byte, now time.Time) bool {
	if len(enc) != 8 {
		return false
	}
	exp := int64(binary.BigEndian.Uint64(enc))
	return exp > int64(binary.BigEndian.Uint64(encTime(now)))
}

func getJSON(b *bbolt.Bucket, key []byte, v any) error {
	data := b.Get(key)
	if data == nil {
		return storage.ErrNotFound
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode record %q: %w", key, err)
	}
	return nil
}

func putJSON(b *bbolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	return b.Put(key, data)
}

// hasPrefix reports whether any key in b starts with p.
func hasPrefix(b *bbolt.Bucket, p []byte) bool {
	k, _ := b.Cursor().Seek(p)
	return k != nil && len(k) >= len(p) && string(k[:len(p)]) == string(p)
}

// scanPrefix calls fn for every key/value under p, in key order.
func scanPrefix(b *bbolt.Bucket, p []byte, fn func(k, v []byte) error) error {
	c := b.Cursor()
	for k, v := c.Seek(p); k != nil && len(k) >= len(p) && string(k[:len(p)]) == string(p); k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

// bucket returns a bucket with the fill percent its key pattern wants; bbolt
// does not persist FillPercent, so it must be set in every transaction.
func bucket(tx *bbolt.Tx, name []byte) *bbolt.Bucket {
	b := tx.Bucket(name)
	if fp, ok := fillPercent[string(name)]; ok && b != nil {
		b.FillPercent = fp
	}
	return b
}

// update runs fn in its own transaction, checking ctx first.
func (s *Store) update(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.dbUpdate(fn)
}

// dbUpdate is the only way the store writes: every write transaction goes
// through here, so the identity cache hears of every commit.
func (s *Store) dbUpdate(fn func(tx *bbolt.Tx) error) error {
	defer s.identities.committed()
	return s.db.Update(fn)
}

// view runs fn in a read transaction, checking ctx first.
func (s *Store) view(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}
