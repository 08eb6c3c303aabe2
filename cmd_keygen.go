package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"gatehouse/app"
)

func init() { register(newKeygenCmd) }

func newKeygenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keygen --out NAME",
		Short: "Write an RSA key pair for a partner (NAME.key 0600, NAME.pub)",
		Long: `Write an RSA key pair for a partner that has none: NAME.key (PKCS#8 PEM, mode 0600)
stays on the partner portal; NAME.pub (SPKI PEM) is what you register with
POST /api/v1/orgs/{org}/partners/{id}/keys or the console.`,
		Example: `  gatehouse keygen --out portal
  gatehouse keygen --out portal --bits 4096`,
		Args: noArgs,
	}
	out := cmd.Flags().String("out", "", "file name stem: writes NAME.key and NAME.pub (required)")
	bits := cmd.Flags().Int("bits", 3072, "RSA key size, 2048 to 8192")
	requireFlags(cmd, "out")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *bits < 2048 || *bits > 8192 {
			return usageErrorf("--bits must be between 2048 and 8192, got %d", *bits)
		}
		priv, pub, err := app.GenerateKeyPair(*out, *bits)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (private: keep it on the partner portal) and %s (upload this one)\n", priv, pub)
		return nil
	}
	return cmd
}
