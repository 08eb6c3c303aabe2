package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

// Shell completion of IDs: `gatehouse partners show <TAB>` offers the
// partners of --org, `--org <TAB>` the organizations, each with its name or
// email beside it, read from the running server (over the admin socket, or
// --url/--token). Without a server nothing is offered, and nothing is
// written: completion only lists.

// idLists names the admin list a positional ID of each kind (as the
// command's Use line spells it) completes from: its path below the
// organization ("" for the organizations themselves) and its JSON key.
var idLists = map[string]struct{ path, key string }{
	"ORG":      {"", "orgs"},
	"PARTNER":  {"partners", "partners"},
	"TENANT":   {"tenants", "tenants"},
	"USER":     {"users", "users"},
	"TOKEN-ID": {"admin-tokens", "admin_tokens"},
}

// completeArgs wires completion of a resource command's first positional
// ID, from the Use line (the one place that names it).
func completeArgs(cmd *cobra.Command) {
	f := strings.Fields(cmd.Use)
	if len(f) < 2 {
		return
	}
	list, ok := idLists[f[1]]
	if !ok {
		return
	}
	cmd.ValidArgsFunction = func(c *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		org := flagValue(c, "org")
		if list.path != "" && org == "" {
			return nil, cobra.ShellCompDirectiveNoFileComp // --org first: the IDs are per organization
		}
		return listIDs(c, org, list.path, list.key), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeOrgs offers the organizations for a command's --org.
func completeOrgs(cmd *cobra.Command) {
	_ = cmd.RegisterFlagCompletionFunc("org", func(c *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return listIDs(c, "", "", "orgs"), cobra.ShellCompDirectiveNoFileComp
	})
}

func flagValue(c *cobra.Command, name string) string {
	if f := c.Flags().Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// listIDs reads one admin list over the connection c's flags name and
// returns "id<TAB>name" completions; any failure (no server, a refused
// token) offers nothing.
func listIDs(c *cobra.Command, org, path, key string) []cobra.Completion {
	cfgPath, base, token := flagValue(c, "config"), flagValue(c, "url"), flagValue(c, "token")
	conn := &adminConn{cfgPath: &cfgPath, base: &base, token: &token}
	a := &adminCmd{conn: conn, cmd: c}
	p := "/api/v1/orgs"
	if path != "" {
		p = orgAPIPath(org, path)
		if path == "users" {
			p += "?" + url.Values{"limit": {"500"}}.Encode()
		}
	}
	body, err := a.call(http.MethodGet, p, nil)
	if err != nil {
		return nil
	}
	var answer map[string]json.RawMessage // the list under key, next_cursor beside it
	var items []map[string]any
	if json.Unmarshal(body, &answer) != nil || json.Unmarshal(answer[key], &items) != nil {
		return nil
	}
	var out []cobra.Completion
	for _, item := range items {
		id, _ := item["id"].(string)
		if id == "" {
			continue
		}
		desc := ""
		for _, k := range []string{"name", "email", "label"} {
			if s, _ := item[k].(string); s != "" {
				desc = s
				break
			}
		}
		out = append(out, cobra.CompletionWithDesc(id, desc))
	}
	return out
}
