package main

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/app"
)

func init() { register(newPartnersCmd) }

func newPartnersCmd() *cobra.Command {
	cmd := newGroupCmd("partners", "Register partners, set their policies, rotate secrets, deactivate",
		`Manage an organization's partners through the admin API: the admin socket of
--config, or --url and --token over the TCP admin listener. A partner is a
portal trusted to sign users into the organization's tenants, with RSA keys
(see gatehouse keys) and one HMAC consumer key and secret; its policies filter
every sign-in it asserts.

Policies: a policy that is not set restricts nothing; set to '' it allows
nothing. On update, --clear FIELD removes a restriction.`,
		`  gatehouse partners create --org acme --name "Reseller Portal" --allowed-email-domains customer-one.com --allowed-roles readOnly
  gatehouse partners update prt_4b1d --org acme --max-users 500 --clear allowed_roles
  gatehouse partners rotate-secret prt_4b1d --org acme --grace 24h`)
	cmd.AddCommand(newPartnersListCmd(), newPartnersShowCmd(), newPartnersCreateCmd(), newPartnersUpdateCmd(),
		newPartnersDeleteCmd(), newPartnersActiveCmd("deactivate"), newPartnersActiveCmd("reactivate"), newPartnersRotateCmd())
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func partnerTable(w io.Writer, ps ...app.PartnerView) {
	row(w, "ID", "NAME", "ACTIVE", "PROVISIONING", "CONSUMER KEY", "CREATED")
	for _, p := range ps {
		row(w, p.ID, p.Name, yesNo(p.Active), p.UserProvisioning, p.ConsumerKey, fmtTime(p.CreatedAt))
	}
}

// partnerDetail shows one partner as field/value lines named as in the API,
// so what is shown is what --clear names.
func partnerDetail(w io.Writer, p app.PartnerView) {
	maxUsers := "no limit"
	if p.MaxUsers != nil {
		maxUsers = strconv.Itoa(*p.MaxUsers)
	}
	jwks := "-"
	if p.JWKSURL != nil {
		jwks = *p.JWKSURL
	}
	lines := [][2]string{
		{"id", p.ID}, {"org_id", p.OrgID}, {"name", p.Name}, {"active", yesNo(p.Active)},
		{"consumer_key", p.ConsumerKey}, {"user_provisioning", p.UserProvisioning},
		{"allowed_email_domains", fmtList(p.AllowedEmailDomains, "any")},
		{"allowed_source_ips", fmtList(p.AllowedSourceIPs, "any")},
		{"max_users", maxUsers},
		{"allowed_roles", fmtList(p.AllowedRoles, "any")},
		{"allowed_tenants", fmtList(p.AllowedTenants, "any")},
		{"allowed_origins", fmtList(p.AllowedOrigins, "any")},
		{"jwks_url", jwks},
	}
	if p.JWKSURL != nil {
		lines = append(lines, [2]string{"jwks_fetched_at", fmtOptTime(p.JWKSFetchedAt)})
	}
	if p.JWKSLastError != "" {
		lines = append(lines, [2]string{"jwks_last_error", fmtOptTime(p.JWKSLastErrorAt) + " " + p.JWKSLastError})
	}
	if p.PreviousValidUntil != nil {
		lines = append(lines, [2]string{"previous_secret_valid_until", fmtOptTime(p.PreviousValidUntil)})
	}
	lines = append(lines, [2]string{"created_at", fmtTime(p.CreatedAt)}, [2]string{"updated_at", fmtTime(p.UpdatedAt)})
	if p.ConsumerSecret != "" {
		lines = append(lines, [2]string{"consumer_secret", p.ConsumerSecret})
	}
	for _, l := range lines {
		row(w, l[0], l[1])
	}
}

func newPartnersListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list --org ORG [--state active|inactive|all]",
		Short:   "List an organization's partners",
		Long:    "List an organization's partners, all of them or only the active or inactive ones.",
		Example: "  gatehouse partners list --org acme\n  gatehouse partners list --org acme --state inactive --json | jq -r '.partners[].id'",
		Args:    noArgs,
	}
	a := newAdminCmd(cmd)
	org := orgFlag(cmd)
	state := enumFlag(cmd, "state", "all", "which partners", "all", "active", "inactive")
	cmd.RunE = func(*cobra.Command, []string) error {
		path := orgAPIPath(*org, "partners")
		switch *state {
		case "active":
			path += "?active=true"
		case "inactive":
			path += "?active=false"
		}
		var list struct {
			Partners []app.PartnerView `json:"partners"`
		}
		return a.do(http.MethodGet, path, nil, &list, func(w io.Writer) { partnerTable(w, list.Partners...) })
	}
	return cmd
}

func newPartnersShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show PARTNER --org ORG",
		Short: "Show a partner with its policies",
		Long: `Show a partner with every policy: "any" is no restriction, "(none allowed)" an
empty list.`,
		Example: "  gatehouse partners show prt_4b1d --org acme",
		Args:    idArgs("PARTNER"),
	}
	a := newAdminCmd(cmd)
	org := orgFlag(cmd)
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		var p app.PartnerView
		return a.do(http.MethodGet, orgAPIPath(*org, "partners", args[0]), nil, &p, func(w io.Writer) { partnerDetail(w, p) })
	}
	return cmd
}

// policyFields are the partner fields --clear accepts, as the API names them.
var policyFields = []string{"allowed_email_domains", "allowed_source_ips", "max_users", "allowed_roles",
	"allowed_tenants", "allowed_origins", "user_provisioning", "jwks_url"}

// policyFlags are the partner policy flags create and update share.
type policyFlags struct {
	emailDomains, sourceIPs, roles, tenants, origins *[]string
	maxUsers                                         *int
	provisioning, jwksURL                            *string
}

func addPolicyFlags(cmd *cobra.Command) *policyFlags {
	p := &policyFlags{}
	p.emailDomains = listFlag(cmd, "allowed-email-domains", "email domains users may have, comma-separated ('' allows none)",
		func(s string) error {
			if !app.ValidDomain(strings.ToLower(s)) {
				return fmt.Errorf("not a valid domain")
			}
			return nil
		})
	p.sourceIPs = listFlag(cmd, "allowed-source-ips", "IPs or CIDRs HMAC sign-in calls may come from ('' allows none)",
		func(s string) error {
			if _, err := netip.ParsePrefix(s); err == nil {
				return nil
			}
			if _, err := netip.ParseAddr(s); err != nil {
				return fmt.Errorf("not an IP or CIDR")
			}
			return nil
		})
	p.roles = listFlag(cmd, "allowed-roles", "roles the partner may assert: admin, readOnly ('' allows none)",
		func(s string) error {
			if !app.ValidRole(s) {
				return fmt.Errorf("must be admin or readOnly")
			}
			return nil
		})
	p.tenants = listFlag(cmd, "allowed-tenants", "tenant IDs the partner may sign into ('' allows none)",
		func(s string) error {
			if !app.ValidID(s) {
				return fmt.Errorf("not a tenant ID")
			}
			return nil
		})
	p.origins = listFlag(cmd, "allowed-origins", "browser origins a JWT form post may come from, scheme://host[:port] ('' allows none)",
		func(s string) error { return checkHTTPURL(s, true) })
	p.maxUsers = cmd.Flags().Int("max-users", 0, "at most this many users created by this partner (0 allows none)")
	p.provisioning = enumFlag(cmd, "user-provisioning", "", "jit (the default) creates unknown users at sign-in; pre_provisioned admits known users only; disabled admits none",
		app.ProvisioningJIT, app.ProvisioningPreProvision, app.ProvisioningDisabled)
	p.jwksURL = urlFlag(cmd, "jwks-url", "URL where the partner publishes its keys (JWKS), fetched by the server")
	return p
}

// apply puts the flags the user gave into a request; untouched flags stay absent.
func (p *policyFlags) apply(cmd *cobra.Command, pol *app.PartnerPolicies, jwks *app.Field[string]) error {
	f := cmd.Flags()
	lists := []struct {
		flag  string
		value *[]string
		into  *app.Field[[]string]
	}{
		{"allowed-email-domains", p.emailDomains, &pol.AllowedEmailDomains},
		{"allowed-source-ips", p.sourceIPs, &pol.AllowedSourceIPs},
		{"allowed-roles", p.roles, &pol.AllowedRoles},
		{"allowed-tenants", p.tenants, &pol.AllowedTenants},
		{"allowed-origins", p.origins, &pol.AllowedOrigins},
	}
	for _, l := range lists {
		if f.Changed(l.flag) {
			*l.into = app.Val(*l.value)
		}
	}
	if f.Changed("max-users") {
		if *p.maxUsers < 0 {
			return usageErrorf("--max-users must be 0 or more, got %d", *p.maxUsers)
		}
		pol.MaxUsers = app.Val(*p.maxUsers)
	}
	if f.Changed("user-provisioning") {
		pol.UserProvisioning = app.Val(*p.provisioning)
	}
	if f.Changed("jwks-url") {
		if *p.jwksURL == "" {
			return usageErrorf("--jwks-url '': give a URL (on update, --clear jwks_url removes it)")
		}
		*jwks = app.Val(*p.jwksURL)
	}
	return nil
}

func newPartnersCreateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create --org ORG --name NAME [policy flags]",
		Short: "Register a partner; prints its consumer secret once",
		Long: `Register a partner. The answer holds its consumer key and consumer secret (for
HMAC sign-in): the secret is shown only this once, so store it now.
A policy flag not given restricts nothing; given as '' it allows nothing.`,
		Example: `  gatehouse partners create --org acme --name "Reseller Portal" \
    --allowed-email-domains customer-one.com,customer-two.com --allowed-roles readOnly \
    --allowed-tenants t1 --user-provisioning jit
  gatehouse partners create --org acme --name "Portal" --json | jq -r .consumer_secret`,
		Args: noArgs,
	}
	a := newAdminCmd(cmd)
	org := orgFlag(cmd)
	var in app.PartnerInput
	cmd.Flags().StringVar(&in.Name, "name", "", "partner name, unique in the organization (required)")
	pol := addPolicyFlags(cmd)
	requireFlags(cmd, "name")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := pol.apply(cmd, &in.PartnerPolicies, &in.JWKSURL); err != nil {
			return err
		}
		body, err := a.call(http.MethodPost, orgAPIPath(*org, "partners"), in)
		if err != nil {
			return err
		}
		var p app.PartnerView
		if err := a.show(body, &p, func(w io.Writer) { partnerDetail(w, p) }); err != nil {
			return err
		}
		a.warn("gatehouse: the consumer secret is shown only this once: store it now (partners rotate-secret makes a new one)")
		return nil
	}
	return cmd
}

func newPartnersUpdateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update PARTNER --org ORG [--name NAME] [policy flags] [--clear FIELD,...]",
		Short: "Change a partner's name or policies",
		Long: `Change a partner: only the flags given are changed. A list policy given as ''
allows nothing; --clear FIELD removes a restriction, FIELD as "partners show"
names it:
  ` + strings.Join(policyFields[:4], ", ") + `,
  ` + strings.Join(policyFields[4:], ", ") + `
--clear user_provisioning returns to jit; --clear jwks_url removes the URL and
every key fetched from it.`,
		Example: `  gatehouse partners update prt_4b1d --org acme --allowed-source-ips 203.0.113.0/24,198.51.100.7
  gatehouse partners update prt_4b1d --org acme --allowed-roles ''          # no role allowed
  gatehouse partners update prt_4b1d --org acme --clear allowed_roles,max_users`,
		Args: idArgs("PARTNER"),
	}
	a := newAdminCmd(cmd)
	org := orgFlag(cmd)
	name := cmd.Flags().String("name", "", "new partner name")
	pol := addPolicyFlags(cmd)
	clear := listFlag(cmd, "clear", "remove these restrictions (field names, comma-separated)", func(s string) error {
		if !slices.Contains(policyFields, strings.ReplaceAll(s, "-", "_")) {
			return fmt.Errorf("not a policy field (%s)", strings.Join(policyFields, ", "))
		}
		return nil
	})
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var p app.PartnerPatch
		if cmd.Flags().Changed("name") {
			p.Name = app.Val(*name)
		}
		if err := pol.apply(cmd, &p.PartnerPolicies, &p.JWKSURL); err != nil {
			return err
		}
		for _, field := range *clear {
			field = strings.ReplaceAll(field, "-", "_")
			if cmd.Flags().Changed(strings.ReplaceAll(field, "_", "-")) {
				return usageErrorf("--clear %s and --%s contradict each other", field, strings.ReplaceAll(field, "_", "-"))
			}
			clearField(&p, field)
		}
		if !cmd.Flags().Changed("name") && !anyChanged(cmd, "clear", "allowed-email-domains", "allowed-source-ips",
			"allowed-roles", "allowed-tenants", "allowed-origins", "max-users", "user-provisioning", "jwks-url") {
			return usageErrorf("nothing to change: give --name, a policy flag or --clear")
		}
		var v app.PartnerView
		return a.do(http.MethodPatch, orgAPIPath(*org, "partners", args[0]), p, &v, func(w io.Writer) { partnerDetail(w, v) })
	}
	return cmd
}

func clearField(p *app.PartnerPatch, field string) {
	switch field {
	case "allowed_email_domains":
		p.AllowedEmailDomains = app.Null[[]string]()
	case "allowed_source_ips":
		p.AllowedSourceIPs = app.Null[[]string]()
	case "max_users":
		p.MaxUsers = app.Null[int]()
	case "allowed_roles":
		p.AllowedRoles = app.Null[[]string]()
	case "allowed_tenants":
		p.AllowedTenants = app.Null[[]string]()
	case "allowed_origins":
		p.AllowedOrigins = app.Null[[]string]()
	case "user_provisioning":
		p.UserProvisioning = app.Null[string]()
	case "jwks_url":
		p.JWKSURL = app.Null[string]()
	}
}

func anyChanged(cmd *cobra.Command, names ...string) bool {
	for _, n := range names {
		if cmd.Flags().Changed(n) {
			return true
		}
	}
	return false
}

func newPartnersDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete PARTNER --org ORG",
		Short: "Delete a partner, its keys and secret",
		Long: `Delete a partner: its keys and secret go and the sessions of its users end; the
users remain. To stop a partner for a while, deactivate it instead.`,
		Example: "  gatehouse partners delete prt_4b1d --org acme",
		Args:    idArgs("PARTNER"),
	}
	a := newAdminCmd(cmd)
	org := orgFlag(cmd)
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		return a.deleted(orgAPIPath(*org, "partners", args[0]), "partner "+args[0])
	}
	return cmd
}

// newPartnersActiveCmd is deactivate or reactivate, which differ only in words.
func newPartnersActiveCmd(verb string) *cobra.Command {
	short, long := "Stop a partner's sign-ins (keeps its keys and secret)",
		"Deactivate a partner: every sign-in it asserts fails until it is reactivated; its keys, secret and users stay."
	if verb == "reactivate" {
		short, long = "Let a deactivated partner sign users in again", "Reactivate a deactivated partner."
	}
	cmd := &cobra.Command{
		Use:     verb + " PARTNER --org ORG",
		Short:   short,
		Long:    long,
		Example: "  gatehouse partners " + verb + " prt_4b1d --org acme",
		Args:    idArgs("PARTNER"),
	}
	a := newAdminCmd(cmd)
	org := orgFlag(cmd)
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		var p app.PartnerView
		return a.do(http.MethodPost, orgAPIPath(*org, "partners", args[0], verb), struct{}{}, &p, func(w io.Writer) { partnerTable(w, p) })
	}
	return cmd
}

// maxRotateGrace is the API's bound on grace_period_seconds (604800).
const maxRotateGrace = 7 * 24 * time.Hour

func newPartnersRotateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate-secret PARTNER --org ORG [--grace DURATION]",
		Short: "Give a partner a new consumer secret; prints it once",
		Long: fmt.Sprintf(`Give a partner a new consumer secret. The new secret is printed alone on stdout,
once: store it now. The previous secret keeps working for --grace (default %s,
as in the API and the console; at most 168h) so the partner can deploy the new
one; --grace 0 ends it at once, for a leaked secret. The consumer key stays.`, shortDuration(app.DefaultRotateGrace)),
		Example: `  gatehouse partners rotate-secret prt_4b1d --org acme > new-secret.txt
  gatehouse partners rotate-secret prt_4b1d --org acme --grace 0     # leaked: the old secret stops now`,
		Args: idArgs("PARTNER"),
	}
	a := newAdminCmd(cmd)
	org := orgFlag(cmd)
	grace := cmd.Flags().Duration("grace", app.DefaultRotateGrace, "how long the previous secret keeps working (0 to 168h)")
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		if *grace < 0 || *grace > maxRotateGrace || *grace%time.Second != 0 {
			return usageErrorf("--grace must be whole seconds between 0 and 168h, got %s", *grace)
		}
		in := struct {
			GracePeriodSeconds int64 `json:"grace_period_seconds"`
		}{int64(*grace / time.Second)}
		body, err := a.call(http.MethodPost, orgAPIPath(*org, "partners", args[0], "rotate-secret"), in)
		if err != nil {
			return err
		}
		var r app.RotateResult
		if err := a.show(body, &r, func(w io.Writer) { fmt.Fprintln(w, r.ConsumerSecret) }); err != nil {
			return err
		}
		if r.PreviousValidUntil != nil {
			a.warn("gatehouse: the new consumer secret is shown only this once: store it now; the previous one keeps working until %s", fmtTime(*r.PreviousValidUntil))
		} else {
			a.warn("gatehouse: the new consumer secret is shown only this once: store it now; the previous one no longer works")
		}
		return nil
	}
	return cmd
}

// shortDuration writes 24h0m0s as 24h.
func shortDuration(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	return strings.TrimSuffix(s, "0m")
}
