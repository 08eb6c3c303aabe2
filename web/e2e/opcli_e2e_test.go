package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cli runs the built binary against s over its admin socket (--config) and
// returns exit code, stdout and stderr.
func cli(t *testing.T, s *Server, args ...string) (int, string, string) {
	t.Helper()
	return runExit(t, nil, append(args, "--config", s.Config)...)
}

// mustCLI is cli that fails the test unless the command exits 0.
func mustCLI(t *testing.T, s *Server, args ...string) (string, string) {
	t.Helper()
	code, out, errOut := cli(t, s, args...)
	if code != 0 {
		t.Fatalf("gatehouse %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out, errOut
}

// cliJSON runs a command with --json and decodes its stdout.
func cliJSON(t *testing.T, s *Server, into any, args ...string) {
	t.Helper()
	out, _ := mustCLI(t, s, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), into); err != nil {
		t.Fatalf("gatehouse %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// cliList runs a list command with --json and returns the rows under its
// answer's key (the API wraps every list: {"keys": [...], "next_cursor": ...}).
func cliList[Row any](t *testing.T, s *Server, key string, args ...string) []Row {
	t.Helper()
	var answer map[string]json.RawMessage
	cliJSON(t, s, &answer, args...)
	raw, ok := answer[key]
	if !ok {
		t.Fatalf("gatehouse %s --json: no %q in the answer: %v", strings.Join(args, " "), key, answer)
	}
	var rows []Row
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatalf("gatehouse %s --json: %q: %v\n%s", strings.Join(args, " "), key, err, raw)
	}
	return rows
}

// header is the first line of a table split into its columns (which are
// separated by two spaces or more; a column name holds single spaces).
func header(out string) []string {
	first, _, _ := strings.Cut(out, "\n")
	var cols []string
	for _, c := range strings.Split(first, "  ") {
		if c = strings.TrimSpace(c); c != "" {
			cols = append(cols, c)
		}
	}
	return cols
}

// hasRow reports whether a table line starts with these cells.
func hasRow(out string, cells ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= len(cells) && strings.Join(f[:len(cells)], " ") == strings.Join(cells, " ") {
			return true
		}
	}
	return false
}

func wantHeader(t *testing.T, what, out string, cols ...string) {
	t.Helper()
	if got := header(out); strings.Join(got, "|") != strings.Join(cols, "|") {
		t.Errorf("%s: columns %q, want %q:\n%s", what, got, cols, out)
	}
}

// wantExit checks a failing command: its exit code, nothing on stdout and
// one stderr line naming want.
func wantExit(t *testing.T, s *Server, code int, want string, args ...string) {
	t.Helper()
	got, out, errOut := cli(t, s, args...)
	if got != code || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, want) {
		t.Errorf("gatehouse %s: exit %d, stdout %q, stderr %q; want exit %d and one line naming %q",
			strings.Join(args, " "), got, out, errOut, code, want)
	}
}

type partnerJSON struct {
	ID                  string     `json:"id"`
	Name                string     `json:"name"`
	Active              bool       `json:"active"`
	ConsumerKey         string     `json:"consumer_key"`
	ConsumerSecret      string     `json:"consumer_secret"`
	AllowedEmailDomains []string   `json:"allowed_email_domains"`
	AllowedRoles        []string   `json:"allowed_roles"`
	AllowedTenants      []string   `json:"allowed_tenants"`
	AllowedOrigins      []string   `json:"allowed_origins"`
	AllowedSourceIPs    []string   `json:"allowed_source_ips"`
	MaxUsers            *int       `json:"max_users"`
	UserProvisioning    string     `json:"user_provisioning"`
	PreviousValidUntil  *time.Time `json:"previous_secret_valid_until"`
}

// TestOperatorCommandsOrgsTenantsPartners drives orgs, tenants and partners
// against a running server: tables with their columns, --json as the API
// answers it, policies set, emptied ([]) and cleared (null), the consumer
// secret printed once with a warning on stderr, rotation with the default
// grace of a day, and command-line and API mistakes with exit 2 and 1.
func TestOperatorCommandsOrgsTenantsPartners(t *testing.T) {
	s := Start(t, "")

	out, _ := mustCLI(t, s, "orgs", "create", "--id", "acme", "--name", "Acme MSSP")
	wantHeader(t, "orgs create", out, "ID", "NAME", "CREATED")
	if !strings.Contains(out, "acme  Acme MSSP") {
		t.Errorf("orgs create:\n%s", out)
	}
	var orgs struct{ Orgs []struct{ ID, Name string } }
	cliJSON(t, s, &orgs, "orgs", "list")
	if len(orgs.Orgs) != 1 || orgs.Orgs[0].ID != "acme" || orgs.Orgs[0].Name != "Acme MSSP" {
		t.Fatalf("orgs list --json: %+v", orgs)
	}

	mustCLI(t, s, "tenants", "create", "--org", "acme", "--id", "t1", "--name", "Customer One",
		"--redirect-url", "https://dash.example.com/t1", "--allowed-return-urls", "https://dash.example.com/t1/")
	mustCLI(t, s, "tenants", "create", "--org", "acme", "--id", "t2", "--name", "Customer Two")
	out, _ = mustCLI(t, s, "tenants", "list", "--org", "acme")
	wantHeader(t, "tenants list", out, "ID", "NAME", "REDIRECT URL", "RETURN URLS", "CREATED")
	if !strings.Contains(out, "https://dash.example.com/t1/") || strings.Count(out, "\n") != 3 {
		t.Errorf("tenants list:\n%s", out)
	}
	var tenant struct {
		Name              string   `json:"name"`
		RedirectURL       string   `json:"redirect_url"`
		AllowedReturnURLs []string `json:"allowed_return_urls"`
	}
	mustCLI(t, s, "tenants", "update", "t2", "--org", "acme", "--name", "Customer Two (EU)", "--redirect-url", "https://eu.example.com/t2")
	cliJSON(t, s, &tenant, "tenants", "show", "t2", "--org", "acme")
	if tenant.Name != "Customer Two (EU)" || tenant.RedirectURL != "https://eu.example.com/t2" || tenant.AllowedReturnURLs == nil {
		t.Errorf("tenants update then show: %+v", tenant)
	}

	// A partner with every kind of policy; the secret only in the create answer.
	var p partnerJSON
	code, out, errOut := cli(t, s, "partners", "create", "--org", "acme", "--name", "Reseller Portal",
		"--allowed-email-domains", "customer-one.com,Customer-Two.com", "--allowed-roles", "readOnly",
		"--allowed-tenants", "t1", "--allowed-origins", "https://portal.example.com", "--allowed-source-ips", "203.0.113.0/24,198.51.100.7",
		"--max-users", "2", "--user-provisioning", "pre_provisioned", "--json")
	if code != 0 {
		t.Fatalf("partners create: exit %d: %s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("partners create --json: %v\n%s", err, out)
	}
	if !strings.HasPrefix(p.ConsumerSecret, "cs_") || !strings.HasPrefix(p.ConsumerKey, "ck_") || !p.Active ||
		strings.Join(p.AllowedEmailDomains, ",") != "customer-one.com,customer-two.com" ||
		strings.Join(p.AllowedRoles, ",") != "readOnly" || strings.Join(p.AllowedTenants, ",") != "t1" ||
		strings.Join(p.AllowedOrigins, ",") != "https://portal.example.com" || len(p.AllowedSourceIPs) != 2 ||
		p.MaxUsers == nil || *p.MaxUsers != 2 || p.UserProvisioning != "pre_provisioned" {
		t.Fatalf("partners create: %+v", p)
	}
	if !strings.Contains(errOut, "shown only this once") || strings.Contains(errOut, p.ConsumerSecret) {
		t.Errorf("partners create warning on stderr: %q", errOut)
	}
	// The table shows the secret too, with the warning on stderr only.
	code, out, errOut = cli(t, s, "partners", "create", "--org", "acme", "--name", "Second Portal")
	if code != 0 || !strings.Contains(out, "consumer_secret        cs_") || strings.Contains(out, "only this once") ||
		!strings.Contains(errOut, "only this once") || strings.Contains(errOut, "cs_") {
		t.Errorf("partners create table: exit %d\nstdout:\n%s\nstderr: %q", code, out, errOut)
	}
	out, _ = mustCLI(t, s, "partners", "list", "--org", "acme")
	wantHeader(t, "partners list", out, "ID", "NAME", "ACTIVE", "PROVISIONING", "CONSUMER KEY", "CREATED")
	if !strings.Contains(out, p.ID) || !strings.Contains(out, "Second Portal") || strings.Contains(out, "cs_") {
		t.Errorf("partners list:\n%s", out)
	}

	// '' is nothing allowed ([]); --clear is no restriction (null).
	mustCLI(t, s, "partners", "update", p.ID, "--org", "acme", "--allowed-roles", "", "--clear", "max_users,allowed-email-domains")
	var raw map[string]json.RawMessage
	cliJSON(t, s, &raw, "partners", "show", p.ID, "--org", "acme")
	if string(raw["allowed_roles"]) != "[]" || string(raw["max_users"]) != "null" || string(raw["allowed_email_domains"]) != "null" ||
		strings.Join(strings.Fields(string(raw["allowed_tenants"])), "") != `["t1"]` {
		t.Errorf("after update: allowed_roles %s, max_users %s, allowed_email_domains %s, allowed_tenants %s",
			raw["allowed_roles"], raw["max_users"], raw["allowed_email_domains"], raw["allowed_tenants"])
	}
	if _, ok := raw["consumer_secret"]; ok {
		t.Errorf("partners show carries the consumer secret")
	}
	out, _ = mustCLI(t, s, "partners", "show", p.ID, "--org", "acme")
	for _, line := range []string{"allowed_roles          (none allowed)", "allowed_email_domains  any", "max_users              no limit", "allowed_tenants        t1"} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("partners show lacks %q:\n%s", line, out)
		}
	}

	// Rotation: the secret alone on stdout, the default grace is a day.
	before := time.Now()
	code, out, errOut = cli(t, s, "partners", "rotate-secret", p.ID, "--org", "acme")
	secret := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(secret, "cs_") || strings.Count(out, "\n") != 1 || secret == p.ConsumerSecret ||
		!strings.Contains(errOut, "only this once") || strings.Contains(errOut, "cs_") {
		t.Fatalf("rotate-secret: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	var shown partnerJSON
	cliJSON(t, s, &shown, "partners", "show", p.ID, "--org", "acme")
	if shown.PreviousValidUntil == nil || shown.PreviousValidUntil.Before(before.Add(24*time.Hour-time.Second)) ||
		shown.PreviousValidUntil.After(time.Now().Add(24*time.Hour+time.Second)) {
		t.Errorf("after a rotation with the default grace, previous secret valid until %v (want about %v)", shown.PreviousValidUntil, before.Add(24*time.Hour))
	}
	var rot struct {
		ConsumerSecret     string          `json:"consumer_secret"`
		PreviousValidUntil json.RawMessage `json:"previous_valid_until"`
	}
	cliJSON(t, s, &rot, "partners", "rotate-secret", p.ID, "--org", "acme", "--grace", "0")
	if !strings.HasPrefix(rot.ConsumerSecret, "cs_") || string(rot.PreviousValidUntil) != "null" {
		t.Errorf("rotate-secret --grace 0 --json: %+v", rot)
	}
	var afterLeak partnerJSON
	cliJSON(t, s, &afterLeak, "partners", "show", p.ID, "--org", "acme")
	if afterLeak.PreviousValidUntil != nil {
		t.Errorf("after --grace 0 the previous secret still works until %v", afterLeak.PreviousValidUntil)
	}

	// Command-line mistakes: exit 2, one line, nothing sent.
	wantExit(t, s, 2, "--grace", "partners", "rotate-secret", p.ID, "--org", "acme", "--grace", "169h")
	wantExit(t, s, 2, "--grace", "partners", "rotate-secret", p.ID, "--org", "acme", "--grace", "a day")
	wantExit(t, s, 2, "--allowed-roles", "partners", "update", p.ID, "--org", "acme", "--allowed-roles", "readonly")
	wantExit(t, s, 2, "--allowed-source-ips", "partners", "update", p.ID, "--org", "acme", "--allowed-source-ips", "10.0.0.300")
	wantExit(t, s, 2, "--user-provisioning", "partners", "update", p.ID, "--org", "acme", "--user-provisioning", "auto")
	wantExit(t, s, 2, "--max-users", "partners", "update", p.ID, "--org", "acme", "--max-users", "-1")
	wantExit(t, s, 2, "contradict", "partners", "update", p.ID, "--org", "acme", "--clear", "allowed_roles", "--allowed-roles", "admin")
	wantExit(t, s, 2, "--clear", "partners", "update", p.ID, "--org", "acme", "--clear", "name")
	wantExit(t, s, 2, "nothing to change", "partners", "update", p.ID, "--org", "acme")
	wantExit(t, s, 2, `"org"`, "partners", "list")
	wantExit(t, s, 2, `"extra"`, "partners", "show", p.ID, "extra", "--org", "acme")
	wantExit(t, s, 2, "--bogus", "tenants", "list", "--org", "acme", "--bogus")
	wantExit(t, s, 2, "--org", "tenants", "list", "--org", "ac/me")
	wantExit(t, s, 2, "--redirect-url", "tenants", "create", "--org", "acme", "--name", "X", "--redirect-url", "dash.example.com")
	// API refusals: exit 1 with status, code and message.
	wantExit(t, s, 1, "HTTP 404 not_found", "partners", "show", "prt_nope", "--org", "acme")
	wantExit(t, s, 1, "HTTP 409 partner_already_exists", "partners", "create", "--org", "acme", "--name", "Second Portal")
	wantExit(t, s, 1, "allowed_tenants[0]", "partners", "update", p.ID, "--org", "acme", "--allowed-tenants", "t9")
	wantExit(t, s, 1, "HTTP 409 conflict", "orgs", "create", "--id", "acme", "--name", "Again")

	code, out, _ = cli(t, s, "partners", "delete", p.ID, "--org", "acme")
	if code != 0 || out != "deleted partner "+p.ID+"\n" {
		t.Errorf("partners delete: exit %d, %q", code, out)
	}
	wantExit(t, s, 1, "not_found", "partners", "show", p.ID, "--org", "acme")
	if code, out, _ = cli(t, s, "tenants", "delete", "t2", "--org", "acme"); code != 0 || out != "deleted tenant t2\n" {
		t.Errorf("tenants delete: exit %d, %q", code, out)
	}
}

// TestOperatorCommandsKeysUsersTokens: deactivate and reactivate stop and
// allow a real sign-in; a key added from a PEM file signs users in and stops
// when deleted (a private key file is refused before anything is sent);
// users are found, created and deleted; an admin token printed once works
// over TCP with its role's rights until it is deleted.
func TestOperatorCommandsKeysUsersTokens(t *testing.T) {
	adminAddr := FreePort(t)
	t.Setenv("GATEHOUSE_ADMIN__LISTEN", adminAddr)
	s := Start(t, "")
	w := s.Seed()

	if ok, err := signInOK(s, w.Sign(t, w.Tenant, "ada@example.com", "admin")); err != nil || !ok {
		t.Fatalf("sign-in before deactivation: ok=%v err=%v", ok, err)
	}
	out, _ := mustCLI(t, s, "partners", "deactivate", w.PartnerID, "--org", w.Org)
	if !strings.Contains(out, w.PartnerID) || !strings.Contains(out, "  no  ") {
		t.Errorf("partners deactivate:\n%s", out)
	}
	if ok, _ := signInOK(s, w.Sign(t, w.Tenant, "ada@example.com", "admin")); ok {
		t.Fatal("a deactivated partner signed a user in")
	}
	mustCLI(t, s, "partners", "reactivate", w.PartnerID, "--org", w.Org)
	if ok, err := signInOK(s, w.Sign(t, w.Tenant, "ada@example.com", "admin")); err != nil || !ok {
		t.Fatalf("sign-in after reactivation: ok=%v err=%v", ok, err)
	}

	// A second RSA key, uploaded from its file with a label and a kid.
	stem := filepath.Join(t.TempDir(), "portal2026")
	Run(t, "keygen", "--out", stem)
	code, out, errOut := cli(t, s, "keys", "add", "--org", w.Org, "--partner", w.PartnerID, "--pem-file", stem+".pub",
		"--label", "portal 2026", "--kid", "portal-2026")
	if code != 0 {
		t.Fatalf("keys add: exit %d: %s", code, errOut)
	}
	wantHeader(t, "keys add", out, "KID", "BITS", "SOURCE", "LABEL", "FINGERPRINT", "CREATED", "LAST USED")
	out, _ = mustCLI(t, s, "keys", "list", "--org", w.Org, "--partner", w.PartnerID)
	if !hasRow(out, "portal-2026", "3072", "pem", "portal", "2026") || !hasRow(out, w.Kid, "3072", "pem", "e2e") {
		t.Errorf("keys list:\n%s", out)
	}
	signWith := func() string {
		return Run(t, "sign", "--key", stem+".key", "--kid", "portal-2026", "--org", w.Org, "--tenant", w.Tenant,
			"--email", "bea@example.com", "--role", "readOnly")
	}
	if ok, err := signInOK(s, signWith()); err != nil || !ok {
		t.Fatalf("sign-in with the added key: ok=%v err=%v", ok, err)
	}
	wantExit(t, s, 2, "private key", "keys", "add", "--org", w.Org, "--partner", w.PartnerID, "--pem-file", stem+".key")
	wantExit(t, s, 2, "--kid", "keys", "add", "--org", w.Org, "--partner", w.PartnerID, "--pem-file", stem+".pub", "--kid", "a/b")
	wantExit(t, s, 1, "HTTP 409 conflict", "keys", "add", "--org", w.Org, "--partner", w.PartnerID, "--pem-file", stem+".pub")
	keys := cliList[struct {
		Kid   string `json:"kid"`
		Label string `json:"label"`
		Bits  int    `json:"bits"`
	}](t, s, "keys", "keys", "list", "--org", w.Org, "--partner", w.PartnerID)
	if len(keys) != 2 {
		t.Fatalf("keys after a refused private key and a duplicate: %+v", keys)
	}
	if code, out, _ = cli(t, s, "keys", "delete", "portal-2026", "--org", w.Org, "--partner", w.PartnerID); code != 0 || out != "deleted key portal-2026\n" {
		t.Fatalf("keys delete: exit %d, %q", code, out)
	}
	if ok, _ := signInOK(s, signWith()); ok {
		t.Fatal("a deleted key still signs users in")
	}

	// Users: the two signed in above, found by part of the email, any case.
	out, _ = mustCLI(t, s, "users", "list", "--org", w.Org, "--q", "ADA")
	wantHeader(t, "users list", out, "ID", "EMAIL", "NAME", "TENANT", "ROLE", "PARTNER SSO", "PARTNER", "LAST SIGN-IN")
	if !strings.Contains(out, "ada@example.com") || strings.Contains(out, "bea@example.com") {
		t.Errorf("users list --q ADA:\n%s", out)
	}
	var created struct {
		ID, Email, Role, TenantID, PartnerID string
		PartnerSSO                           bool `json:"partner_sso"`
	}
	cliJSON(t, s, &created, "users", "create", "--org", w.Org, "--email", "Cid@Example.com", "--tenant", w.Tenant2,
		"--role", "readOnly", "--partner-sso", "--partner", w.PartnerID)
	if created.Email != "cid@example.com" || !created.PartnerSSO || created.ID == "" {
		t.Fatalf("users create: %+v", created)
	}
	list := cliList[struct {
		Email    string `json:"email"`
		TenantID string `json:"tenant_id"`
	}](t, s, "users", "users", "list", "--org", w.Org, "--tenant", w.Tenant2)
	if len(list) != 1 || list[0].Email != "cid@example.com" {
		t.Errorf("users list --tenant %s: %+v", w.Tenant2, list)
	}
	code, out, errOut = cli(t, s, "users", "list", "--org", w.Org, "--limit", "1")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(errOut, "--cursor ") {
		t.Errorf("users list --limit 1: exit %d\n%s\nstderr %q", code, out, errOut)
	}
	out, _ = mustCLI(t, s, "users", "show", created.ID, "--org", w.Org)
	if !strings.Contains(out, "sessions         0\n") || !strings.Contains(out, "partner_sso      yes\n") {
		t.Errorf("users show:\n%s", out)
	}
	wantExit(t, s, 2, "--role", "users", "create", "--org", w.Org, "--email", "x@example.com", "--tenant", w.Tenant, "--role", "readonly")
	wantExit(t, s, 2, "--email", "users", "create", "--org", w.Org, "--email", "not-an-email", "--tenant", w.Tenant, "--role", "admin")
	wantExit(t, s, 2, "--limit", "users", "list", "--org", w.Org, "--limit", "501")
	wantExit(t, s, 1, "validation_error: tenant_id", "users", "create", "--org", w.Org, "--email", "x@example.com", "--tenant", "t9", "--role", "admin")
	wantExit(t, s, 1, "HTTP 409 conflict", "users", "create", "--org", w.Org, "--email", "CID@example.com", "--tenant", w.Tenant, "--role", "admin")
	if code, out, _ = cli(t, s, "users", "delete", created.ID, "--org", w.Org); code != 0 || out != "deleted user "+created.ID+"\n" {
		t.Errorf("users delete: exit %d, %q", code, out)
	}
	wantExit(t, s, 1, "not_found", "users", "show", created.ID, "--org", w.Org)

	// Admin tokens: printed once, alone on stdout; its ID on stderr.
	code, out, errOut = cli(t, s, "admin-tokens", "create", "--org", w.Org, "--role", "readOnly", "--label", "monitoring")
	token := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(token, "gha_") || strings.Count(out, "\n") != 1 || strings.Contains(errOut, token) ||
		!strings.Contains(errOut, "only this once") {
		t.Fatalf("admin-tokens create: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, _ = mustCLI(t, s, "admin-tokens", "list", "--org", w.Org)
	wantHeader(t, "admin-tokens list", out, "ID", "ROLE", "LABEL", "CREATED", "LAST USED")
	if !strings.Contains(out, "readOnly  monitoring") || strings.Contains(out, token) {
		t.Errorf("admin-tokens list:\n%s", out)
	}
	tokens := cliList[struct{ ID string }](t, s, "admin_tokens", "admin-tokens", "list", "--org", w.Org)
	if len(tokens) != 1 || !strings.Contains(errOut, tokens[0].ID) {
		t.Fatalf("admin-tokens list --json: %+v (create said %q)", tokens, errOut)
	}

	// The token over TCP: it reads, a readOnly token may not write.
	base := "http://" + adminAddr
	code, out, errOut = runExit(t, nil, "tenants", "list", "--org", w.Org, "--url", base, "--token", token)
	if code != 0 || !strings.Contains(out, w.Tenant2) {
		t.Fatalf("tenants list over TCP: exit %d, %q, %s", code, out, errOut)
	}
	code, _, errOut = runExit(t, []string{"GATEHOUSE_ADMIN_TOKEN=" + token}, "tenants", "create", "--org", w.Org, "--name", "T3", "--url", base)
	if code != 1 || !strings.Contains(errOut, "HTTP 403 forbidden") {
		t.Errorf("readOnly token creating a tenant: exit %d, %q", code, errOut)
	}
	if code, _, errOut = runExit(t, nil, "tenants", "list", "--org", w.Org, "--url", base); code != 2 || !strings.Contains(errOut, "--token") {
		t.Errorf("--url without a token: exit %d, %q", code, errOut)
	}
	mustCLI(t, s, "admin-tokens", "delete", tokens[0].ID, "--org", w.Org)
	code, _, errOut = runExit(t, nil, "tenants", "list", "--org", w.Org, "--url", base, "--token", token)
	if code != 1 || !strings.Contains(errOut, "401 unauthorized") || strings.Contains(errOut, token) {
		t.Errorf("deleted token: exit %d, %q", code, errOut)
	}

	// No server on the socket: exit 1 naming it.
	gone := filepath.Join(t.TempDir(), "none.sock")
	code, _, errOut = runExit(t, []string{"GATEHOUSE_ADMIN__SOCKET=" + gone}, "orgs", "list")
	if code != 1 || !strings.Contains(errOut, gone) {
		t.Errorf("no server: exit %d, %q", code, errOut)
	}
	_ = os.Remove(gone)
}
