package tui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"gatehouse/app"
)

func TestOverviewShowsIDsCountsAndHealth(t *testing.T) {
	_, d := driveWithUsers(t, 3)
	v := d.view()
	t.Log("\n" + v)
	contains(t, v, "organizationId  acme", "tenantId t1", "tenantId t2", "2 tenants · 0 partners (0 active) · 0 keys · 3 users",
		"database ok", "version v-test", ModeDirect)
}

func TestOverviewCreatesFirstOrganization(t *testing.T) {
	svc := newService(t)
	d := drive(t, newModel(svc))
	d.keys("o")
	contains(t, d.view(), "New organization")
	d.typeText("beta")
	d.keys("tab")
	d.typeText("Beta MSSP")
	d.keys("enter")
	contains(t, d.view(), "organization beta created")
	orgs, _ := svc.ListOrgs(t.Context(), app.Console)
	if len(orgs) != 2 {
		t.Fatalf("orgs = %+v", orgs)
	}
	if d.m.s.org != "beta" {
		t.Fatalf("console did not switch to the new organization: %q", d.m.s.org)
	}
}

func TestRootKeysSwitchScreensToggleHelpAndQuit(t *testing.T) {
	d := drive(t, newModel(newService(t)))
	d.keys("tab")
	if d.m.active != 1 {
		t.Fatalf("tab: active = %d", d.m.active)
	}
	d.keys("shift+tab", "shift+tab")
	if d.m.active != len(d.m.screens)-1 {
		t.Fatalf("shift+tab: active = %d", d.m.active)
	}
	d.keys("4")
	if d.m.active != 3 {
		t.Fatalf("4: active = %d", d.m.active)
	}
	d.keys("?")
	contains(t, d.view(), "next screen", "go to screen")
	d.keys("?")
	if strings.Contains(d.view(), "go to screen") {
		t.Fatal("? did not close the full help")
	}
	// While a text field has focus, q and digits are text, not commands.
	d.keys("/")
	d.typeText("q1")
	if d.m.quit || d.m.active != 3 {
		t.Fatal("typing q1 in the search quit or switched screens")
	}
	d.keys("esc", "q")
	if !d.m.quit {
		t.Fatal("q did not quit")
	}
}

func TestResizeKeepsEveryLineInside(t *testing.T) {
	d := drive(t, newModel(newService(t)))
	for _, size := range [][2]int{{80, 24}, {120, 40}, {60, 15}, {80, 24}} {
		d.send(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		for i := range d.m.screens {
			d.keys(string(rune('1' + i)))
			lines := strings.Split(d.m.View(), "\n")
			if len(lines) != size[1] {
				t.Fatalf("%dx%d screen %d: %d lines", size[0], size[1], i+1, len(lines))
			}
			for _, l := range lines {
				if w := ansi.StringWidth(l); w > size[0] {
					t.Fatalf("%dx%d screen %d: line %q is %d wide", size[0], size[1], i+1, l, w)
				}
			}
		}
	}
}

func TestFullHelpFitsEveryScreenAt80(t *testing.T) {
	d := drive(t, newModel(newService(t)))
	registerPartner(t, d.m.s.admin.(*app.Service))
	d.keys("?")
	check := func(name string) {
		t.Helper()
		h := ansi.Strip(d.m.help.View(d.m.screens[d.m.active].keys()))
		if strings.Contains(h, "…") || !strings.Contains(h, "go to screen") {
			t.Fatalf("%s: full help cut off at 80 columns:\n%s", name, h)
		}
	}
	for i := range d.m.screens {
		d.keys(string(rune('1' + i)))
		check(d.m.screens[i].title())
	}
	d.keys("3", "enter")
	check("partner detail")
}

// TestKeysReadTogetherActInTurn: keys that reach the console in one read
// (typed ahead, a slow link, tmux send-keys) come as one message of several
// runes; each acts as if pressed alone, and once one opens a field the rest
// is typed into it. A long unmarked burst is a paste, never commands.
func TestKeysReadTogetherActInTurn(t *testing.T) {
	svc, d := driveWithUsers(t, 3)
	runes := func(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

	d.send(runes("2n"))
	if d.m.active != 1 {
		t.Fatalf(`"2n": active = %d`, d.m.active)
	}
	contains(t, d.view(), "name                 ‹e.g. Contoso›")
	d.keys("esc")

	d.send(runes("4/0002"))
	if d.m.active != 3 {
		t.Fatalf(`"4/0002": active = %d`, d.m.active)
	}
	contains(t, d.view(), "/ 0002", "user00002@example.com")
	if strings.Contains(d.view(), "user00001@example.com") {
		t.Fatalf(`"4/0002" did not search for 0002:`+"\n%s", d.view())
	}
	d.keys("esc", "esc")

	// On the user list d asks to delete and y confirms: pasted without
	// bracketed paste, "ddddyyyyy" must do neither.
	d.send(runes("ddddyyyyy"))
	if strings.Contains(d.view(), "Delete user") {
		t.Fatalf("a long burst ran as commands:\n%s", d.view())
	}
	if userCount(t, svc) != 3 {
		t.Fatal("a long burst deleted a user")
	}
	// A marked paste is text, never keys.
	d.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("dy"), Paste: true})
	if strings.Contains(d.view(), "Delete user") {
		t.Fatalf("a paste ran as commands:\n%s", d.view())
	}

	d.send(runes("2q"))
	if d.m.active != 1 || !d.m.quit {
		t.Fatalf(`"2q": active = %d, quit = %v`, d.m.active, d.m.quit)
	}
}

// TestDocsNameEveryKeyTheHelpShows: every key the `?` help shows on a
// screen is in docs/console.md, in the screen's row of the key table or
// among the keys that work everywhere, forms and confirmations included.
func TestDocsNameEveryKeyTheHelpShows(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "docs", "console.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	start, end := strings.Index(doc, "Everywhere"), strings.Index(doc, "| screen | keys |")
	if start < 0 || end < start {
		t.Fatal("docs/console.md: no key map (Everywhere … | screen | keys |)")
	}
	everywhere := doc[start:end]
	row := func(name string) string {
		for _, l := range strings.Split(doc[end:], "\n") {
			if strings.HasPrefix(l, "| "+name+" |") {
				return l
			}
		}
		t.Fatalf("docs/console.md: no key map row for %s", name)
		return ""
	}
	glyph := map[string]string{"up": "↑", "down": "↓"}
	check := func(d *driver, name string) {
		t.Helper()
		text := everywhere + row(name)
		for _, group := range d.m.screens[d.m.active].keys().FullHelp() {
			for _, b := range group {
				found := false
				for _, k := range b.Keys() {
					if g, ok := glyph[k]; ok {
						k = g
					}
					found = found || strings.Contains(text, "`"+k+"`")
				}
				if !found {
					t.Errorf("%s: the help shows %q (%s), docs/console.md does not", name, b.Help().Key, b.Help().Desc)
				}
			}
		}
	}
	svc, d := driveWithUsers(t, 1)
	registerPartner(t, svc)
	for i, name := range []string{"Overview", "Tenants", "Partners", "Users", "Audit", "Token check", "Admin tokens"} {
		d.keys(string(rune('1'+i)), "R")
		check(d, name)
	}
	for _, state := range []struct {
		name string
		keys []string
	}{
		{"Partner detail", []string{"3", "enter"}},
		{"Partners", []string{"esc", "n"}}, // a form
		{"Partners", []string{"esc", "t"}}, // a confirmation
		{"Users", []string{"n", "4", "enter"}},
		{"Users", []string{"esc", "/"}},
		{"Audit", []string{"esc", "esc", "5", "enter"}},
		{"Audit", []string{"esc", "/"}},
		{"Token check", []string{"esc", "6", "enter"}},
		{"Admin tokens", []string{"esc", "7", "n"}},
	} {
		d.keys(state.keys...)
		check(d, state.name)
	}
}
