package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/app"
	"gatehouse/web/client"
)

// adminConn is where a command reaches the admin API: the admin socket of
// --config (operator rights), or --url and --token over the TCP admin
// listener (one organization's rights). `gatehouse api` and every resource
// command (orgs, tenants, partners, keys, users, admin-tokens) share it.
type adminConn struct {
	cfgPath, base, token *string
}

func adminConnFlags(cmd *cobra.Command) *adminConn {
	f := cmd.Flags()
	a := &adminConn{cfgPath: configFlag(cmd)}
	a.base = f.String("url", "", "TCP admin API base URL (http:// or https://HOST:PORT) instead of the admin socket")
	a.token = f.String("token", "", "admin token for --url (default: $GATEHOUSE_ADMIN_TOKEN)")
	cmd.MarkFlagsMutuallyExclusive("url", "config")
	return a
}

// client checks the connection flags (usage errors) and returns the client.
func (a *adminConn) client() (*client.Client, error) {
	if *a.base != "" {
		u, err := url.Parse(*a.base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usageErrorf("--url %q: want http:// or https://HOST:PORT", *a.base)
		}
		tok := *a.token
		if tok == "" {
			tok = os.Getenv("GATEHOUSE_ADMIN_TOKEN")
		}
		if tok == "" {
			return nil, usageErrorf("--url needs --token (or GATEHOUSE_ADMIN_TOKEN)")
		}
		return client.NewURL(*a.base, tok), nil
	}
	if *a.token != "" {
		return nil, usageErrorf("--token is for --url; the admin socket needs none")
	}
	cfg, err := loadConfig(*a.cfgPath)
	if err != nil {
		return nil, err
	}
	return client.New(cfg.AdminSocketPath()), nil
}

// adminCmd is the state of one resource command: its connection, --json,
// and the writers.
type adminCmd struct {
	conn   *adminConn
	asJSON *bool
	cmd    *cobra.Command
}

// newAdminCmd makes a resource subcommand with the connection flags and --json.
func newAdminCmd(cmd *cobra.Command) *adminCmd {
	a := &adminCmd{conn: adminConnFlags(cmd), cmd: cmd}
	a.asJSON = cmd.Flags().Bool("json", false, "print the API's JSON answer instead of a table")
	completeArgs(cmd)
	return a
}

// call sends one request (in marshalled as JSON unless nil) and returns the
// body of a 2xx answer; any other answer is an error naming status, code,
// message and request id (exit 1).
func (a *adminCmd) call(method, path string, in any) ([]byte, error) {
	c, err := a.conn.client()
	if err != nil {
		return nil, err
	}
	var body []byte
	if in != nil {
		if body, err = json.Marshal(in); err != nil {
			return nil, err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ans, err := c.Raw(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	if ans.Status < 200 || ans.Status > 299 {
		return nil, apiFailure(ans)
	}
	return ans.Body, nil
}

// show decodes an answer into v (when not nil) and prints it: the API's
// JSON as it came with --json, else v written by table.
func (a *adminCmd) show(body []byte, v any, table func(w io.Writer)) error {
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			return fmt.Errorf("admin API answer: %w", err)
		}
	}
	out := a.cmd.OutOrStdout()
	if *a.asJSON {
		return printAnswer(out, client.Answer{ContentType: "application/json", Body: body})
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// do is call then show.
func (a *adminCmd) do(method, path string, in, v any, table func(w io.Writer)) error {
	body, err := a.call(method, path, in)
	if err != nil {
		return err
	}
	return a.show(body, v, table)
}

// warn writes a line on stderr, where it never mixes with what scripts read.
func (a *adminCmd) warn(format string, args ...any) {
	fmt.Fprintf(a.cmd.ErrOrStderr(), format+"\n", args...)
}

// row writes one tab-separated table row.
func row(w io.Writer, cells ...string) { fmt.Fprintln(w, strings.Join(cells, "\t")) }

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func fmtOptTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return fmtTime(*t)
}

// fmtList shows a list as the API means it: nil is no restriction, empty
// is nothing allowed.
func fmtList(xs []string, none string) string {
	switch {
	case xs == nil:
		return none
	case len(xs) == 0:
		return "(none allowed)"
	}
	return strings.Join(xs, ",")
}

func orgAPIPath(org string, parts ...string) string {
	p := "/api/v1/orgs/" + url.PathEscape(org)
	for _, s := range parts {
		p += "/" + url.PathEscape(s)
	}
	return p
}

// orgFlag adds the required --org flag.
func orgFlag(cmd *cobra.Command) *string {
	org := idFlag(cmd, "org", "organization ID (required)")
	requireFlags(cmd, "org")
	completeOrgs(cmd)
	return org
}

// idValue is a flag holding an ID (1–64 of A–Z a–z 0–9 _ -), so a typo such
// as a space or slash fails while parsing (exit 2) instead of naming another path.
type idValue struct{ value *string }

func (v idValue) String() string { return *v.value }
func (v idValue) Type() string   { return "ID" }
func (v idValue) Set(s string) error {
	if !app.ValidID(s) {
		return fmt.Errorf("%q is not an ID (1 to 64 of A-Z a-z 0-9 _ -)", s)
	}
	*v.value = s
	return nil
}

func idFlag(cmd *cobra.Command, name, usage string) *string {
	var s string
	cmd.Flags().Var(idValue{&s}, name, usage)
	return &s
}

// idArgs wants exactly the named positional IDs, each a valid ID.
func idArgs(names ...string) cobra.PositionalArgs {
	count := exactArgs(names...)
	return func(cmd *cobra.Command, args []string) error {
		if err := count(cmd, args); err != nil {
			return err
		}
		for i, a := range args {
			if !app.ValidID(a) {
				return usageErrorf("%s %q is not an ID (1 to 64 of A-Z a-z 0-9 _ -)", names[i], a)
			}
		}
		return nil
	}
}

// listValue is a comma-separated list flag whose entries are checked while
// the command line is parsed. Repeating the flag appends; an empty value
// (”) is the empty list, which for a partner policy means nothing allowed.
type listValue struct {
	values  *[]string
	check   func(string) error
	changed bool
}

func (l *listValue) String() string { return strings.Join(*l.values, ",") }
func (l *listValue) Type() string   { return "list" }
func (l *listValue) Set(s string) error {
	if !l.changed {
		*l.values = []string{}
		l.changed = true
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if l.check != nil {
			if err := l.check(part); err != nil {
				return fmt.Errorf("%q: %w", part, err)
			}
		}
		*l.values = append(*l.values, part)
	}
	return nil
}

// listFlag defines a listValue flag; its value is nil until the flag is given.
func listFlag(cmd *cobra.Command, name, usage string, check func(string) error) *[]string {
	var xs []string
	cmd.Flags().Var(&listValue{values: &xs, check: check}, name, usage)
	return &xs
}

// checkHTTPURL accepts an absolute http(s) URL without user info, as the
// API does; originOnly also refuses a path, query or fragment.
func checkHTTPURL(raw string, originOnly bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		strings.ContainsAny(raw, " \t\r\n\\") {
		return fmt.Errorf("not an absolute http(s) URL")
	}
	if originOnly && (strings.TrimRight(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "") {
		return fmt.Errorf("not an origin (scheme://host[:port], no path)")
	}
	return nil
}

// urlValue is a string flag holding an absolute http(s) URL, or ” for none.
type urlValue struct{ value *string }

func (v urlValue) String() string { return *v.value }
func (v urlValue) Type() string   { return "URL" }
func (v urlValue) Set(s string) error {
	if s != "" {
		if err := checkHTTPURL(s, false); err != nil {
			return err
		}
	}
	*v.value = s
	return nil
}

func urlFlag(cmd *cobra.Command, name, usage string) *string {
	var s string
	cmd.Flags().Var(urlValue{&s}, name, usage)
	return &s
}

// deleted sends a DELETE and says what went, except with --json (a 204 has no JSON).
func (a *adminCmd) deleted(path, what string) error {
	if _, err := a.call(http.MethodDelete, path, nil); err != nil {
		return err
	}
	if !*a.asJSON {
		fmt.Fprintf(a.cmd.OutOrStdout(), "deleted %s\n", what)
	}
	return nil
}
