package e2e

import (
	"bytes"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// repoRoot is the module root (docs/ lives there).
func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// runExample runs a docs/examples program and returns its stdout.
func runExample(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s\n%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

var (
	formAction = regexp.MustCompile(`<form id="sso" method="post" action="([^"]+)">`)
	formToken  = regexp.MustCompile(`name="token" value="([^"]+)"`)
	formReturn = regexp.MustCompile(`name="return_to" value="([^"]+)"`)
)

// submitPage does what the browser does with an example's auto-submitting
// page, and checks Gatehouse signs the person in (302 with a session).
func submitPage(t *testing.T, s *Server, page, wantLocation string) {
	t.Helper()
	a, tok := formAction.FindStringSubmatch(page), formToken.FindStringSubmatch(page)
	if a == nil || tok == nil || !strings.Contains(page, `document.getElementById("sso").submit()`) {
		t.Fatalf("not an auto-submitting sign-in page:\n%s", page)
	}
	form := url.Values{"token": {html.UnescapeString(tok[1])}}
	if r := formReturn.FindStringSubmatch(page); r != nil {
		form.Set("return_to", html.UnescapeString(r[1]))
	}
	req, _ := http.NewRequest("POST", html.UnescapeString(a[1]), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := s.Browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != wantLocation {
		t.Fatalf("sign-in: %d Location %q, want 302 to %s\n%s", resp.StatusCode, resp.Header.Get("Location"), wantLocation, body)
	}
	if len(resp.Cookies()) == 0 || resp.Cookies()[0].Value == "" {
		t.Fatal("sign-in set no session cookie")
	}
}

// nodeExample copies the Node.js example script (with package.json and its
// lock file) into a temp dir and installs its dependencies there with
// `npm ci`, so the examples run with the lock file's jose; it returns the dir.
func nodeExample(t *testing.T, examples, script string) string {
	t.Helper()
	RequireTool(t, "node")
	npm := RequireTool(t, "npm")
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", script} {
		copyFile(t, filepath.Join(examples, "node", f), filepath.Join(dir, f))
	}
	start := time.Now()
	runExample(t, dir, nil, npm, "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error")
	t.Logf("npm ci took %v", time.Since(start).Round(time.Millisecond))
	return dir
}

// pythonWithJWT is a python3 that can import jwt with RSA support (Debian's
// python3-jwt and python3-cryptography live under /usr/bin/python3, which a
// pyenv python3 on PATH may hide).
func pythonWithJWT(t *testing.T) string {
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil {
			if exec.Command(path, "-c", "import jwt, cryptography").Run() == nil {
				return path
			}
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no python3 with PyJWT and cryptography; .ci/run should install python3-jwt python3-cryptography")
	}
	t.Skip("no python3 with PyJWT and cryptography (apt install python3-jwt python3-cryptography)")
	return ""
}

// TestPartnerExamples runs every signing example of docs/partners.md against
// a real `gatehouse serve` and checks each one signs a person in.
func TestPartnerExamples(t *testing.T) {
	s := Start(t, "")
	w := s.Seed()
	root := repoRoot(t)
	examples := filepath.Join(root, "docs", "examples")
	base := []string{"GATEHOUSE_URL=" + s.Base, "PARTNER_KEY=" + w.KeyFile, "ORG_ID=" + w.Org, "TENANT_ID=" + w.Tenant,
		"USER_ROLE=readOnly", "USER_NAME=Ann Reader"}
	const dash = "https://dash.example.test/t1"

	t.Run("go", func(t *testing.T) {
		t.Parallel()
		env := append(base, "USER_EMAIL=go.user@example.com", "KEY_ID="+w.Kid, "RETURN_TO="+dash+"/reports")
		submitPage(t, s, runExample(t, root, env, "go", "run", "./docs/examples/go/portal.go"), dash+"/reports")
	})
	t.Run("node", func(t *testing.T) {
		t.Parallel()
		dir := nodeExample(t, examples, "portal.js")
		env := append(base, "USER_EMAIL=node.user@example.com", "KEY_ID="+w.Kid)
		submitPage(t, s, runExample(t, dir, env, "node", "portal.js"), dash)
	})
	t.Run("python", func(t *testing.T) {
		t.Parallel()
		py := pythonWithJWT(t)
		env := append(base, "USER_EMAIL=python.user@example.com") // no kid: every active key is tried
		submitPage(t, s, runExample(t, filepath.Join(examples, "python"), env, py, "portal.py"), dash)
	})

	// HMAC: step 1 gives a login_url; the browser's GET of it signs in.
	hmacEnv := []string{"GATEHOUSE_URL=" + s.Base, "CONSUMER_KEY=" + w.ConsumerKey, "CONSUMER_SECRET=" + w.ConsumerSecret,
		"TENANT_ID=" + w.Tenant, "USER_ROLE=admin", "USER_NAME=Hal Mac"}
	login := func(t *testing.T, loginURL string) {
		t.Helper()
		if !strings.HasPrefix(loginURL, s.Base+"/sso/hmac/login?token=") {
			t.Fatalf("login_url %q", loginURL)
		}
		resp, err := s.Browser.Get(loginURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != dash || len(resp.Cookies()) == 0 {
			t.Fatalf("HMAC login: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	t.Run("hmac-shell", func(t *testing.T) {
		t.Parallel()
		RequireTool(t, "openssl")
		RequireTool(t, "curl")
		out := runExample(t, filepath.Join(examples, "hmac"), append(hmacEnv, "USER_EMAIL=shell.user@example.com"), "sh", "hmac-login.sh")
		m := regexp.MustCompile(`"login_url":\s*"([^"]+)"`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no login_url in %s", out)
		}
		login(t, strings.ReplaceAll(m[1], `\u0026`, "&"))
	})
	t.Run("hmac-go", func(t *testing.T) {
		t.Parallel()
		out := runExample(t, root, append(hmacEnv, "USER_EMAIL=gohmac.user@example.com"), "go", "run", "./docs/examples/go/hmac.go")
		login(t, strings.TrimSpace(out))
	})
}
