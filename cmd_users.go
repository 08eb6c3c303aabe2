package main

import (
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"

	"gatehouse/app"
)

func init() { register(newUsersCmd) }

func newUsersCmd() *cobra.Command {
	cmd := newGroupCmd("users", "Search, show, create and delete an organization's users",
		`Manage an organization's users through the admin API: the admin socket of
--config, or --url and --token over the TCP admin listener. A user is an email
within the organization, bound to one tenant with role admin or readOnly.`,
		`  gatehouse users list --org acme --q alice
  gatehouse users create --org acme --email bob@customer-one.com --tenant t1 --role readOnly --partner-sso`)
	cmd.AddCommand(newUsersListCmd(), newUsersShowCmd(), newUsersCreateCmd(), newUsersDeleteCmd())
	return cmd
}

func userTable(w io.Writer, us ...app.UserView) {
	row(w, "ID", "EMAIL", "NAME", "TENANT", "ROLE", "PARTNER SSO", "PARTNER", "LAST SIGN-IN")
	for _, u := range us {
		row(w, u.ID, u.Email, dash(u.Name), u.TenantID, u.Role, yesNo(u.PartnerSSO), dash(u.PartnerID), fmtOptTime(u.LastSignInAt))
	}
}

func userDetail(w io.Writer, u app.UserView) {
	sessions := "-"
	if u.Sessions != nil {
		sessions = strconv.Itoa(*u.Sessions)
	}
	for _, l := range [][2]string{
		{"id", u.ID}, {"email", u.Email}, {"name", dash(u.Name)}, {"org_id", u.OrgID}, {"tenant_id", u.TenantID},
		{"role", u.Role}, {"partner_sso", yesNo(u.PartnerSSO)}, {"partner_id", dash(u.PartnerID)},
		{"created_at", fmtTime(u.CreatedAt)}, {"last_sign_in_at", fmtOptTime(u.LastSignInAt)}, {"sessions", sessions},
	} {
		row(w, l[0], l[1])
	}
}

func newUsersListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list --org ORG [--q TEXT] [--tenant TENANT] [--limit N] [--cursor C]",
		Short: "Search an organization's users",
		Long: `List an organization's users ordered by email: --q matches part of the email or
name (any case), --tenant one tenant's. When more are left, the line to get the
next page is printed on stderr.`,
		Example: `  gatehouse users list --org acme --q alice
  gatehouse users list --org acme --tenant t1 --limit 500 --json | jq -r '.users[].email'`,
		Args: noArgs,
	}
	a := newAdminCmd(cmd)
	org := orgFlag(cmd)
	q := cmd.Flags().String("q", "", "part of the email or name, any case")
	tenant := idFlag(cmd, "tenant", "only this tenant's users")
	limit := cmd.Flags().Int("limit", 50, "at most this many users (1 to 500)")
	cursor := cmd.Flags().String("cursor", "", "where the previous page ended (its next_cursor)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *limit < 1 || *limit > 500 {
			return usageErrorf("--limit must be between 1 and 500, got %d", *limit)
		}
		v := url.Values{"limit": {strconv.Itoa(*limit)}}
		if *q != "" {
			v.Set("q", *q)
		}
		if *tenant != "" {
			v.Set("tenant", *tenant)
		}
		if *cursor != "" {
			v.Set("cursor", *cursor)
		}
		var list app.UserList
		if err := a.do(http.MethodGet, orgAPIPath(*org, "users")+"?"+v.Encode(), nil, &list, func(w io.Writer) { userTable(w, list.Users...) }); err != nil {
			return err
		}
		if !*a.asJSON {
			if len(list.Users) == 0 {
				a.warn("no matching users")
			}
			if list.NextCursor != "" {
				a.warn("more users: add --cursor %s", list.NextCursor)
			}
		}
		return nil
	}
	return cmd
}

func newUsersShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "show USER --org ORG",
		Short:   "Show a user with its active sessions",
		Long:    "Show one user, with its last sign-in and its count of active sessions.",
		Example: "  gatehouse users show usr_0187c3a2 --org acme",
		Args:    idArgs("USER"),
	}
	a := newAdminCmd(cmd)
	org := orgFlag(cmd)
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		var u app.UserView
		return a.do(http.MethodGet, orgAPIPath(*org, "users", args[0]), nil, &u, func(w io.Writer) { userDetail(w, u) })
	}
	return cmd
}

func newUsersCreateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create --org ORG --email EMAIL --tenant TENANT --role admin|readOnly [--name N] [--partner-sso [--partner PARTNER]]",
		Short: "Pre-provision a Partner SSO user, or create a non-SSO user",
		Long: `Create a user in one tenant. With --partner-sso it is a Partner SSO user,
pre-provisioned for partner sign-in (needed by partners whose user_provisioning
is pre_provisioned); --partner names the partner it counts toward (max_users).
Without --partner-sso it is a non-SSO user that partners do not sign in.`,
		Example: `  gatehouse users create --org acme --email bob@customer-one.com --tenant t1 --role readOnly --partner-sso --partner prt_4b1d
  gatehouse users create --org acme --email ops@acme.example --tenant t1 --role admin --name "Ops"`,
		Args: noArgs,
	}
	a := newAdminCmd(cmd)
	org := orgFlag(cmd)
	var in app.UserInput
	f := cmd.Flags()
	f.StringVar(&in.Email, "email", "", "the user's email, unique in the organization (required)")
	f.StringVar(&in.Name, "name", "", "display name")
	tenant := idFlag(cmd, "tenant", "the user's tenant (required)")
	role := enumFlag(cmd, "role", "", "the user's role (required)", app.RoleAdmin, app.RoleReadOnly)
	f.BoolVar(&in.PartnerSSO, "partner-sso", false, "a Partner SSO user (signed in by partners)")
	partner := idFlag(cmd, "partner", "the partner it is provisioned for (with --partner-sso)")
	requireFlags(cmd, "email", "tenant", "role")
	cmd.RunE = func(*cobra.Command, []string) error {
		if _, ok := app.NormalizeEmail(in.Email); !ok {
			return usageErrorf("--email %q: not a valid email address", in.Email)
		}
		if *partner != "" && !in.PartnerSSO {
			return usageErrorf("--partner needs --partner-sso: only Partner SSO users have a partner")
		}
		in.TenantID, in.Role, in.PartnerID = *tenant, *role, *partner
		var u app.UserView
		return a.do(http.MethodPost, orgAPIPath(*org, "users"), in, &u, func(w io.Writer) { userTable(w, u) })
	}
	return cmd
}

func newUsersDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "delete USER --org ORG",
		Short:   "Delete a user and end its sessions",
		Long:    "Delete a user; its sessions end at once. A partner may sign it in again (jit).",
		Example: "  gatehouse users delete usr_0187c3a2 --org acme",
		Args:    idArgs("USER"),
	}
	a := newAdminCmd(cmd)
	org := orgFlag(cmd)
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		return a.deleted(orgAPIPath(*org, "users", args[0]), "user "+args[0])
	}
	return cmd
}
