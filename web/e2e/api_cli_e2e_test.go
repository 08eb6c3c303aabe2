package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAPICommand drives `gatehouse api` against a running server: over the
// admin socket (named by --config) and over the TCP admin listener with a
// token; 2xx answers print JSON and exit 0, error answers exit 1 with the
// code on stderr, command-line mistakes exit 2.
func TestAPICommand(t *testing.T) {
	adminAddr := FreePort(t)
	t.Setenv("GATEHOUSE_ADMIN__LISTEN", adminAddr)
	s := Start(t, "")
	api := func(args ...string) (int, string, string) {
		t.Helper()
		return runExit(t, nil, append([]string{"api"}, args...)...)
	}

	code, out, errOut := api("POST", "/api/v1/orgs", "--data", `{"id":"acme","name":"Acme MSSP"}`, "--config", s.Config)
	if code != 0 || errOut != "" {
		t.Fatalf("create org: exit %d: %s", code, errOut)
	}
	var org struct{ ID, Name string }
	if err := json.Unmarshal([]byte(out), &org); err != nil || org.ID != "acme" || org.Name != "Acme MSSP" {
		t.Fatalf("create org printed %q (%v)", out, err)
	}

	// @FILE, and a path without the /api/v1 prefix.
	body := filepath.Join(t.TempDir(), "tenant.json")
	if err := os.WriteFile(body, []byte(`{"id":"t1","name":"Tenant One","redirect_url":"https://dash.example.test/t1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut = api("POST", "orgs/acme/tenants", "--data", "@"+body, "--config", s.Config); code != 0 || !strings.Contains(out, `"id": "t1"`) {
		t.Fatalf("create tenant from @file: exit %d, %q, %s", code, out, errOut)
	}
	var list struct{ Tenants []struct{ ID string } }
	code, out, _ = api("get", "/api/v1/orgs/acme/tenants", "--config", s.Config)
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list.Tenants) != 1 || list.Tenants[0].ID != "t1" {
		t.Fatalf("list tenants: exit %d, %q", code, out)
	}
	if code, out, errOut = api("DELETE", "/api/v1/orgs/acme/tenants/t1", "--config", s.Config); code != 0 || out != "" {
		t.Fatalf("delete tenant: exit %d, %q, %s", code, out, errOut)
	}

	// Error answers: exit 1, status, code and request id on stderr, nothing on stdout.
	code, out, errOut = api("GET", "/api/v1/orgs/nope", "--config", s.Config)
	if code != 1 || out != "" || !strings.Contains(errOut, "HTTP 404 not_found") || !strings.Contains(errOut, "request_id") {
		t.Fatalf("missing org: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = api("POST", "/api/v1/orgs", "--data", `{"name":""}`, "--config", s.Config)
	if code != 1 || !strings.Contains(errOut, "validation_error") {
		t.Fatalf("invalid org: exit %d, stderr %q", code, errOut)
	}

	// Command-line mistakes: exit 2 before anything is sent.
	for _, args := range [][]string{
		{"GET"},
		{"FETCH", "/api/v1/orgs"},
		{"POST", "/api/v1/orgs", "--data", "{not json", "--config", s.Config},
		{"GET", "/api/v1/orgs", "extra"},
		{"GET", "/api/v1/orgs", "--url", "ftp://x", "--token", "t"},
		{"GET", "/api/v1/orgs", "--url", "http://" + adminAddr, "--config", s.Config},
	} {
		if code, _, errOut := api(args...); code != 2 || strings.Count(errOut, "\n") != 1 {
			t.Errorf("gatehouse api %s: exit %d, stderr %q; want exit 2, one line", strings.Join(args, " "), code, errOut)
		}
	}

	// A server that is not there: exit 1 naming the socket.
	gone := filepath.Join(t.TempDir(), "none.sock")
	code, _, errOut = runExit(t, []string{"GATEHOUSE_ADMIN__SOCKET=" + gone}, "api", "GET", "/api/v1/health")
	if code != 1 || !strings.Contains(errOut, gone) {
		t.Fatalf("no server: exit %d, stderr %q", code, errOut)
	}

	// Over TCP with an organization's token: its organization only.
	var tok struct{ Token string }
	s.MustAPI("POST", "/api/v1/orgs/acme/admin-tokens", map[string]any{"role": "readOnly", "label": "cli"}, 201, &tok)
	base := "http://" + adminAddr
	if code, out, errOut = api("GET", "/api/v1/orgs/acme", "--url", base, "--token", tok.Token); code != 0 || !strings.Contains(out, `"acme"`) {
		t.Fatalf("TCP get org: exit %d, %q, %s", code, out, errOut)
	}
	code, _, errOut = runExit(t, []string{"GATEHOUSE_ADMIN_TOKEN=" + tok.Token}, "api", "POST", "/api/v1/orgs/acme/tenants",
		"--url", base, "--data", `{"id":"t2","name":"T2"}`)
	if code != 1 || !strings.Contains(errOut, "HTTP 403 forbidden") {
		t.Fatalf("readOnly token writing: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut = api("GET", "/api/v1/orgs/acme", "--url", base, "--token", "gh_wrong"); code != 1 || !strings.Contains(errOut, "401 unauthorized") {
		t.Fatalf("bad token: exit %d, stderr %q", code, errOut)
	}
	if strings.Contains(errOut, "gh_wrong") {
		t.Errorf("stderr repeats the token: %q", errOut)
	}
}
