package main

import (
	"io"
	"net/http"

	"github.com/spf13/cobra"

	"gatehouse/app"
)

func init() { register(newAdminTokensCmd) }

func newAdminTokensCmd() *cobra.Command {
	cmd := newGroupCmd("admin-tokens", "List, create and delete bearer tokens for the TCP admin API",
		`Manage an organization's admin tokens: bearer credentials for the TCP admin API
(admin.listen), scoped to the organization, role admin or readOnly (readOnly may
only read). A token is stored only as a hash and shown once, when created.`,
		`  gatehouse admin-tokens create --org acme --role readOnly --label "monitoring" > token.txt
  gatehouse admin-tokens list --org acme`)
	cmd.AddCommand(newAdminTokensListCmd(), newAdminTokensCreateCmd(), newAdminTokensDeleteCmd())
	return cmd
}

func adminTokenTable(w io.Writer, ts ...app.AdminTokenView) {
	row(w, "ID", "ROLE", "LABEL", "CREATED", "LAST USED")
	for _, t := range ts {
		row(w, t.ID, t.Role, dash(t.Label), fmtTime(t.CreatedAt), fmtOptTime(t.LastUsedAt))
	}
}

func newAdminTokensListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list --org ORG",
		Short:   "List an organization's admin tokens (never their values)",
		Long:    "List an organization's admin tokens: ID, role, label and last use, never the token.",
		Example: "  gatehouse admin-tokens list --org acme",
		Args:    noArgs,
	}
	a := newAdminCmd(cmd)
	org := orgFlag(cmd)
	cmd.RunE = func(*cobra.Command, []string) error {
		var list struct {
			Tokens []app.AdminTokenView `json:"admin_tokens"`
		}
		return a.do(http.MethodGet, orgAPIPath(*org, "admin-tokens"), nil, &list, func(w io.Writer) { adminTokenTable(w, list.Tokens...) })
	}
	return cmd
}

func newAdminTokensCreateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create --org ORG --role admin|readOnly [--label L]",
		Short: "Create an admin token; prints it once",
		Long: `Create an admin token. The token is printed alone on stdout, once: store it now
(it is kept only as a hash). Its ID, for admin-tokens delete, goes to stderr.`,
		Example: `  gatehouse admin-tokens create --org acme --role readOnly --label "monitoring" > token.txt
  GATEHOUSE_ADMIN_TOKEN=$(gatehouse admin-tokens create --org acme --role admin --label ci)`,
		Args: noArgs,
	}
	a := newAdminCmd(cmd)
	org := orgFlag(cmd)
	var in app.AdminTokenInput
	role := enumFlag(cmd, "role", "", "what the token may do (required)", app.RoleAdmin, app.RoleReadOnly)
	cmd.Flags().StringVar(&in.Label, "label", "", "what the token is for, shown in lists")
	requireFlags(cmd, "role")
	cmd.RunE = func(*cobra.Command, []string) error {
		in.Role = *role
		body, err := a.call(http.MethodPost, orgAPIPath(*org, "admin-tokens"), in)
		if err != nil {
			return err
		}
		var t app.AdminTokenView
		if err := a.show(body, &t, func(w io.Writer) { row(w, t.Token) }); err != nil {
			return err
		}
		a.warn("gatehouse: admin token %s (%s) created; the token is shown only this once: store it now", t.ID, t.Role)
		return nil
	}
	return cmd
}

func newAdminTokensDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete TOKEN-ID --org ORG",
		Short:   "Revoke an admin token",
		Long:    "Revoke an admin token by its ID (from admin-tokens list): it stops working at once.",
		Example: "  gatehouse admin-tokens delete tok_5c1e09 --org acme",
		Args:    idArgs("TOKEN-ID"),
	}
	a := newAdminCmd(cmd)
	org := orgFlag(cmd)
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		return a.deleted(orgAPIPath(*org, "admin-tokens", args[0]), "admin token "+args[0])
	}
	return cmd
}
