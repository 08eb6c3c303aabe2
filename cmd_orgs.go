package main

import (
	"io"
	"net/http"

	"github.com/spf13/cobra"

	"gatehouse/app"
	"gatehouse/storage"
)

func init() { register(newOrgsCmd) }

func newOrgsCmd() *cobra.Command {
	cmd := newGroupCmd("orgs", "List, show and create organizations",
		`List, show and create organizations through the admin API: the admin socket of
--config (operator rights), or --url and --token over the TCP admin listener
(a token sees its own organization only; creating one needs the socket).`,
		`  gatehouse orgs create --id acme --name "Acme MSSP"
  gatehouse orgs list`)
	cmd.AddCommand(newOrgsListCmd(), newOrgsShowCmd(), newOrgsCreateCmd())
	return cmd
}

func orgTable(w io.Writer, orgs ...storage.Org) {
	row(w, "ID", "NAME", "CREATED")
	for _, o := range orgs {
		row(w, o.ID, o.Name, fmtTime(o.CreatedAt))
	}
}

func newOrgsListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List organizations",
		Long:    "List the organizations: every one on the admin socket, the token's own over --url.",
		Example: "  gatehouse orgs list\n  gatehouse orgs list --json | jq -r '.orgs[].id'",
		Args:    noArgs,
	}
	a := newAdminCmd(cmd)
	cmd.RunE = func(*cobra.Command, []string) error {
		var list struct {
			Orgs []storage.Org `json:"orgs"`
		}
		return a.do(http.MethodGet, "/api/v1/orgs", nil, &list, func(w io.Writer) { orgTable(w, list.Orgs...) })
	}
	return cmd
}

func newOrgsShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "show ORG",
		Short:   "Show one organization",
		Long:    "Show one organization.",
		Example: "  gatehouse orgs show acme",
		Args:    idArgs("ORG"),
	}
	a := newAdminCmd(cmd)
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		var o storage.Org
		return a.do(http.MethodGet, orgAPIPath(args[0]), nil, &o, func(w io.Writer) { orgTable(w, o) })
	}
	return cmd
}

func newOrgsCreateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create --name NAME [--id ID]",
		Short: "Create an organization",
		Long: `Create an organization (operator only: over the admin socket). Without --id an ID
is generated. The ID is what partner tokens carry as organizationId.`,
		Example: `  gatehouse orgs create --id acme --name "Acme MSSP"`,
		Args:    noArgs,
	}
	a := newAdminCmd(cmd)
	var in app.OrgInput
	cmd.Flags().StringVar(&in.Name, "name", "", "display name (required)")
	id := idFlag(cmd, "id", "organization ID (default: generated)")
	requireFlags(cmd, "name")
	cmd.RunE = func(*cobra.Command, []string) error {
		in.ID = *id
		var o storage.Org
		return a.do(http.MethodPost, "/api/v1/orgs", in, &o, func(w io.Writer) { orgTable(w, o) })
	}
	return cmd
}
