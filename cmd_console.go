package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"gatehouse/app"
	"gatehouse/tui"
)

func init() { register(newConsoleCmd) }

func newConsoleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "console",
		Short: "The terminal console for tenants, partners, keys, users and audit",
		Long: `The keyboard-driven terminal console. It attaches to a running server through
its admin socket, or, when no server answers there, opens the database itself.
Press ? inside for the keys.`,
		Example: `  gatehouse console
  gatehouse console --config /etc/gatehouse/config.toml --org acme`,
		Args: noArgs,
	}
	cfgPath := configFlag(cmd)
	org := cmd.Flags().String("org", "", "organization to open (default: the first)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		opts := tui.Options{Org: *org}
		if c, noServer := socketClient(cfg); c != nil {
			opts.Admin, opts.Actor, opts.Mode = c, app.Operator, tui.ModeSocket
		} else {
			// Logs would draw over the console: drop them. The database is
			// opened per operation (see directAdmin); this first open only
			// fails early when it cannot be opened at all.
			d := &directAdmin{cfg: cfg, log: newLogger(cfg.Log, io.Discard)}
			if _, _, err := d.acquire(); err != nil {
				return fmt.Errorf("console: %w", directFailed(noServer, err))
			}
			d.release()
			defer d.Close()
			opts.Admin, opts.Actor, opts.Mode = d, app.Console, tui.ModeDirect
		}
		return tui.Run(opts)
	}
	return cmd
}
