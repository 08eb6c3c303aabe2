package e2e

import (
	"encoding/json"
	"strings"
	"testing"
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
