package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"gatehouse/app"
	"gatehouse/storage"
	"gatehouse/web/client"
)

func init() { register(newAuditCmd) }

func newAuditCmd() *cobra.Command {
	cmd := newGroupCmd("audit", "Check or export the audit log",
		`Check or export the append-only, hash-chained audit log: through the admin socket
while a server runs, else straight from the database file.`,
		`  gatehouse audit verify
  gatehouse audit export > audit.jsonl`)
	cmd.AddCommand(newAuditVerifyCmd(), newAuditExportCmd(), newAuditListCmd())
	return cmd
}

func newAuditVerifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit hash chain",
		Long: `Recompute the audit hash chain. Exit 0 with "audit chain OK: N events"; exit 1
naming the first event that does not verify.`,
		Example: `  gatehouse audit verify --config /etc/gatehouse/config.toml`,
		Args:    noArgs,
	}
	cfgPath := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return withAuditSource(*cfgPath, func(ctx context.Context, c *client.Client, store storage.Store) error {
			var v app.AuditVerification
			var err error
			if c != nil {
				err = c.Do(ctx, http.MethodGet, "/api/v1/audit/verify", nil, &v)
			} else {
				v, err = app.VerifyAuditChain(ctx, store)
			}
			if err != nil {
				return fmt.Errorf("audit verify: %w", err)
			}
			if !v.OK {
				return fmt.Errorf("audit verify: FAILED at event %d: %s (%d events before it verified)", v.BadSeq, v.Problem, v.Events)
			}
			if v.Events == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "audit chain OK: no events")
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "audit chain OK: %d events (seq %d to %d)\n", v.Events, v.First, v.Last)
			return nil
		})
	}
	return cmd
}

func newAuditExportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "export",
		Short:   "Write every audit event as JSON lines, oldest first",
		Long:    `Write every audit event to stdout as one JSON object per line, oldest first.`,
		Example: `  gatehouse audit export > audit.jsonl`,
		Args:    noArgs,
	}
	cfgPath := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return withAuditSource(*cfgPath, func(ctx context.Context, c *client.Client, store storage.Store) error {
			w := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
			var err error
			if c != nil {
				err = c.Do(ctx, http.MethodGet, "/api/v1/audit/export", nil, w)
			} else {
				_, err = app.ExportAuditLines(ctx, store, w)
			}
			if ferr := w.Flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return fmt.Errorf("audit export: %w", err)
			}
			return nil
		})
	}
	return cmd
}

// withAuditSource runs f with the admin socket's client while a server runs,
// else with the database file opened directly (exactly one is non-nil).
func withAuditSource(cfgPath string, f func(context.Context, *client.Client, storage.Store) error) error {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	c := socketClient(cfg)
	var store storage.Store
	if c == nil {
		if store, err = openStoreOnly(cfg); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		defer store.Close()
	}
	return f(ctx, c, store)
}
