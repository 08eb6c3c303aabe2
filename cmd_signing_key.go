package main

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/spf13/cobra"

	"gatehouse/app"
)

func init() { register(newSigningKeyCmd) }

func newSigningKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "signing-key",
		Short: "Manage the key that signs X-Gatehouse-Assertion",
		Long: `Manage the ECDSA P-256 key that signs the downstream identity assertion
(X-Gatehouse-Assertion, published at /.well-known/jwks.json).`,
		Example: `  gatehouse signing-key rotate`,
		Args:    unknownCommand,
	}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Replace the assertion signing key; print the new kid",
		Long: `Replace the assertion signing key with a new one and print its kid. The old key
stays published at /.well-known/jwks.json for session.assertion_ttl plus
sso.clock_skew, so assertions it signed still verify until they expire. Runs
through the admin socket when a server is running, else on the database.`,
		Example: `  gatehouse signing-key rotate --config /etc/gatehouse/config.toml`,
		Args:    noArgs,
	}
	cfgPath := configFlag(rotate)
	rotate.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return err
		}
		ctx := context.Background()
		var out app.SigningKeyRotation
		if c, noServer := socketClient(cfg); c != nil {
			if err := c.Do(ctx, http.MethodPost, "/api/v1/signing-keys/rotate", struct{}{}, &out); err != nil {
				return err
			}
		} else {
			inst, err := openExistingInstance(cfg, newLogger(cfg.Log, io.Discard))
			if err != nil {
				return directFailed(noServer, err)
			}
			defer inst.store.Close()
			if out, err = inst.svc.RotateSigningKey(ctx, app.Operator); err != nil {
				return err
			}
		}
		fmt.Fprintln(cmd.OutOrStdout(), out.Kid)
		return nil
	}
	cmd.AddCommand(rotate)
	return cmd
}
