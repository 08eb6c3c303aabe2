package tui

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/muesli/termenv"

	"gatehouse/app"
)

// Flows through a real terminal program (teatest) for the parts of the
// console issue 14 asked for that polish_test.go checks model by model:
// colourless hints, names for IDs, focus on the named field, durations.

// colourSGR matches an SGR sequence that sets a foreground or background
// colour (30–37, 38, 40–47, 48, 90–97, 100–107).
var colourSGR = regexp.MustCompile(`\x1b\[(?:[0-9]*;)*(?:3[0-8]|4[0-8]|9[0-7]|10[0-7])(?:;[0-9]*)*m`)

// TestFlowNoColourPlaceholders: NO_COLOR (or TERM=dumb) turns colour off
// as the console starts, and then an empty field's hint is marked ‹…› and
// typed text is not, in the bytes the terminal receives.
func TestFlowNoColourPlaceholders(t *testing.T) {
	t.Cleanup(func() { lipgloss.SetColorProfile(termenv.Ascii) }) // the tests' profile
	for _, env := range []struct{ noColor, term string }{{"1", "xterm-256color"}, {"", "dumb"}} {
		t.Setenv("NO_COLOR", env.noColor)
		t.Setenv("TERM", env.term)
		lipgloss.SetColorProfile(termenv.ANSI256)
		degradeColours()
		if got := lipgloss.ColorProfile(); got != termenv.Ascii {
			t.Fatalf("NO_COLOR=%q TERM=%q: colour profile %v, want none", env.noColor, env.term, got)
		}
	}
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "xterm-256color")
	lipgloss.SetColorProfile(termenv.ANSI256)
	degradeColours()
	if lipgloss.ColorProfile() != termenv.ANSI256 {
		t.Fatal("without NO_COLOR the colour was dropped too")
	}
	lipgloss.SetColorProfile(termenv.Ascii)

	tm := startFlow(t, newService(t))
	press(tm, "2")
	waitFor(t, tm, "REDIRECT URL")
	press(tm, "n")
	out := waitFor(t, tm, "id                   ‹optional, e.g. t1›", "name                 ‹e.g. Contoso›")
	tm.Type("t9")
	out = append(out, waitFor(t, tm, "id                   t9")...)
	final := finish(t, tm)
	if strings.Contains(final, "‹t9") || !strings.Contains(final, "‹e.g. Contoso›") {
		t.Fatalf("typed text and hints look alike:\n%s", final)
	}
	raw := tm.FinalModel(t).(*Model).View()
	if loc := colourSGR.FindStringIndex(string(out) + raw); loc != nil {
		t.Fatalf("a colour sequence reached the terminal: %q", (string(out) + raw)[loc[0]:loc[1]])
	}
	golden.RequireEqual(t, []byte(final))
}

// TestFlowNamesWhereRecordsHoldIDs: the users list, a profile, the audit
// list and an event name the partner and the tenant instead of showing
// their IDs alone; a partner's sign-in names the partner as who acted.
func TestFlowNamesWhereRecordsHoldIDs(t *testing.T) {
	svc := newService(t)
	p := registerPartner(t, svc)
	signedIn(t, svc, p, "grace@example.com", "req-flow-names")
	tm := startFlow(t, svc)
	press(tm, "4")
	waitFor(t, tm, "grace@example.com", "Tenant One", "Portal")
	press(tm, "enter")
	waitFor(t, tm, "partner       Portal ("+p.ID+")", "tenant        Tenant One (t1)")
	press(tm, "esc")
	waitFor(t, tm, "enter open")
	press(tm, "5")
	// The newest event is the sign-in: Portal acted, grace signed in.
	out := stripANSI(waitFor(t, tm, "signin.jwt", "partner.create"))
	if !regexp.MustCompile(`signin\.jwt\s+Portal\s+✓\s+grace@example\.com`).MatchString(out) {
		t.Fatalf("the sign-in row does not name the partner:\n%s", out)
	}
	press(tm, "enter")
	waitFor(t, tm, "actor      Portal (partner:"+p.ID+")", "partner    Portal ("+p.ID+")", "tenant     Tenant One (t1)")
	finish(t, tm)
}

// TestFlowErrorFocusesTheNamedField: the API's validation_error names
// allowed_source_ips[2]; the cursor, left three fields further down, is
// on that field when the error shows, and the partner is not registered.
func TestFlowErrorFocusesTheNamedField(t *testing.T) {
	svc := newService(t)
	tm := startFlow(t, svc)
	press(tm, "3")
	waitFor(t, tm, "no partners yet")
	press(tm, "n")
	waitFor(t, tm, "Register a partner")
	tm.Type("Portal")
	press(tm, "tab", "tab")
	tm.Type("10.0.0.0/8, 192.0.2.1, nonsense")
	press(tm, "tab", "tab", "tab")
	waitFor(t, tm, "› allowed tenants")
	press(tm, "ctrl+s")
	waitFor(t, tm, "✗ validation_error: allowed_source_ips[2]: not an IP or CIDR", "› allowed source IPs")
	final := finish(t, tm)
	if strings.Contains(final, "› allowed tenants") {
		t.Fatalf("the cursor stayed where it was:\n%s", final)
	}
	golden.RequireEqual(t, []byte(final))
	if ps, _ := svc.ListPartners(t.Context(), app.Console, "acme", nil); len(ps) != 0 {
		t.Fatal("registered despite the error")
	}
}

// TestFlowRotateGraceAsDuration: the grace period is typed as in the
// config file; 169h is refused by name before any call, 90m rotates with
// the old secret valid 90 minutes more.
func TestFlowRotateGraceAsDuration(t *testing.T) {
	svc := newService(t)
	p := registerPartner(t, svc)
	tm := startFlow(t, svc)
	press(tm, "3")
	waitFor(t, tm, "Portal")
	press(tm, "enter")
	waitFor(t, tm, "Public keys (0)")
	press(tm, "r")
	waitFor(t, tm, "grace period  24h")
	press(tm, "ctrl+u")
	tm.Type("169h")
	press(tm, "ctrl+s")
	waitFor(t, tm, "✗ validation_error: grace_period: must be a duration from 0 to 168h", "grace period  169h")
	if got, _ := svc.GetPartner(t.Context(), app.Console, "acme", p.ID); got.PreviousValidUntil != nil {
		t.Fatal("a refused grace period rotated the secret")
	}
	press(tm, "ctrl+u")
	tm.Type("90m")
	press(tm, "ctrl+s")
	until := fixedNow.Add(90 * time.Minute)
	waitFor(t, tm, "Consumer secret rotated", "keeps working until "+fmtTime(until)+" UTC")
	press(tm, "enter")
	waitFor(t, tm, "Public keys (0)")
	finish(t, tm)
	got, _ := svc.GetPartner(t.Context(), app.Console, "acme", p.ID)
	if got.PreviousValidUntil == nil || !got.PreviousValidUntil.Equal(until) {
		t.Fatalf("previous secret valid until %v, want %v", got.PreviousValidUntil, until)
	}
}

// TestFlowCopyKeysSendOSC52: in a running console the copy keys put the
// consumer secret, the consumer key and the IDs on the clipboard, each as
// one OSC 52 sequence, and the status line never repeats the secret.
func TestFlowCopyKeysSendOSC52(t *testing.T) {
	svc := newService(t)
	m := newModel(svc)
	clip := clipOf(t, m)
	tm := startFlowWith(t, m, 80, 24)
	copied := func(key, confirm, want string) {
		t.Helper()
		before := clip.String()
		press(tm, key)
		waitFor(t, tm, confirm)
		if got := strings.TrimPrefix(clip.String(), before); got != wantOSC52(want) {
			t.Fatalf("%s: clipboard got %q, want the sequence for %q", key, got, want)
		}
	}
	copied("c", "organization id acme copied", "acme")
	press(tm, "3")
	waitFor(t, tm, "no partners yet")
	press(tm, "n")
	waitFor(t, tm, "Register a partner")
	tm.Type("Portal")
	press(tm, "ctrl+s")
	out := stripANSI(waitFor(t, tm, "It will never be shown again"))
	secret := regexp.MustCompile(`cs_[A-Za-z0-9_-]+`).FindString(out)
	ck := regexp.MustCompile(`ck_[A-Za-z0-9_-]+`).FindString(out)
	if secret == "" || ck == "" {
		t.Fatalf("no secret or consumer key on screen:\n%s", out)
	}
	copied("c", "the consumer secret copied", secret)
	copied("C", "consumer key "+ck+" copied", ck)
	press(tm, "enter")
	waitFor(t, tm, "Public keys (0)")
	ps, _ := svc.ListPartners(t.Context(), app.Console, "acme", nil)
	if len(ps) != 1 {
		t.Fatalf("partners: %+v", ps)
	}
	copied("c", "partner id "+ps[0].ID+" copied", ps[0].ID)
	press(tm, "2")
	waitFor(t, tm, "REDIRECT URL")
	copied("c", "tenant id t1 copied", "t1")
	final := finish(t, tm)
	if strings.Contains(final, secret) {
		t.Fatalf("the secret is on screen after it was dismissed:\n%s", final)
	}
	if strings.Contains(m.s.info, secret) {
		t.Fatal("the status line holds the secret")
	}
}
