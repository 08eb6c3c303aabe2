package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/app"
)

func init() { register(newSignCmd) }

func newSignCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sign --key FILE --org ID --tenant ID --email E --role admin|readOnly",
		Short: "Print an RS256 partner sign-in token (for partner developers and tests)",
		Long: `Print an RS256 partner sign-in token signed with a partner's private key, with the
claims a partner portal sends (organizationId, tenantId, email, role, name, a fresh
jti, iat/exp). A negative --ttl makes an already-expired token.`,
		Example: `  gatehouse sign --key portal.key --org acme --tenant t1 --email alice@example.com --role admin
  gatehouse sign --key portal.key --org acme --tenant t1 --email bob@example.com --role readOnly --ttl 1m --kid k1`,
		Args: noArgs,
	}
	f := cmd.Flags()
	keyPath := f.String("key", "", "the partner's private key, PEM (required)")
	org := f.String("org", "", "organizationId claim (required)")
	tenant := f.String("tenant", "", "tenantId claim (required)")
	email := f.String("email", "", "the user's email (required)")
	role := enumFlag(cmd, "role", "", "the user's role (required)", app.RoleAdmin, app.RoleReadOnly)
	name := f.String("name", "", "the user's display name")
	ttl := f.Duration("ttl", 5*time.Minute, "lifetime; negative makes an already-expired token")
	kid := f.String("kid", "", "key id header")
	requireFlags(cmd, "key", "org", "tenant", "email", "role")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		data, err := os.ReadFile(*keyPath)
		if err != nil {
			return err
		}
		priv, err := app.LoadPrivateKeyPEM(data)
		if err != nil {
			return fmt.Errorf("sign: %s: %w", *keyPath, err)
		}
		token, err := app.SignToken(priv, *kid, app.NewTokenClaims(*org, *tenant, *email, *role, *name, time.Now(), *ttl))
		if err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), token)
		return nil
	}
	return cmd
}
