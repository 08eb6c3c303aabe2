package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestAuditListFindsEvents: `gatehouse audit list` finds a sign-in by the
// user's email (any case), by its partner and by its request id.
func TestAuditListFindsEvents(t *testing.T) {
	s := Start(t, "")
	w := s.Seed()
	if ok, err := signInOK(s, w.Sign(t, w.Tenant, "ada@example.com", "admin")); err != nil || !ok {
		t.Fatalf("sign-in: ok=%v err=%v", ok, err)
	}
	list := func(args ...string) []map[string]any {
		t.Helper()
		out := Run(t, append([]string{"audit", "list", "--org", w.Org, "--json", "--config", s.Config}, args...)...)
		var l struct{ Events []map[string]any }
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return l.Events
	}
	byEmail := list("--email", "ADA@example.com", "--type", "signin.")
	if len(byEmail) != 1 || byEmail[0]["partner_id"] != w.PartnerID || byEmail[0]["request_id"] == "" {
		t.Fatalf("by email: %v", byEmail)
	}
	rid := byEmail[0]["request_id"].(string)
	if got := list("--request-id", rid); len(got) != 1 || got[0]["id"] != byEmail[0]["id"] {
		t.Fatalf("by request id %s: %v", rid, got)
	}
	if got := list("--partner", w.PartnerID, "--email", "nobody@example.com"); len(got) != 0 {
		t.Fatalf("filters combine: %v", got)
	}
	table := Run(t, "audit", "list", "--org", w.Org, "--request-id", rid, "--config", s.Config)
	if !strings.Contains(table, rid) || !strings.Contains(table, "ada@example.com") || !strings.Contains(table, "REQUEST ID") {
		t.Fatalf("table:\n%s", table)
	}
}

// TestAuditExportFilters: `gatehouse audit export` takes audit list's
// filters, through the admin socket and on the database directly once the
// server has stopped, and picks exactly the same lines both ways; without
// filters its output is the server's export, byte for byte.
func TestAuditExportFilters(t *testing.T) {
	s := Start(t, "")
	w := s.Seed()
	for _, email := range []string{"ada@example.com", "bob@example.com"} {
		if ok, err := signInOK(s, w.Sign(t, w.Tenant, email, "admin")); err != nil || !ok {
			t.Fatalf("sign-in %s: ok=%v err=%v", email, err, ok)
		}
	}
	lines := func(out string) []map[string]any {
		t.Helper()
		var evs []map[string]any
		for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if l == "" {
				continue
			}
			var e map[string]any
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatalf("%v: %q", err, l)
			}
			evs = append(evs, e)
		}
		return evs
	}
	export := func(args ...string) string {
		t.Helper()
		return Run(t, append([]string{"audit", "export", "--config", s.Config}, args...)...)
	}
	all := lines(export())
	var signins []map[string]any
	for _, e := range all {
		if strings.HasPrefix(e["type"].(string), "signin.") {
			signins = append(signins, e)
		}
	}
	if len(signins) != 2 {
		t.Fatalf("want 2 sign-in events in %d: %v", len(all), all)
	}
	ada := signins[0]
	if ada["email"] != "ada@example.com" || ada["request_id"] == "" {
		t.Fatalf("first sign-in: %v", ada)
	}
	rid := ada["request_id"].(string)
	ids := func(evs []map[string]any) []string {
		var out []string
		for _, e := range evs {
			out = append(out, e["id"].(string))
		}
		return out
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	cases := []struct {
		name string
		args []string
		want []map[string]any
	}{
		{"request id", []string{"--request-id", rid}, []map[string]any{ada}},
		{"type prefix and partner", []string{"--type", "signin.", "--partner", w.PartnerID}, signins},
		{"email any case and type", []string{"--email", "BOB@example.com", "--type", "signin."}, signins[1:]},
		{"org and type", []string{"--org", w.Org, "--type", "signin."}, signins},
		{"other org", []string{"--org", "org_nonexistent", "--type", "signin."}, nil},
		{"filters combine", []string{"--email", "bob@example.com", "--request-id", rid}, nil},
		{"since a duration", []string{"--since", "1h"}, all},
		{"since a future time", []string{"--since", future}, nil},
	}
	socket := map[string]string{}
	for _, c := range cases {
		out := export(c.args...)
		socket[c.name] = out
		if got, want := ids(lines(out)), ids(c.want); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("socket %s %v: got %v, want %v", c.name, c.args, got, want)
		}
	}
	_, raw := s.API("GET", "/api/v1/audit/export", nil)
	viaSocket := export()
	if viaSocket != strings.TrimSpace(string(raw)) { // Run trims the final newline
		t.Fatalf("unfiltered export differs from the server's:\n%s\nvs\n%s", viaSocket, raw)
	}
	for _, bad := range [][]string{{"--since", "yesterday"}, {"--since", "-1h"}, {"--email", "a b@example.com"}} {
		code, _, stderr := runExit(t, nil, append([]string{"audit", "export", "--config", s.Config}, bad...)...)
		if code != 2 || !strings.Contains(stderr, bad[0]) {
			t.Errorf("%v: exit %d, stderr %q; want 2 naming %s", bad, code, stderr, bad[0])
		}
	}

	s.Stop()
	direct := export()
	if !strings.HasPrefix(direct, viaSocket) {
		t.Fatalf("direct export does not start with the socket's:\n%s\nvs\n%s", direct, viaSocket)
	}
	for _, c := range cases {
		if c.name == "since a duration" {
			continue // the stop may add events; the socket answer is the oracle for the others
		}
		if got := export(c.args...); got != socket[c.name] {
			t.Errorf("direct %s: got\n%s\nwant (as through the socket)\n%s", c.name, got, socket[c.name])
		}
	}
}
