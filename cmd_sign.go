package main

import (
	"crypto/rsa"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/app"
)

func init() { register(newSignCmd) }

func newSignCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sign --key FILE --org ID --tenant ID --email E --role admin|readOnly | --key FILE --org ID --email E --action logout|deprovision",
		Short: "Print an RS256 partner sign-in or revoke token (for partner developers and tests)",
		Long: `Print an RS256 partner sign-in token signed with a partner's private key, with the
claims a partner portal sends (organizationId, tenantId, email, role, name, a fresh
jti, iat/exp). A negative --ttl makes an already-expired token.
With --action it prints a revoke token for POST /sso/jwt/revoke instead (claims
organizationId, email, action, a fresh jti, iat/exp); --tenant, --role and --name
do not apply to it.`,
		Example: `  gatehouse sign --key portal.key --org acme --tenant t1 --email alice@example.com --role admin
  gatehouse sign --key portal.key --org acme --tenant t1 --email bob@example.com --role readOnly --ttl 1m --kid k1
  gatehouse sign --key portal.key --org acme --email alice@example.com --action deprovision`,
		Args: noArgs,
	}
	f := cmd.Flags()
	keyPath := f.String("key", "", "the partner's private key, PEM (required)")
	org := f.String("org", "", "organizationId claim (required)")
	tenant := f.String("tenant", "", "tenantId claim (required for a sign-in token)")
	email := f.String("email", "", "the user's email (required)")
	role := enumFlag(cmd, "role", "", "the user's role (required for a sign-in token)", app.RoleAdmin, app.RoleReadOnly)
	name := f.String("name", "", "the user's display name")
	ttl := f.Duration("ttl", 5*time.Minute, "lifetime; negative makes an already-expired token")
	kid := f.String("kid", "", "key id header")
	action := enumFlag(cmd, "action", "", "print a revoke token for this action instead (SPEC §4.5)", app.ActionLogout, app.ActionDeprovision)
	requireFlags(cmd, "key", "org", "email")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := signFlagsFit(cmd, *action != ""); err != nil {
			return err
		}
		data, err := os.ReadFile(*keyPath)
		if err != nil {
			return err
		}
		priv, err := app.LoadPrivateKeyPEM(data)
		if err != nil {
			return fmt.Errorf("sign: %s: %w", *keyPath, err)
		}
		var token string
		if *action != "" {
			token, err = signRevokeToken(priv, *kid, *org, *email, *action, *ttl)
		} else {
			token, err = app.SignToken(priv, *kid, app.NewTokenClaims(*org, *tenant, *email, *role, *name, time.Now(), *ttl))
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), token)
		return nil
	}
	return cmd
}

// signFlagsFit checks the flags of the two token kinds: a sign-in token needs
// --tenant and --role, a revoke token (--action) takes neither, nor --name.
func signFlagsFit(cmd *cobra.Command, revoke bool) error {
	f := cmd.Flags()
	if revoke {
		for _, n := range []string{"tenant", "role", "name"} {
			if f.Changed(n) {
				return usageErrorf("--%s does not apply to a revoke token (--action)", n)
			}
		}
		return nil
	}
	for _, n := range []string{"tenant", "role"} {
		if !f.Changed(n) {
			return usageErrorf("required flag \"%s\" not set (or give --action for a revoke token)", n)
		}
	}
	return nil
}

// signRevokeToken makes a revoke token with a fresh jti.
func signRevokeToken(priv *rsa.PrivateKey, kid, org, email, action string, ttl time.Duration) (string, error) {
	claims, err := app.NewRevokeClaims(org, email, action, time.Now(), ttl)
	if err != nil {
		return "", err
	}
	return app.SignRevokeToken(priv, kid, claims)
}
