package tui

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"

	"gatehouse/app"
)

// Whole flows through a real tea.Program (teatest) at 80×24 over a real
// service on the memory store, with a fixed clock and random source; the
// final screen is compared with a golden file (go test ./tui -update).

// startFlow runs the console over svc at 80×24 and waits for its first
// screen, showing also what also names.
func startFlow(t *testing.T, svc *app.Service, also ...string) *teatest.TestModel {
	t.Helper()
	return startFlowWith(t, newModel(svc), 80, 24, also...)
}

// startFlowWith runs m at w×h and waits for its first screen, showing also
// what also names: in one wait, because the screen is drawn by changed
// lines, so a second wait would miss what the first frame already drew.
func startFlowWith(t *testing.T, m *Model, w, h int, also ...string) *teatest.TestModel {
	t.Helper()
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h))
	waitFor(t, tm, append([]string{"organizationId"}, also...)...)
	return tm
}

// waitFor waits until the screen output contains every string.
func waitFor(t *testing.T, tm *teatest.TestModel, want ...string) []byte {
	t.Helper()
	var seen []byte
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		seen = b
		plain := stripANSI(b)
		for _, w := range want {
			if !strings.Contains(plain, w) {
				return false
			}
		}
		return true
	}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
	return seen
}

func stripANSI(b []byte) string { return ansi.Strip(string(b)) }

func press(tm *teatest.TestModel, ks ...string) {
	for _, k := range ks {
		tm.Send(keyMsg(k))
	}
}

// finish quits and returns the final screen as plain text.
func finish(t *testing.T, tm *teatest.TestModel) string {
	t.Helper()
	tm.Send(tea.Quit())
	m := tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(*Model)
	return ansi.Strip(m.View())
}

func TestFlowRegisterPartnerShowsSecretOnce(t *testing.T) {
	svc := newService(t)
	tm := startFlow(t, svc)
	press(tm, "3")
	waitFor(t, tm, "no partners yet")
	press(tm, "n")
	waitFor(t, tm, "Register a partner")
	tm.Type("Acme Portal")
	press(tm, "down")
	tm.Type("example.com")
	press(tm, "ctrl+s")
	out := waitFor(t, tm, "It will never be shown again", "consumer secret")
	secret := regexp.MustCompile(`cs_[A-Za-z0-9_-]+`).FindString(stripANSI(out))
	if secret == "" {
		t.Fatalf("no consumer secret on screen:\n%s", stripANSI(out))
	}
	press(tm, "enter")
	waitFor(t, tm, "Public keys (0)")
	final := finish(t, tm)
	if strings.Contains(final, secret) || strings.Contains(final, "cs_") {
		t.Fatalf("the secret is still on screen after it was dismissed:\n%s", final)
	}
	golden.RequireEqual(t, []byte(final))

	ps, err := svc.ListPartners(context.Background(), app.Console, "acme", nil)
	if err != nil || len(ps) != 1 || ps[0].Name != "Acme Portal" || ps[0].AllowedEmailDomains[0] != "example.com" {
		t.Fatalf("partner not registered as typed: %+v %v", ps, err)
	}
}

func registerPartner(t *testing.T, svc *app.Service) app.PartnerView {
	t.Helper()
	p, err := svc.CreatePartner(context.Background(), app.Operator, "acme", app.PartnerInput{Name: "Portal"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFlowUploadPEMKey(t *testing.T) {
	svc := newService(t)
	p := registerPartner(t, svc)
	pemText := testPEM(t)
	tm := startFlow(t, svc)
	press(tm, "3")
	waitFor(t, tm, "Portal")
	press(tm, "enter")
	waitFor(t, tm, "Public keys (0)")
	press(tm, "a")
	waitFor(t, tm, "Add a public key to Portal")
	// A bracketed paste, as a terminal delivers it.
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(pemText), Paste: true})
	press(tm, "tab")
	tm.Type("rotation 1")
	press(tm, "enter")
	waitFor(t, tm, "Public keys (1)", "key added")
	final := finish(t, tm)
	golden.RequireEqual(t, []byte(final))

	keys, err := svc.ListKeys(context.Background(), app.Console, "acme", p.ID)
	if err != nil || len(keys) != 1 || keys[0].Bits != 2048 || keys[0].Label != "rotation 1" {
		t.Fatalf("key not stored: %+v %v", keys, err)
	}
}

func TestFlowInvalidPEMShowsAPIMessage(t *testing.T) {
	svc := newService(t)
	p := registerPartner(t, svc)
	// The message the service gives for this input, whatever its wording.
	_, want := svc.AddKey(context.Background(), app.Console, "acme", p.ID, app.KeyInput{PEM: "not a key"})
	apiErr := app.AsError(want)
	if apiErr.Code != app.CodeValidation {
		t.Fatalf("service accepted an invalid PEM: %v", want)
	}
	tm := startFlow(t, svc)
	press(tm, "3")
	waitFor(t, tm, "Portal")
	press(tm, "enter", "a")
	waitFor(t, tm, "Add a public key")
	tm.Type("not a key")
	press(tm, "ctrl+s")
	waitFor(t, tm, "✗ "+apiErr.Code+": "+apiErr.Message)
	final := finish(t, tm)
	golden.RequireEqual(t, []byte(final))
	if keys, _ := svc.ListKeys(context.Background(), app.Console, "acme", p.ID); len(keys) != 0 {
		t.Fatalf("an invalid key was stored: %+v", keys)
	}
}

func TestFlowSearchAmongThousandsAndDelete(t *testing.T) {
	svc := newService(t)
	seedUsers(t, svc, 5000)
	ctx := context.Background()
	target, err := svc.CreateUser(ctx, app.Operator, "acme", app.UserInput{Email: "ada.lovelace@example.com", Name: "Ada Lovelace",
		TenantID: "t2", Role: "admin", PartnerSSO: true})
	if err != nil {
		t.Fatal(err)
	}
	tm := startFlow(t, svc, "5001 users")
	press(tm, "4")
	waitFor(t, tm, "user00001@example.com", "page 1 (1–100) · ] next")
	press(tm, "]")
	waitFor(t, tm, "page 2 (101–200)")
	press(tm, "/")
	tm.Type("lovel")
	// The only match; its row may already be on screen from an earlier
	// keystroke's answer, so wait for the page line, which changes.
	waitFor(t, tm, "page 1 (1–1)")
	press(tm, "enter")
	waitFor(t, tm, "enter open")
	press(tm, "enter")
	waitFor(t, tm, "Partner SSO", "sessions      0 active")
	press(tm, "d")
	waitFor(t, tm, "Delete user Ada Lovelace <ada.lovelace@example.com>", "("+target.ID+")?")
	press(tm, "y")
	waitFor(t, tm, "user ada.lovelace@example.com deleted")
	final := finish(t, tm)
	golden.RequireEqual(t, []byte(final))
	if _, err := svc.GetUser(ctx, app.Console, "acme", target.ID); app.ErrorCode(err) != app.CodeNotFound {
		t.Fatalf("user still there: %v", err)
	}
	list, _ := svc.ListUsers(ctx, app.Console, "acme", "", "", 500, "")
	if len(list.Users) != 500 || !bytes.Contains([]byte(list.NextCursor), []byte{}) {
		t.Fatalf("the other users were touched")
	}
}
