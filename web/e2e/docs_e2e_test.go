package e2e

// The docs' shell examples, run as written.
//
// Convention (README "Shell examples in the docs" says the same):
//
//   - A ```sh block in a Markdown file at the top or under docs/ is run. Each file's blocks run
//     in order, as one bash script under `set -Eeuo pipefail`, the way a reader
//     pastes them into one terminal: a variable or file one block makes is
//     there for the next.
//   - A block that needs a server of its own (the demo, a restored backup,
//     the JWKS trial and its static file server) starts it in the background (`&`, on 127.0.0.1:0), waits for its
//     socket and stops it with `kill "$pid" && wait "$pid"`, so a clean stop
//     is checked too. Whatever a failing script left running in its process
//     group is ended after it (endGroup).
//   - A block that cannot run in a test (it needs root, systemd, a foreground
//     server, a service on the internet, a certificate of a real CA, a
//     production database, or it is the test suite itself) is
//     fenced ```shell — GitHub renders it exactly like ```sh — and its first
//     line must say why: `# Not run by the docs test: <reason>`. When the
//     reason names a Go test (`TestPartnerExamples`), that test must exist.
//   - ```bash, ```console and other shell spellings are refused, so no block
//     escapes both rules by its spelling.
//
// What each script finds (the fixture, the same for every file):
//
//   - its working directory is a fresh directory holding a copy of
//     docs/examples, go.mod and go.sum, so `./docs/examples/…` and
//     `go run ./docs/examples/go/portal.go` work as from a checkout and
//     nothing a script writes lands in the repository;
//   - the programs a file's blocks run beyond bash, curl, jq and openssl (go,
//     node and npm, python3 with PyJWT) are required for that file (docTools);
//   - the built `gatehouse` first on PATH; GATEHOUSE_* variables of the
//     developer's shell removed (GATEHOUSE_CONFIG is empty: built-in defaults);
//   - a running `gatehouse serve` — "the server in another terminal" — whose
//     data directory is ./data, so its admin socket is ./data/admin.sock and
//     every `gatehouse` command finds it with no flags. It listens on free
//     ports, exported as GATEHOUSE_URL (public) and GATEHOUSE_ADMIN_URL
//     (admin.listen, for admin tokens); the docs write
//     ${GATEHOUSE_URL:-http://127.0.0.1:8080}, so a reader gets the defaults;
//   - for the files in seededDocs, the organization that file's examples
//     administer: org acme, tenants t1 and t2, partner "Portal" with the RSA
//     key ./partner.key (Server.Seed).
//
// GATEHOUSE_DOCS_TRACE=1 traces every command with its time (set -x).
//
// Examples in docs/examples are also run by their own tests (TestPartnerExamples,
// TestRevocationExamples, TestAssertionExamples, TestJWKSPartnerEndToEnd,
// TestHMACSignInWithOpenSSL), which add refused and tampered inputs; the
// blocks here run them once as a reader does. One that cannot run here (a
// JWKS fetched over https) is fenced ```shell and names the test that runs it.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// seededDocs are the files whose examples administer an existing
// organization rather than create one.
var seededDocs = map[string]bool{"docs/operations.md": true, "docs/assertion.md": true}

// docBlock is one fenced code block of a Markdown file.
type docBlock struct {
	file string // relative to the repository root
	line int    // of the opening fence, 1-based
	info string // the fence's first word: sh, shell, go, …
	body []string
}

var (
	fenceOpen   = regexp.MustCompile("^( *)(```+|~~~+)[ \t]*([^ \t`]*)")
	notRunLine  = regexp.MustCompile(`^# Not run by the docs test: (\S.*)$`)
	namedTest   = regexp.MustCompile(`\bTest[A-Z][A-Za-z0-9_]*`)
	refusedInfo = map[string]bool{"bash": true, "console": true, "zsh": true, "shell-session": true,
		"sh-session": true, "shellsession": true, "terminal": true}
)

// markdownBlocks returns the fenced blocks of a Markdown file, with the
// fence's indentation (a block inside a list item) taken off every line.
func markdownBlocks(path, rel string) ([]docBlock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var blocks []docBlock
	var open *docBlock
	var fence string
	indent := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if open == nil {
			if m := fenceOpen.FindStringSubmatch(line); m != nil {
				open = &docBlock{file: rel, line: n, info: strings.ToLower(m[3])}
				fence, indent = m[2], len(m[1])
			}
			continue
		}
		trimmed := strings.TrimLeft(line, " ")
		if strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]+" \t") == "" {
			blocks = append(blocks, *open)
			open = nil
			continue
		}
		lead := len(line) - len(trimmed)
		open.body = append(open.body, line[min(lead, indent):])
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if open != nil {
		return nil, fmt.Errorf("%s:%d: the code block is never closed", rel, open.line)
	}
	return blocks, nil
}

// docFiles are the repository's Markdown files: the top level's and every
// one under docs/, relative to root.
func docFiles(t *testing.T, root string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "node_modules" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		if files[i], err = filepath.Rel(root, f); err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(files)
	return files
}

// e2eTestNames are the Test functions of this package, for checking that a
// not-run block's reason names a test that exists.
func e2eTestNames(t *testing.T) map[string]bool {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	srcs, err := filepath.Glob(filepath.Join(filepath.Dir(file), "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	decl := regexp.MustCompile(`(?m)^func (Test[A-Za-z0-9_]*)\(`)
	for _, src := range srcs {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range decl.FindAllSubmatch(b, -1) {
			names[string(m[1])] = true
		}
	}
	return names
}

// TestDocsShellBlocks runs every ```sh block of README.md, SECURITY.md and
// docs/**/*.md against the built binary (see the convention at the top of this file) and
// holds every ```shell block to its stated reason.
func TestDocsShellBlocks(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq", "openssl", "xxd"} {
		RequireTool(t, tool)
	}
	root := repoRoot(t)
	tests := e2eTestNames(t)
	run, notRun := 0, 0
	for _, rel := range docFiles(t, root) {
		blocks, err := markdownBlocks(filepath.Join(root, rel), rel)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range fenceProblems(blocks, tests) {
			t.Error(p)
		}
		var runnable []docBlock
		for _, b := range blocks {
			switch b.info {
			case "sh":
				runnable = append(runnable, b)
			case "shell":
				notRun++
			}
		}
		if len(runnable) == 0 {
			continue
		}
		run += len(runnable)
		t.Run(strings.ReplaceAll(rel, "/", "_"), func(t *testing.T) {
			t.Parallel()
			runDocBlocks(t, root, rel, runnable)
		})
	}
	t.Logf("%d ```sh blocks run, %d ```shell blocks not run (each with its reason)", run, notRun)
}

// fenceProblems holds shell blocks to the convention: ```shell opens with its
// reason, a test the reason names exists, and no other shell spelling.
func fenceProblems(blocks []docBlock, tests map[string]bool) []string {
	var problems []string
	for _, b := range blocks {
		switch {
		case b.info == "shell":
			first := ""
			if len(b.body) > 0 {
				first = strings.TrimSpace(b.body[0])
			}
			m := notRunLine.FindStringSubmatch(first)
			if m == nil {
				problems = append(problems, fmt.Sprintf("%s:%d: a ```shell block must open with `# Not run by the docs test: <reason>` (or be ```sh and run)", b.file, b.line))
				continue
			}
			for _, name := range namedTest.FindAllString(m[1], -1) {
				if !tests[name] {
					problems = append(problems, fmt.Sprintf("%s:%d: the reason names %s, which is not a test in web/e2e", b.file, b.line, name))
				}
			}
		case refusedInfo[b.info]:
			problems = append(problems, fmt.Sprintf("%s:%d: ```%s: fence shell examples as ```sh (run by this test) or ```shell with a reason", b.file, b.line, b.info))
		}
	}
	return problems
}

// docFixture starts the server the docs' examples talk to: data in
// work/data (so its socket is ./data/admin.sock for the scripts), public and
// admin listeners on free ports.
func docFixture(t *testing.T, work string) (s *Server, adminURL string) {
	t.Helper()
	addr, adminAddr := FreePort(t), FreePort(t)
	s = &Server{t: t, Dir: filepath.Join(work, "data"), Base: "http://" + addr,
		Socket: filepath.Join(work, "data", "admin.sock"), Config: filepath.Join(t.TempDir(), "config.toml")}
	cfg := fmt.Sprintf("[server]\nlisten = %q\npublic_url = %q\n\n[storage]\ndir = %q\n\n[admin]\nsocket = %q\nlisten = %q\n\n[ratelimit]\nsignin_per_ip = 0\n",
		addr, s.Base, s.Dir, s.Socket, adminAddr)
	if err := os.WriteFile(s.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.StartProcess()
	t.Cleanup(s.Stop)
	return s, "http://" + adminAddr
}

// runDocBlocks runs one file's blocks in order as one bash script against
// its own fixture.
func runDocBlocks(t *testing.T, root, rel string, blocks []docBlock) {
	work := t.TempDir()
	copyExamples(t, filepath.Join(root, "docs", "examples"), filepath.Join(work, "docs", "examples"))
	// go.mod and go.sum, so `go run ./docs/examples/go/portal.go` finds go-jose
	// as it does in a checkout.
	for _, f := range []string{"go.mod", "go.sum"} {
		copyFile(t, filepath.Join(root, f), filepath.Join(work, f))
	}
	s, adminURL := docFixture(t, work)
	if seededDocs[rel] {
		s.Seed() // its key is work/partner.key
	}
	script := newDocScript(blocks, os.Getenv("GATEHOUSE_DOCS_TRACE") != "")
	env := docEnv(t, s.Base, adminURL, docTools(t, blocks)...)
	start := time.Now()
	out, where, err := script.run(work, env, 90*time.Second)
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		if where == "" {
			where = rel
		}
		t.Fatalf("%s: the shell examples failed (%v, after %v):\n%s\nserver log:\n%s", where, err, took, out, s.Output())
	}
	t.Logf("%d blocks of %s ran in %v:\n%s", len(blocks), rel, took, out)
}

// docScript is blocks as one bash script, with a map from its lines back to
// the Markdown's.
type docScript struct {
	text  string
	spans []scriptSpan
}

type scriptSpan struct {
	from    int // the script line of the block's first line
	file    string
	docLine int // that line in the Markdown file
}

const scriptFailed = "docs-test: exit status"

// scriptFailedAt finds the line of a failure: the ERR trap's report, or
// bash's own message for what the trap does not see (an unset variable).
var scriptFailedAt = regexp.MustCompile(`(?m)(?:` + scriptFailed + ` \d+ at script line |^bash: (?:-c: )?line )(\d+)`)

func newDocScript(blocks []docBlock, trace bool) docScript {
	var b strings.Builder
	b.WriteString("set -Eeuo pipefail\ntrap 'echo \"" + scriptFailed + " $? at script line $LINENO\" >&2' ERR\n")
	if trace {
		b.WriteString("PS4='+ $EPOCHREALTIME: '; set -x\n")
	} else {
		b.WriteString("\n")
	}
	var s docScript
	lines := 3
	for _, blk := range blocks {
		fmt.Fprintf(&b, "# %s:%d\n", blk.file, blk.line)
		lines++
		s.spans = append(s.spans, scriptSpan{from: lines + 1, file: blk.file, docLine: blk.line + 1})
		for _, l := range blk.body {
			b.WriteString(l + "\n")
			lines++
		}
	}
	s.text = b.String()
	return s
}

// docLine is file:line of a script line.
func (s docScript) docLine(scriptLine int) string {
	for i := len(s.spans) - 1; i >= 0; i-- {
		if sp := s.spans[i]; scriptLine >= sp.from {
			return fmt.Sprintf("%s:%d", sp.file, sp.docLine+scriptLine-sp.from)
		}
	}
	return ""
}

// run runs the script in dir; on failure where is the Markdown line of the
// first failure reported (one inside $(…) reports its own line first).
func (s docScript) run(dir string, env []string, timeout time.Duration) (out, where string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", s.text)
	cmd.Dir, cmd.Env = dir, env
	// Its own process group, so a timeout also ends what the script started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// The output goes to a file, not a pipe: a server a block left running in
	// the background would hold a pipe open, and Wait with it.
	f, err := os.CreateTemp("", "gatehouse-docs-out-")
	if err != nil {
		return "", "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Run()
	if cmd.Process != nil {
		endGroup(cmd.Process.Pid)
	}
	b, _ := os.ReadFile(f.Name())
	if err != nil {
		if m := scriptFailedAt.FindStringSubmatch(string(b)); m != nil {
			n, _ := strconv.Atoi(m[1])
			where = s.docLine(n)
		}
	}
	return string(b), where, err
}

// endGroup ends what a script left running in its process group — a block
// that failed before it stopped the server it started: SIGTERM first, so a
// demo removes its temporary directory, SIGKILL after 3 s.
func endGroup(pgid int) {
	if syscall.Kill(-pgid, syscall.SIGTERM) != nil {
		return // nothing left
	}
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if syscall.Kill(-pgid, 0) != nil {
			return
		}
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
}

// docEnv is the scripts' environment: the developer's, without GATEHOUSE_*,
// the binary first on PATH, then the dirs of tools (docTools), and the
// fixture's addresses.
func docEnv(t *testing.T, base, adminURL string, toolDirs ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GATEHOUSE_") || strings.HasPrefix(kv, "PATH=") {
			continue
		}
		env = append(env, kv)
	}
	path := append(append([]string{filepath.Dir(Binary(t))}, toolDirs...), os.Getenv("PATH"))
	return append(env, "PATH="+strings.Join(path, string(os.PathListSeparator)),
		"GATEHOUSE_CONFIG=", "GATEHOUSE_URL="+base, "GATEHOUSE_ADMIN_URL="+adminURL)
}

// docTools holds a file's blocks to the programs they run beyond the
// always-needed ones (skipped without them, failed in CI) and returns the
// directories to put first on PATH: `python3` there is one with PyJWT, which
// the docs tell a reader to install (a pyenv python3 may hide Debian's).
func docTools(t *testing.T, blocks []docBlock) []string {
	t.Helper()
	uses := func(word string) bool {
		re := regexp.MustCompile(`(^|[\s|;&(])` + regexp.QuoteMeta(word) + `\s`)
		for _, b := range blocks {
			for _, l := range b.body {
				if re.MatchString(l) {
					return true
				}
			}
		}
		return false
	}
	var dirs []string
	for _, tool := range []string{"go", "node", "npm"} {
		if uses(tool) {
			RequireTool(t, tool)
		}
	}
	if uses("python3") {
		dir := t.TempDir()
		if err := os.Symlink(pythonWithJWT(t), filepath.Join(dir, "python3")); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	return dirs
}

// copyFile copies one file, keeping its mode.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, info.Mode().Perm()); err != nil {
		t.Fatal(err)
	}
}

// copyExamples copies the tracked example files (a developer's node_modules
// stays behind: the scripts install their own).
func copyExamples(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			if d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		if d.Type().IsRegular() {
			copyFile(t, path, filepath.Join(to, rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDocsHarness holds the docs runner to its convention on a made-up file:
// blocks parsed with their lines (a fenced block in a list item too), the
// fence rules enforced, and a failure reported at its Markdown line — a
// failing command, an unset variable and a failure inside a pipeline alike.
func TestDocsHarness(t *testing.T) {
	RequireTool(t, "bash")
	md := "# x\n" + // 1
		"```sh\n" + // 2
		"greeting=hello\n" + // 3
		"```\n" + // 4
		"1. a step:\n" + // 5
		"   ```sh\n" + // 6
		"   test \"$greeting\" = hello\n" + // 7
		"   ```\n" + // 8
		"```shell\n" + // 9
		"# Not run by the docs test: it names TestNoSuchThing.\n" + // 10
		"```\n" + // 11
		"```shell\n" + // 12
		"sudo reboot\n" + // 13
		"```\n" + // 14
		"~~~bash\n" + // 15
		"echo\n" + // 16
		"~~~\n" + // 17
		"```go\n" + // 18
		"package x\n" + // 19
		"```\n" // 20
	path := filepath.Join(t.TempDir(), "x.md")
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	blocks, err := markdownBlocks(path, "x.md")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range blocks {
		got = append(got, fmt.Sprintf("%d %s %q", b.line, b.info, b.body))
	}
	want := []string{`2 sh ["greeting=hello"]`, `6 sh ["test \"$greeting\" = hello"]`,
		`9 shell ["# Not run by the docs test: it names TestNoSuchThing."]`, `12 shell ["sudo reboot"]`,
		`15 bash ["echo"]`, `18 go ["package x"]`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("blocks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	problems := strings.Join(fenceProblems(blocks, map[string]bool{"TestDocsHarness": true}), "\n")
	for _, want := range []string{"x.md:9: the reason names TestNoSuchThing", "x.md:12: a ```shell block must open with",
		"x.md:15: ```bash"} {
		if !strings.Contains(problems, want) {
			t.Errorf("fence problems lack %q:\n%s", want, problems)
		}
	}
	if n := strings.Count(problems, "\n") + 1; n != 3 {
		t.Errorf("%d fence problems, want 3:\n%s", n, problems)
	}

	// The two sh blocks share one shell: the second sees the first's variable.
	if out, where, err := newDocScript(blocks[:2], false).run(t.TempDir(), os.Environ(), 10*time.Second); err != nil {
		t.Fatalf("blocks in order: %v at %q\n%s", err, where, out)
	}
	for _, c := range []struct{ name, line string }{
		{"a failing command", "false"},
		{"an unset variable", `echo "$no_such_variable"`},
		{"a failure inside a pipeline", "false | cat"},
		{"a failure inside a command substitution", "x=$(false)"},
	} {
		failing := docBlock{file: "y.md", line: 40, info: "sh", body: []string{"echo before", c.line, "echo after"}}
		out, where, err := newDocScript([]docBlock{blocks[0], failing}, false).run(t.TempDir(), os.Environ(), 10*time.Second)
		if err == nil || where != "y.md:42" || strings.Contains(out, "after") {
			t.Errorf("%s: err %v, reported at %q, want y.md:42 and nothing after it:\n%s", c.name, err, where, out)
		}
	}

	// A server a failing block started in the background does not outlive
	// the script, and does not hold up its end.
	dir := t.TempDir()
	leaves := docBlock{file: "z.md", line: 1, info: "sh", body: []string{"sleep 600 & echo $! > pid", "false"}}
	start := time.Now()
	if _, _, err := newDocScript([]docBlock{leaves}, false).run(dir, os.Environ(), 20*time.Second); err == nil {
		t.Fatal("a failing block passed")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the script took %v: its background sleep held it up", took)
	}
	b, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	// Ended: gone, or a zombie that nobody reaped yet (the orphan's new
	// parent may be slow to).
	if stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/stat"); err == nil {
		if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) > 0 && f[0] != "Z" && f[0] != "X" {
			t.Errorf("the block's background sleep is still running (state %s)", f[0])
		}
	}
}
