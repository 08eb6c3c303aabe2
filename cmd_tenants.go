package main

import (
	"io"
	"net/http"

	"github.com/spf13/cobra"

	"gatehouse/app"
)

func init() { register(newTenantsCmd) }

func newTenantsCmd() *cobra.Command {
	cmd := newGroupCmd("tenants", "List, show, create, update and delete an organization's tenants",
		`Manage an organization's tenants through the admin API: the admin socket of
--config, or --url and --token over the TCP admin listener. A tenant is one
customer: its redirect URL is where its users land after sign-in, and its
allowed return URLs are the prefixes a deep link may point into.`,
		`  gatehouse tenants create --org acme --id t1 --name "Customer One" --redirect-url https://dash.example.com/t1
  gatehouse tenants list --org acme`)
	cmd.AddCommand(newTenantsListCmd(), newTenantsShowCmd(), newTenantsCreateCmd(), newTenantsUpdateCmd(), newTenantsDeleteCmd())
	return cmd
}

func tenantTable(w io.Writer, ts ...app.TenantView) {
	row(w, "ID", "NAME", "REDIRECT URL", "RETURN URLS", "CREATED")
	for _, t := range ts {
		row(w, t.ID, t.Name, dash(t.RedirectURL), fmtList(t.AllowedReturnURLs, "-"), fmtTime(t.CreatedAt))
	}
}

func newTenantsListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list --org ORG",
		Short:   "List an organization's tenants",
		Long:    "List an organization's tenants.",
		Example: "  gatehouse tenants list --org acme\n  gatehouse tenants list --org acme --json | jq -r '.tenants[].id'",
		Args:    noArgs,
	}
	a := newAdminCmd(cmd)
	org := orgFlag(cmd)
	cmd.RunE = func(*cobra.Command, []string) error {
		var list struct {
			Tenants []app.TenantView `json:"tenants"`
		}
		return a.do(http.MethodGet, orgAPIPath(*org, "tenants"), nil, &list, func(w io.Writer) { tenantTable(w, list.Tenants...) })
	}
	return cmd
}

func newTenantsShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "show TENANT --org ORG",
		Short:   "Show one tenant",
		Long:    "Show one tenant.",
		Example: "  gatehouse tenants show t1 --org acme",
		Args:    idArgs("TENANT"),
	}
	a := newAdminCmd(cmd)
	org := orgFlag(cmd)
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		var t app.TenantView
		return a.do(http.MethodGet, orgAPIPath(*org, "tenants", args[0]), nil, &t, func(w io.Writer) { tenantTable(w, t) })
	}
	return cmd
}

func newTenantsCreateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create --org ORG --name NAME [--id ID] [--redirect-url URL] [--allowed-return-urls URL,...]",
		Short: "Create a tenant",
		Long:  "Create a tenant in an organization. Without --id an ID is generated.",
		Example: `  gatehouse tenants create --org acme --id t1 --name "Customer One" \
    --redirect-url https://dash.example.com/t1 --allowed-return-urls https://dash.example.com/t1/`,
		Args: noArgs,
	}
	a := newAdminCmd(cmd)
	org := orgFlag(cmd)
	var in app.TenantInput
	cmd.Flags().StringVar(&in.Name, "name", "", "display name (required)")
	id := idFlag(cmd, "id", "tenant ID, the tenantId claim (default: generated)")
	redirect := urlFlag(cmd, "redirect-url", "where the tenant's users land after sign-in")
	returns := listFlag(cmd, "allowed-return-urls", "URL prefixes a deep link may point into, comma-separated",
		func(s string) error { return checkHTTPURL(s, false) })
	requireFlags(cmd, "name")
	cmd.RunE = func(*cobra.Command, []string) error {
		in.ID, in.RedirectURL, in.AllowedReturnURLs = *id, *redirect, *returns
		var t app.TenantView
		return a.do(http.MethodPost, orgAPIPath(*org, "tenants"), in, &t, func(w io.Writer) { tenantTable(w, t) })
	}
	return cmd
}

func newTenantsUpdateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update TENANT --org ORG [--name NAME] [--redirect-url URL] [--allowed-return-urls URL,...]",
		Short: "Change a tenant's name or URLs",
		Long: `Change a tenant: only the flags given are changed. --redirect-url '' removes the
redirect URL; --allowed-return-urls '' allows no deep links.`,
		Example: `  gatehouse tenants update t1 --org acme --name "Customer One (EU)"
  gatehouse tenants update t1 --org acme --allowed-return-urls https://dash.example.com/t1/,https://eu.example.com/t1/`,
		Args: idArgs("TENANT"),
	}
	a := newAdminCmd(cmd)
	org := orgFlag(cmd)
	name := cmd.Flags().String("name", "", "new display name")
	redirect := urlFlag(cmd, "redirect-url", "where the tenant's users land after sign-in ('' for none)")
	returns := listFlag(cmd, "allowed-return-urls", "URL prefixes a deep link may point into, comma-separated ('' for none)",
		func(s string) error { return checkHTTPURL(s, false) })
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var p app.TenantPatch
		f := cmd.Flags()
		if f.Changed("name") {
			p.Name = app.Val(*name)
		}
		if f.Changed("redirect-url") {
			p.RedirectURL = app.Val(*redirect)
		}
		if f.Changed("allowed-return-urls") {
			p.AllowedReturnURLs = app.Val(*returns)
		}
		if !p.Name.Set && !p.RedirectURL.Set && !p.AllowedReturnURLs.Set {
			return usageErrorf("nothing to change: give --name, --redirect-url or --allowed-return-urls")
		}
		var t app.TenantView
		return a.do(http.MethodPatch, orgAPIPath(*org, "tenants", args[0]), p, &t, func(w io.Writer) { tenantTable(w, t) })
	}
	return cmd
}

func newTenantsDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete TENANT --org ORG",
		Short: "Delete a tenant that has no users",
		Long: `Delete a tenant. A tenant that still has users is not deleted (conflict): delete
or move its users first.`,
		Example: "  gatehouse tenants delete t1 --org acme",
		Args:    idArgs("TENANT"),
	}
	a := newAdminCmd(cmd)
	org := orgFlag(cmd)
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		return a.deleted(orgAPIPath(*org, "tenants", args[0]), "tenant "+args[0])
	}
	return cmd
}
