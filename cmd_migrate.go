package main

import (
	"context"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func init() { register(newMigrateCmd) }

func newMigrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "migrate --from SRC --to DST",
		Short:   "Copy every record between stores (bbolt file or PostgreSQL)",
		Long:    migrateLong,
		Example: migrateExample,
		Args:    noArgs,
	}
	from := cmd.Flags().String("from", "", "source: a bbolt file path or a postgres:// URL (required)")
	to := cmd.Flags().String("to", "", "destination, empty: a new bbolt file path or a postgres:// URL (required)")
	requireFlags(cmd, "from", "to")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		return migrate(ctx, *from, *to, cmd.OutOrStdout())
	}
	return cmd
}
