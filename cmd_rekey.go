package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/spf13/cobra"

	"gatehouse/app"
)

func init() { register(newRekeyCmd) }

func newRekeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rekey",
		Short: "Re-seal every partner secret under the newest encryption key",
		Long: `Re-seal every partner consumer secret under the highest-numbered key in
crypto.encryption_keys, through the running server's admin socket, or on the
database directly when no server runs. After it, older key versions can be removed.`,
		Example: `  gatehouse rekey --config /etc/gatehouse/config.toml`,
		Args:    noArgs,
	}
	cfgPath := configFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		ctx := context.Background()
		var n int
		if c, noServer := socketClient(cfg); c != nil {
			var out struct{ Resealed int }
			if err := c.Do(ctx, http.MethodPost, "/api/v1/rekey", struct{}{}, &out); err != nil {
				return err
			}
			n = out.Resealed
		} else {
			inst, err := openExistingInstance(cfg, newLogger(cfg.Log, os.Stderr))
			if err != nil {
				return directFailed(noServer, err)
			}
			defer inst.store.Close()
			if n, err = inst.svc.Rekey(ctx, app.Operator); err != nil {
				return err
			}
		}
		fmt.Fprintf(cmd.OutOrStdout(), "re-sealed %d partner secret(s) under the newest encryption key\n", n)
		return nil
	}
	return cmd
}
