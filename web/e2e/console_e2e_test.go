package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// tmuxConsole is `gatehouse console` running in a real pseudo-terminal: a
// tmux session on its own server socket (-L), so the test never touches a
// user's tmux.
type tmuxConsole struct {
	t      *testing.T
	tmux   string
	socket string
}

func startConsole(t *testing.T, configPath string) *tmuxConsole {
	t.Helper()
	c := &tmuxConsole{t: t, tmux: RequireTool(t, "tmux"), socket: fmt.Sprintf("gatehouse-e2e-%d-%d", os.Getpid(), time.Now().UnixNano())}
	shell := fmt.Sprintf("env GATEHOUSE_CONFIG= TERM=xterm-256color %q console --config %q", Binary(t), configPath)
	c.run("new-session", "-d", "-s", "console", "-x", "80", "-y", "24", shell)
	t.Cleanup(func() { _ = exec.Command(c.tmux, "-L", c.socket, "kill-server").Run() })
	return c
}

func (c *tmuxConsole) run(args ...string) string {
	c.t.Helper()
	out, err := exec.Command(c.tmux, append([]string{"-L", c.socket}, args...)...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// keys sends tmux key names (Enter, Tab, C-s, …).
func (c *tmuxConsole) keys(keys ...string) {
	c.t.Helper()
	c.run(append([]string{"send-keys", "-t", "console"}, keys...)...)
}

// text types literally.
func (c *tmuxConsole) text(s string) {
	c.t.Helper()
	c.run("send-keys", "-t", "console", "-l", s)
}

func (c *tmuxConsole) screen() string {
	c.t.Helper()
	return c.run("capture-pane", "-p", "-t", "console")
}

// waitFor polls the screen until it shows every string.
func (c *tmuxConsole) waitFor(want ...string) string {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var scr string
	for time.Now().Before(deadline) {
		scr = c.screen()
		ok := true
		for _, w := range want {
			if !strings.Contains(scr, w) {
				ok = false
				break
			}
		}
		if ok {
			return scr
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("console never showed %q; screen:\n%s", want, scr)
	return ""
}

// capture saves the screen as docs material when GATEHOUSE_CONSOLE_CAPTURE
// names a directory (see docs/console.md).
func (c *tmuxConsole) capture(name string) {
	dir := os.Getenv("GATEHOUSE_CONSOLE_CAPTURE")
	if dir == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".txt"), []byte(c.screen()), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// TestConsoleRegistersPartnerAndKeyThatSignsIn drives `gatehouse console`
// attached to a running server: it registers a partner (secret shown once),
// uploads the partner's public key by file path, and the token signed with
// the matching private key then signs a user in over HTTP.
func TestConsoleRegistersPartnerAndKeyThatSignsIn(t *testing.T) {
	s := Start(t, "")
	s.MustAPI("POST", "/api/v1/orgs", map[string]any{"id": "acme", "name": "Acme MSSP"}, 201, nil)
	s.MustAPI("POST", "/api/v1/orgs/acme/tenants", map[string]any{"id": "t1", "name": "Tenant One",
		"redirect_url": "https://dash.example.test/t1"}, 201, nil)
	stem := filepath.Join(t.TempDir(), "console-partner")
	Run(t, "keygen", "--out", stem, "--bits", "2048")

	c := startConsole(t, s.Config)
	c.waitFor("attached to server (socket)", "organizationId  acme", "tenantId t1")
	c.capture("overview")

	c.keys("3")
	c.waitFor("no partners yet")
	c.keys("n")
	c.waitFor("Register a partner")
	c.text("Console Portal")
	c.waitFor("Console Portal", "‹e.g. example.com, example.org›") // typed text plain, hints marked
	c.capture("partner-form")
	c.keys("C-s")
	scr := c.waitFor("It will never be shown again", "consumer secret")
	c.capture("partner-secret")
	secret := regexp.MustCompile(`cs_[A-Za-z0-9_-]+`).FindString(scr)
	if secret == "" {
		t.Fatalf("no secret on screen:\n%s", scr)
	}
	c.keys("Enter")
	c.waitFor("Console Portal", "Public keys (0)")
	if strings.Contains(c.screen(), secret) {
		t.Fatal("the secret is still on screen after it was dismissed")
	}

	c.keys("a")
	c.waitFor("Add a public key to Console Portal")
	c.text(stem + ".pub")
	c.keys("Tab")
	c.text("e2e")
	c.waitFor("label       e2e")
	c.capture("key-form")
	c.keys("Enter")
	c.waitFor("key added", "Public keys (1)", "e2e")
	c.capture("partner-detail")

	// Over HTTP: the key the console uploaded signs a user in.
	token := Run(t, "sign", "--key", stem+".key", "--org", "acme", "--tenant", "t1", "--email", "ada@example.com", "--role", "admin")
	ok, err := signInOK(s, token)
	if err != nil || !ok {
		t.Fatalf("sign-in with the console-uploaded key: ok=%v err=%v\n%s", ok, err, s.Output())
	}

	// The user now exists; the console finds and shows it.
	c.keys("4")
	c.waitFor("ada@example.com")
	c.keys("/")
	c.waitFor("esc done") // the search field has the keyboard
	c.text("ada")
	c.waitFor("/ ada")
	c.keys("Enter")
	// The page line alone was on screen before the search (one user):
	// wait for the list's own help, which returns once the field lets go.
	c.waitFor("/ ada", "page 1 (1–1)", "enter open")
	c.capture("users")
	c.keys("Enter")
	c.waitFor("Partner SSO", "yes", "sessions      1 active")
	c.capture("user-profile")
	c.keys("Escape")
	c.waitFor("enter open") // back on the list before the next key (ESC then "2" at once reads as Alt+2)

	c.keys("2")
	c.waitFor("REDIRECT URL", "https://dash.example.test/t1")
	c.capture("tenants")
	c.keys("5")
	c.waitFor("key.add", "partner.create", "● live")
	c.capture("audit")
	// The request id a partner quotes finds its sign-in.
	var signins struct {
		Events []struct {
			RequestID string `json:"request_id"`
		}
	}
	s.MustAPI("GET", "/api/v1/orgs/acme/audit?type=signin.jwt", nil, 200, &signins)
	if len(signins.Events) != 1 || signins.Events[0].RequestID == "" {
		t.Fatalf("sign-in events: %+v", signins)
	}
	rid := signins.Events[0].RequestID
	c.keys("/")
	c.waitFor("enter apply")
	c.text(rid)
	c.keys("Enter")
	c.waitFor("request id "+rid, "signin.jwt", "ada@example.com")
	c.capture("audit-search")
	c.keys("Enter")
	c.waitFor("request    "+rid, "partner    Console Portal (prt_", "actor      Console Portal (partner:prt_")
	c.capture("audit-event")
	c.keys("Escape")
	c.waitFor("request id " + rid)
	c.keys("Escape")
	c.waitFor("every type · page 1 · ● live")
	// A fresh token: the one above was used, and the check reports replays.
	fresh := Run(t, "sign", "--key", stem+".key", "--org", "acme", "--tenant", "t1", "--email", "bob@example.com", "--role", "readOnly")
	c.keys("6", "Enter")
	c.text(fresh)
	c.keys("Enter")
	c.waitFor("PASS")
	c.capture("token-check")
	c.keys("7")
	c.waitFor("no admin tokens")
	c.keys("n")
	c.waitFor("New admin token")
	c.keys("Tab")
	c.text("ci-deploy")
	c.keys("C-s")
	scr = c.waitFor("It will never be shown again", "ci-deploy")
	adminToken := regexp.MustCompile(`gha_[A-Za-z0-9_-]+`).FindString(scr)
	if adminToken == "" {
		t.Fatalf("no admin token on screen:\n%s", scr)
	}
	c.capture("admin-token-created")
	c.keys("Enter")
	c.waitFor("ci-deploy", "readOnly", "LAST USED")
	if strings.Contains(c.screen(), adminToken) {
		t.Fatal("the admin token is still on screen after it was dismissed")
	}
	c.capture("admin-tokens")
	c.keys("3")
	c.waitFor("consumer key")
	c.keys("Escape")
	c.waitFor("PROVISIONING", "Console Portal")
	c.capture("partners")
	c.keys("?")
	c.waitFor("go to screen")
	c.capture("help")
	c.keys("q")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := exec.Command(c.tmux, "-L", c.socket, "has-session", "-t", "console").Run(); err != nil {
			return // the console quit and its session ended
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("q did not quit the console:\n%s", c.screen())
}

// TestConsoleOpensDatabaseDirectly: with no server, the console opens the
// database itself and says so; while another process holds the database
// (a server whose socket the console does not know), it refuses with the
// store's message instead of hanging.
func TestConsoleOpensDatabaseDirectly(t *testing.T) {
	s := Start(t, "")
	s.MustAPI("POST", "/api/v1/orgs", map[string]any{"id": "acme", "name": "Acme MSSP"}, 201, nil)

	// Same database, another socket path: nobody answers there.
	other := filepath.Join(filepath.Dir(s.Config), "other.toml")
	cfg, err := os.ReadFile(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	alt := strings.Replace(string(cfg), s.Socket, filepath.Join(filepath.Dir(s.Config), "nobody.sock"), 1)
	if err := os.WriteFile(other, []byte(alt), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := runCmd(t, "console", "--config", other)
	if err == nil || !strings.Contains(out, "opening the database directly failed") || !strings.Contains(out, "nobody.sock: no such socket") || !strings.Contains(out, "in use by another process") {
		t.Fatalf("console on a locked database: err=%v\n%s", err, out)
	}
	if time.Since(start) > 15*time.Second {
		t.Fatalf("the console waited %s for the lock", time.Since(start))
	}

	s.Stop()
	c := startConsole(t, s.Config)
	c.waitFor("database opened directly", "organizationId  acme")
	c.keys("q")
}

// TestConsoleDirectModeLetsServeStart: a console opened directly (no server)
// holds the database only while an operation runs, so `gatehouse serve`
// starts while the console is open; the console then goes through the
// server's socket and sees what the server writes.
func TestConsoleDirectModeLetsServeStart(t *testing.T) {
	s := Start(t, "")
	s.MustAPI("POST", "/api/v1/orgs", map[string]any{"id": "acme", "name": "Acme MSSP"}, 201, nil)
	s.Stop()
	c := startConsole(t, s.Config)
	c.waitFor("database opened directly", "organizationId  acme")
	time.Sleep(time.Second) // the console is idle, as an operator reading it would be
	s.StartProcess()        // fails the test if serve cannot take the database
	s.MustAPI("POST", "/api/v1/orgs/acme/tenants", map[string]any{"id": "t-after-serve", "name": "Made by the server"}, 201, nil)
	// Each key waits for the screen the one before made: two keys read
	// together must not decide whether the test passes.
	c.keys("2")
	c.waitFor("REDIRECT URL", "attached to server (socket)")
	c.keys("R")
	c.waitFor("t-after-serve", "Made by the server", "attached to server (socket)")
	c.keys("q")
}
