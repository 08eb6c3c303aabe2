package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"gatehouse/app"
	"gatehouse/storage"
	"gatehouse/storage/bolt"
)

const migrateLong = `Copy every record from one store to another: organizations, tenants, partners
(sealed secrets stay sealed: the destination needs the same
crypto.encryption_keys), keys, users, sessions (still valid), replay markers,
login tokens, admin tokens and the audit chain (Seq and hashes preserved).
SRC and DST are each a bbolt file path (a database or a backup) or a
postgres:// URL. The destination must be empty: a bbolt DST must not exist
yet (it is written beside it and renamed into place only when complete); a
PostgreSQL DST must hold no records (the copy is one transaction). The audit
chain is verified on the destination, then the counts are printed, one line
per record type. It needs no config file.

Stop the gatehouse instances that write to SRC first: the copy is one
consistent snapshot, and anything written after it is not copied.
`

const migrateExample = `  gatehouse migrate --from /var/lib/gatehouse/gatehouse.db \
    --to 'postgres://gatehouse@db.internal/gatehouse?sslmode=verify-full'
  gatehouse migrate --from "$PG_URL" --to /var/lib/gatehouse/restored.db`

// migrate copies every record of the store src names into the empty store
// dst names, verifies the audit chain there and prints the counts to out.
func migrate(ctx context.Context, from, to string, out io.Writer) error {
	if from == "" || to == "" {
		return errors.New("migrate: --from SRC and --to DST are required")
	}
	if sameStore(from, to) {
		return errors.New("migrate: --from and --to name the same store")
	}
	src, err := openMigrateSource(from)
	if err != nil {
		return fmt.Errorf("migrate: --from %s: %w", redactURL(from), err)
	}
	defer src.Close()
	srcDump, ok := src.(storage.Dumper)
	if !ok {
		return fmt.Errorf("migrate: --from %s: this backend cannot export", redactURL(from))
	}

	var counts map[string]int
	var verified app.AuditVerification
	copyInto := func(dst storage.Store) error {
		dstDump, ok := dst.(storage.Dumper)
		if !ok {
			return errors.New("this backend cannot import")
		}
		var err error
		if counts, err = storage.Copy(ctx, dstDump, srcDump); err != nil {
			if errors.Is(err, storage.ErrNotEmpty) {
				return errors.New("the destination is not empty; migrate only copies into an empty store")
			}
			return err
		}
		if verified, err = app.VerifyAuditChain(ctx, dst); err != nil {
			return fmt.Errorf("verify the audit chain: %w", err)
		}
		if !verified.OK {
			return fmt.Errorf("audit chain FAILED on the destination at event %d: %s", verified.BadSeq, verified.Problem)
		}
		return nil
	}

	if isPostgresURL(to) {
		dst, err := openPostgres(to, 0, slog.New(slog.DiscardHandler))
		if err != nil {
			return fmt.Errorf("migrate: --to %s: %w", redactURL(to), err)
		}
		defer dst.Close()
		if err := copyInto(dst); err != nil {
			return fmt.Errorf("migrate: --to %s: %w", redactURL(to), err)
		}
	} else if err := migrateToNewBolt(to, copyInto); err != nil {
		return fmt.Errorf("migrate: --to %s: %w", to, err)
	}

	for _, kind := range storage.RecordKinds {
		fmt.Fprintf(out, "%s %d\n", kind, counts[kind])
	}
	if verified.Events > 0 {
		fmt.Fprintf(out, "audit chain verified on the destination: %d events (seq %d to %d)\n", verified.Events, verified.First, verified.Last)
	} else {
		fmt.Fprintln(out, "audit chain verified on the destination: no events")
	}
	return nil
}

// openMigrateSource opens an existing store; it never creates one.
func openMigrateSource(spec string) (storage.Store, error) {
	if isPostgresURL(spec) {
		return openPostgres(spec, 0, slog.New(slog.DiscardHandler))
	}
	fi, err := os.Stat(spec)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, errors.New("is a directory; name the database file (e.g. DIR/gatehouse.db)")
	}
	return bolt.Open(spec, bolt.Options{Timeout: 2 * time.Second, NoGroupCommit: true})
}

// migrateToNewBolt writes a new bbolt file beside path and renames it into
// place only once the copy is complete, checked and closed, so a failed
// migration leaves nothing that looks like a database.
func migrateToNewBolt(path string, copyInto func(storage.Store) error) error {
	if _, err := os.Stat(path); err == nil {
		return errors.New("already exists; migrate writes a new bbolt file and never overwrites one")
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+filepath.Base(path)+".migrating")
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	dst, err := bolt.Open(tmp, bolt.Options{Timeout: 2 * time.Second, NoGroupCommit: true})
	if err != nil {
		return err
	}
	if err := copyInto(dst); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Check(); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// sameStore reports whether two migrate arguments name one store.
func sameStore(a, b string) bool {
	if a == b {
		return true
	}
	if isPostgresURL(a) || isPostgresURL(b) {
		return false
	}
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}
