package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/storage/bolt"
)

func init() { register(newBackupCmd) }

func newBackupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup --out FILE",
		Short: "Write a consistent, checked copy of the database",
		Long: `Write a consistent copy of the database: through the admin socket while a server
runs, else straight from the file. The copy is written to a temporary file beside
FILE, synced, opened and checked with the bbolt consistency check, and only then
renamed over FILE (mode 0600); on any failure FILE is left as it was.`,
		Example: `  gatehouse backup --out gatehouse-$(date +%F).db
  gatehouse backup --out /var/backups/gatehouse.db --config /etc/gatehouse/config.toml`,
		Args: noArgs,
	}
	out := cmd.Flags().String("out", "", "file to write the copy to (required)")
	cfgPath := configFlag(cmd)
	requireFlags(cmd, "out")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return runBackup(cmd, *out, *cfgPath)
	}
	return cmd
}

func runBackup(cmd *cobra.Command, out, cfgPath string) error {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return err
	}
	if abs, err := filepath.Abs(out); err == nil {
		if db, err := filepath.Abs(cfg.DatabasePath()); err == nil && abs == db {
			return errors.New("backup: --out must not be the live database")
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	via := "database file"
	n, err := writeAtomically(out, func(w io.Writer) (int64, error) {
		c, noServer := socketClient(cfg)
		if c != nil {
			via = "running server"
			cw := &countingWriter{w: w}
			err := c.Do(ctx, http.MethodGet, "/api/v1/backup", nil, cw)
			return cw.n, err
		}
		store, err := openStoreOnly(cfg)
		if err != nil {
			return 0, directFailed(noServer, err)
		}
		defer store.Close()
		return store.Backup(ctx, w)
	}, verifyBackup)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d bytes, from the %s); consistency check passed\n", out, n, via)
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// verifyBackup opens a copy as a database and runs the full consistency check.
func verifyBackup(path string) error {
	store, err := bolt.Open(path, bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return fmt.Errorf("the copy does not open: %w", err)
	}
	if err := store.Check(); err != nil {
		store.Close()
		return fmt.Errorf("the copy fails the consistency check: %w", err)
	}
	return store.Close()
}

// writeAtomically writes a temporary file beside path (0600), syncs it,
// runs verify on it and renames it over path, syncing the directory; on any
// failure path is left as it was.
func writeAtomically(path string, write func(io.Writer) (int64, error), verify func(string) error) (int64, error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return 0, err
	}
	n, err := write(f)
	if err != nil {
		return n, err
	}
	if n == 0 {
		return 0, errors.New("the copy is empty")
	}
	if err := f.Sync(); err != nil {
		return n, err
	}
	if err := f.Close(); err != nil {
		return n, err
	}
	if err := verify(tmp); err != nil {
		return n, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return n, err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return n, nil
}
