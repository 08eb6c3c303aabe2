package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"gatehouse/app"
)

func init() { register(newKeysCmd) }

func newKeysCmd() *cobra.Command {
	cmd := newGroupCmd("keys", "List, add and delete a partner's RSA public keys",
		`Manage a partner's RSA public keys (RS256 JWT sign-in) through the admin API: the
admin socket of --config, or --url and --token over the TCP admin listener.
Keys fetched from the partner's jwks_url are listed too (source jwks).`,
		`  gatehouse keygen --out portal
  gatehouse keys add --org acme --partner prt_4b1d --pem-file portal.pub --label "portal 2026"
  gatehouse keys list --org acme --partner prt_4b1d`)
	cmd.AddCommand(newKeysListCmd(), newKeysAddCmd(), newKeysDeleteCmd())
	return cmd
}

func keyTable(w io.Writer, ks ...app.KeyView) {
	row(w, "KID", "BITS", "SOURCE", "LABEL", "FINGERPRINT", "CREATED", "LAST USED")
	for _, k := range ks {
		row(w, k.Kid, strconv.Itoa(k.Bits), k.Source, dash(k.Label), k.Fingerprint, fmtTime(k.CreatedAt), fmtOptTime(k.LastUsedAt))
	}
}

// partnerFlag adds the required --partner flag.
func partnerFlag(cmd *cobra.Command) *string {
	p := idFlag(cmd, "partner", "partner ID (required)")
	requireFlags(cmd, "partner")
	return p
}

func newKeysListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list --org ORG --partner PARTNER",
		Short:   "List a partner's keys",
		Long:    "List a partner's RSA public keys: uploaded (source pem) and fetched from its jwks_url (source jwks).",
		Example: "  gatehouse keys list --org acme --partner prt_4b1d",
		Args:    noArgs,
	}
	a := newAdminCmd(cmd)
	org, partner := orgFlag(cmd), partnerFlag(cmd)
	cmd.RunE = func(*cobra.Command, []string) error {
		var list struct {
			Keys []app.KeyView `json:"keys"`
		}
		return a.do(http.MethodGet, orgAPIPath(*org, "partners", *partner, "keys"), nil, &list, func(w io.Writer) { keyTable(w, list.Keys...) })
	}
	return cmd
}

func newKeysAddCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "add --org ORG --partner PARTNER --pem-file FILE [--label L] [--kid KID]",
		Short: "Upload a partner's RSA public key",
		Long: `Upload an RSA public key (PEM: PUBLIC KEY or RSA PUBLIC KEY, 2048 to 8192 bits).
The file is checked before anything is sent: a private key never leaves this
machine. The kid defaults to the key's RFC 7638 thumbprint; the partner's tokens
name it in their kid header.`,
		Example: `  gatehouse keys add --org acme --partner prt_4b1d --pem-file portal.pub --label "portal 2026"
  gatehouse keys add --org acme --partner prt_4b1d --pem-file - --kid portal-2026 < portal.pub`,
		Args: noArgs,
	}
	a := newAdminCmd(cmd)
	org, partner := orgFlag(cmd), partnerFlag(cmd)
	var in app.KeyInput
	file := cmd.Flags().String("pem-file", "", "the public key's PEM file, or - for stdin (required)")
	cmd.Flags().StringVar(&in.Label, "label", "", "a note for operators, e.g. who holds the private key")
	cmd.Flags().StringVar(&in.Kid, "kid", "", "key ID, 1 to 128 of A-Z a-z 0-9 . _ ~ - (default: the RFC 7638 thumbprint)")
	requireFlags(cmd, "pem-file")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if in.Kid != "" && !app.ValidKid(in.Kid) {
			return usageErrorf("--kid %q: want 1 to 128 of A-Z a-z 0-9 . _ ~ -", in.Kid)
		}
		var pem []byte
		var err error
		if *file == "-" {
			pem, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20))
		} else {
			pem, err = os.ReadFile(*file)
		}
		if err != nil {
			return fmt.Errorf("--pem-file: %w", err)
		}
		if _, err := app.ParsePublicKeyPEM(string(pem)); err != nil {
			return usageErrorf("--pem-file %s: %v", *file, err)
		}
		in.PEM = string(pem)
		var k app.KeyView
		return a.do(http.MethodPost, orgAPIPath(*org, "partners", *partner, "keys"), in, &k, func(w io.Writer) { keyTable(w, k) })
	}
	return cmd
}

func newKeysDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete KID --org ORG --partner PARTNER",
		Short: "Delete a partner's key",
		Long: `Delete an uploaded key: tokens signed with it stop verifying at once. A key
fetched from the partner's jwks_url is not deleted here (conflict): the partner
drops it from its published set, or "partners update --clear jwks_url" drops
every key fetched from it.`,
		Example: "  gatehouse keys delete portal-2026 --org acme --partner prt_4b1d",
		Args: func(cmd *cobra.Command, args []string) error {
			if err := exactArgs("KID")(cmd, args); err != nil {
				return err
			}
			if !app.ValidKid(args[0]) {
				return usageErrorf("KID %q: want 1 to 128 of A-Z a-z 0-9 . _ ~ -", args[0])
			}
			return nil
		},
	}
	a := newAdminCmd(cmd)
	org, partner := orgFlag(cmd), partnerFlag(cmd)
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		return a.deleted(orgAPIPath(*org, "partners", *partner, "keys", args[0]), "key "+args[0])
	}
	return cmd
}
