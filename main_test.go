package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

var update = flag.Bool("update", false, "rewrite testdata/help/*.golden from the current --help output")

// commandPaths lists every command a user can reach, as argument lists
// (nil is the root), so each gets a golden help file.
func commandPaths(t *testing.T) [][]string {
	t.Helper()
	var paths [][]string
	walk(newRootCmd(nil, io.Discard, io.Discard), func(c *cobra.Command) {
		if c.Hidden || c.Name() == cobra.ShellCompRequestCmd || c.Name() == cobra.ShellCompNoDescRequestCmd {
			return
		}
		fields := strings.Fields(c.CommandPath())[1:]
		paths = append(paths, fields)
	})
	return paths
}

func goldenName(path []string) string {
	if len(path) == 0 {
		return "gatehouse.golden"
	}
	return strings.Join(path, "_") + ".golden"
}

func runCapture(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// TestHelpGolden holds every command's --help to testdata/help (go test
// -run TestHelpGolden -update rewrites them), and checks that `gatehouse
// help COMMAND` prints the same, on stdout, exit 0, with an example.
func TestHelpGolden(t *testing.T) {
	want := map[string]bool{}
	for _, path := range commandPaths(t) {
		name := goldenName(path)
		want[name] = true
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runCapture(append(slices.Clone(path), "--help")...)
			if code != 0 || errOut != "" {
				t.Fatalf("gatehouse %s --help: exit %d, stderr %q", strings.Join(path, " "), code, errOut)
			}
			if !strings.Contains(out, "Examples:\n") || !strings.Contains(out, "Usage:\n") {
				t.Errorf("gatehouse %s --help has no usage or example:\n%s", strings.Join(path, " "), out)
			}
			if len(path) > 0 && !strings.Contains(out, "Flags:\n") {
				t.Errorf("gatehouse %s --help lists no flags:\n%s", strings.Join(path, " "), out)
			}
			code, viaHelp, errOut := runCapture(append([]string{"help"}, path...)...)
			if code != 0 || errOut != "" || viaHelp != out {
				t.Errorf("gatehouse help %s: exit %d, stderr %q, differs from --help:\n%s", strings.Join(path, " "), code, errOut, viaHelp)
			}
			file := filepath.Join("testdata", "help", name)
			if *update {
				if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			golden, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run: go test -run TestHelpGolden -update)", err)
			}
			if string(golden) != out {
				t.Errorf("gatehouse %s --help differs from %s (go test -run TestHelpGolden -update after checking the change):\n%s",
					strings.Join(path, " "), file, out)
			}
		})
	}
	// A golden file without its command means a command vanished unnoticed.
	entries, err := os.ReadDir(filepath.Join("testdata", "help"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !want[e.Name()] {
			if *update {
				os.Remove(filepath.Join("testdata", "help", e.Name()))
				continue
			}
			t.Errorf("testdata/help/%s belongs to no command", e.Name())
		}
	}
}

// TestHelpListsEveryCommand: `gatehouse help` names every top-level command.
func TestHelpListsEveryCommand(t *testing.T) {
	code, out, _ := runCapture("help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, c := range newRootCmd(nil, io.Discard, io.Discard).Commands() {
		if c.IsAvailableCommand() && !strings.Contains(out, "\n  "+c.Name()+" ") {
			t.Errorf("gatehouse help does not list %s:\n%s", c.Name(), out)
		}
	}
}

// TestUsageErrors: mistakes in the command line exit 2 with one line on
// stderr that names the mistake, and nothing on stdout. None of these
// reaches a command's RunE, so nothing is started or written.
func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"--bogus"}, "--bogus"},
		{[]string{"serve", "extra-arg"}, `"extra-arg"`},
		{[]string{"serve", "--bogus"}, "--bogus"},
		{[]string{"console", "x"}, `"x"`},
		{[]string{"rekey", "now"}, `"now"`},
		{[]string{"version", "2"}, `"2"`},
		{[]string{"sign", "--key", "k", "--org", "o", "--tenant", "t", "--email", "e", "--role", "readonly"}, "--role"},
		{[]string{"sign", "--key", "k", "--org", "o", "--tenant", "t", "--email", "e", "--role", "admin", "--ttl", "5 minutes"}, "--ttl"},
		{[]string{"sign", "--key", "k", "--org", "o"}, `"email"`},
		{[]string{"keygen"}, `"out"`},
		{[]string{"keygen", "--out", "x", "--bits", "many"}, "--bits"},
		{[]string{"backup"}, `"out"`},
		{[]string{"audit"}, "needs a subcommand"},
		{[]string{"audit", "list-all"}, `"list-all"`},
		{[]string{"audit", "verify", "extra"}, `"extra"`},
		{[]string{"audit", "export", "--since", "yesterday"}, "--since"},
		{[]string{"audit", "export", "--since", "-2h"}, "--since"},
		{[]string{"audit", "export", "--email", "a b@example.com"}, "--email"},
		{[]string{"audit", "export", "--type", "signin.\tx"}, "--type"},
		{[]string{"audit", "list", "--org", "acme", "--since", "yesterday"}, "--since"},
		{[]string{"audit", "list", "--org", "acme", "--request-id", strings.Repeat("r", 129)}, "--request-id"},
		{[]string{"audit", "list", "--org", "acme", "--request-id", ""}, "--request-id is empty"},
		{[]string{"audit", "list", "--org", "acme", "--email="}, "--email is empty"},
		{[]string{"audit", "export", "--partner", ""}, "--partner is empty"},
		{[]string{"audit", "export", "--since", ""}, "--since is empty"},
		{[]string{"help", "nope"}, `"nope"`},
		{[]string{"completion", "tcsh"}, "tcsh"},
	}
	for _, c := range cases {
		code, out, errOut := runCapture(c.args...)
		if code != exitUsage {
			t.Errorf("gatehouse %s: exit %d, want 2 (stderr %q)", strings.Join(c.args, " "), code, errOut)
			continue
		}
		if out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("gatehouse %s: stdout %q stderr %q, want one line naming %s", strings.Join(c.args, " "), out, errOut, c.want)
		}
	}
}

// TestCompletionScripts: every supported shell gets a script naming the binary.
func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		code, out, errOut := runCapture("completion", shell)
		if code != 0 || errOut != "" || !strings.Contains(out, "gatehouse") {
			t.Errorf("completion %s: exit %d, stderr %q, %d bytes", shell, code, errOut, len(out))
		}
	}
	// Flag values complete too: sign --role offers the two roles.
	code, out, _ := runCapture(cobra.ShellCompRequestCmd, "sign", "--role", "")
	if code != 0 || !strings.Contains(out, "admin\n") || !strings.Contains(out, "readOnly\n") {
		t.Errorf("completing sign --role: exit %d:\n%s", code, out)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-v"}} {
		code, out, _ := runCapture(args...)
		if code != 0 || out != "gatehouse "+version+"\n" {
			t.Errorf("gatehouse %v: exit %d, %q", args, code, out)
		}
	}
}
