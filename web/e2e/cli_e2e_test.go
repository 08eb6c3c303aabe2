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
