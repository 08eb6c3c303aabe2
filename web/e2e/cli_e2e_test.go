package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runExit runs the binary with env added and returns its exit code and output.
func runExit(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = append(append(os.Environ(), "GATEHOUSE_CONFIG="), env...)
	return runCommand(t, cmd, strings.Join(args, " "))
}

// runCommand runs cmd to its end: its exit code and output. A command
// that could not run at all fails the test.
func runCommand(t *testing.T, cmd *exec.Cmd, what string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("gatehouse %s: %v", what, err)
	return 0, "", ""
}

// TestCLIConventions drives the built binary: help on stdout with exit 0,
// and command-line mistakes exit 2 before anything is opened or written.
func TestCLIConventions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := []string{"GATEHOUSE_STORAGE__DIR=" + dir, "GATEHOUSE_SERVER__LISTEN=" + FreePort(t),
		"GATEHOUSE_ADMIN__SOCKET=" + filepath.Join(dir, "admin.sock")}

	for _, args := range [][]string{{"serve", "--help"}, {"help", "serve"}, {"--help"}, {"help"}, {"audit", "export", "-h"}} {
		code, out, errOut := runExit(t, env, args...)
		if code != 0 || errOut != "" || !strings.Contains(out, "Examples:") {
			t.Errorf("gatehouse %s: exit %d, stderr %q, stdout:\n%s", strings.Join(args, " "), code, errOut, out)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "extra-arg"}, `"extra-arg"`},
		{[]string{"serve", "--listen", "x"}, "--listen"},
		{[]string{"sign", "--key", "k.key", "--org", "o", "--tenant", "t", "--email", "e@example.com", "--role", "readonly"}, "--role"},
		{[]string{"frobnicate"}, `"frobnicate"`},
	} {
		code, out, errOut := runExit(t, env, c.args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("gatehouse %s: exit %d, stdout %q, stderr %q; want exit 2 and one line naming %s",
				strings.Join(c.args, " "), code, out, errOut, c.want)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a rejected command line created %s (%v)", dir, err)
	}
}

// TestShellCompletionOfIDs: completion offers the running server's IDs,
// each with its name beside it: --org the organizations, a command's
// positional ID that organization's partners, tenants or admin tokens; and
// nothing, without error, when no server answers.
func TestShellCompletionOfIDs(t *testing.T) {
	s := Start(t, "")
	s.MustAPI("POST", "/api/v1/orgs", map[string]any{"id": "acme", "name": "Acme MSSP"}, 201, nil)
	s.MustAPI("POST", "/api/v1/orgs/acme/tenants", map[string]any{"id": "t1", "name": "Tenant One"}, 201, nil)
	var p struct{ ID string }
	s.MustAPI("POST", "/api/v1/orgs/acme/partners", map[string]any{"name": "Portal"}, 201, &p)
	var tok struct{ ID string }
	s.MustAPI("POST", "/api/v1/orgs/acme/admin-tokens", map[string]any{"role": "readOnly", "label": "ci"}, 201, &tok)
	// complete runs `gatehouse __complete COMMAND SUB --config F ARGS... ""`.
	complete := func(command []string, args ...string) string {
		t.Helper()
		line := append(append(append([]string{"__complete"}, command...), "--config", s.Config), args...)
		return Run(t, append(line, "")...)
	}
	for _, c := range []struct {
		command, args []string
		want          string
	}{
		{[]string{"partners", "show"}, []string{"--org"}, "acme\tAcme MSSP\n"},
		{[]string{"partners", "show"}, []string{"--org", "acme"}, p.ID + "\tPortal\n"},
		{[]string{"tenants", "delete"}, []string{"--org", "acme"}, "t1\tTenant One\n"},
		{[]string{"admin-tokens", "delete"}, []string{"--org", "acme"}, tok.ID + "\tci\n"},
		{[]string{"orgs", "show"}, nil, "acme\tAcme MSSP\n"},
	} {
		if got := complete(c.command, c.args...); !strings.HasPrefix(got, c.want) {
			t.Errorf("completing %v %v: got\n%s\nwant it to start with %q", c.command, c.args, got, c.want)
		}
	}
	// Before --org, no partner is offered (only the required flag itself).
	if got := complete([]string{"partners", "show"}); strings.Contains(got, p.ID) {
		t.Errorf("completing a partner without --org offered %q", got)
	}
	code, out, _ := runExit(t, []string{"GATEHOUSE_ADMIN__SOCKET=" + filepath.Join(t.TempDir(), "none.sock")}, "__complete", "partners", "show", "--org", "acme", "")
	if code != 0 || out != ":4\n" {
		t.Errorf("completing with no server: exit %d, %q; want exit 0 and nothing", code, out)
	}
}
