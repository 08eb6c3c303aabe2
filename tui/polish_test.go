package tui

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/muesli/termenv"

	"gatehouse/app"
	"gatehouse/web"
	"gatehouse/web/client"
)

// wantOSC52 is the sequence a terminal reads as "put text on the clipboard",
// spelled out here rather than taken from the library the console uses.
func wantOSC52(text string) string {
	return "\x1b]52;c;" + base64.StdEncoding.EncodeToString([]byte(text)) + "\a"
}

func clipOf(t *testing.T, m *Model) *clipboard {
	t.Helper()
	c, ok := m.s.clipboard.(*clipboard)
	if !ok {
		t.Fatal("the test model has no recording clipboard")
	}
	return c
}

// TestPlaceholdersReadAsHintsWithoutColour: with no colour (the ascii
// profile NO_COLOR selects), an empty field's placeholder is marked ‹…› and
// typed text is not, so the two never look alike.
func TestPlaceholdersReadAsHintsWithoutColour(t *testing.T) {
	if lipgloss.ColorProfile() != termenv.Ascii {
		t.Fatalf("tests render with the ascii profile, got %v", lipgloss.ColorProfile())
	}
	d := drive(t, newModel(newService(t)))
	d.keys("2", "n")
	v := d.view()
	contains(t, v, "id                   ‹optional, e.g. t1›", "name                 ‹e.g. Contoso›")
	d.typeText("t9")
	v = d.view()
	if !strings.Contains(v, "id                   t9") || strings.Contains(v, "‹t9") {
		t.Fatalf("typed text is shown like a placeholder:\n%s", v)
	}
	if !strings.Contains(v, "‹e.g. Contoso›") {
		t.Fatalf("the untouched field lost its hint:\n%s", v)
	}
	// The colourless screen carries no colour sequences: the marks do the work.
	if raw := d.m.View(); regexp.MustCompile(`\x1b\[[0-9;]*3[0-9];`).MatchString(raw) {
		t.Fatalf("colour sequences under the ascii profile: %q", raw)
	}
	degradeColours() // with NO_COLOR unset in tests this must not turn colour on
	if lipgloss.ColorProfile() != termenv.Ascii {
		t.Fatal("degradeColours changed the profile")
	}
}

// TestCopyKeysWriteOSC52: the consumer secret and key right after
// registration, the organization, tenant and partner IDs, each land on the
// clipboard as exactly one OSC 52 sequence, with a confirmation that does not
// repeat a secret.
func TestCopyKeysWriteOSC52(t *testing.T) {
	svc := newService(t)
	d := drive(t, newModel(svc))
	clip := clipOf(t, d.m)

	d.keys("c")
	if got := clip.String(); got != wantOSC52("acme") {
		t.Fatalf("org id: clipboard got %q", got)
	}
	contains(t, d.view(), "✓ organization id acme copied to the clipboard")

	d.keys("2", "down", "c")
	if got := clip.String(); got != wantOSC52("acme")+wantOSC52("t2") {
		t.Fatalf("tenant id: clipboard got %q", got)
	}

	d.keys("3", "n")
	d.typeText("Portal")
	d.keys("ctrl+s")
	p := d.m.screens[2].(*partners)
	if p.secret == nil {
		t.Fatalf("no secret view:\n%s", d.view())
	}
	secret, ck := p.secret.secret, p.secret.consumerKey
	before := clip.String()
	d.keys("c")
	if got := strings.TrimPrefix(clip.String(), before); got != wantOSC52(secret) {
		t.Fatalf("secret: clipboard got %q", got)
	}
	v := d.view()
	contains(t, v, "✓ the consumer secret copied to the clipboard", "c to copy the secret")
	if strings.Count(v, secret) != 1 {
		t.Fatalf("the secret appears other than once in its box:\n%s", v)
	}
	before = clip.String()
	d.keys("C")
	if got := strings.TrimPrefix(clip.String(), before); got != wantOSC52(ck) {
		t.Fatalf("consumer key: clipboard got %q", got)
	}
	d.keys("enter")
	if d.m.s.info != "" && strings.Contains(d.m.s.info, secret) {
		t.Fatal("the status line holds the secret")
	}
	before = clip.String()
	d.keys("c")
	pv, _ := svc.ListPartners(t.Context(), app.Console, "acme", nil)
	if got := strings.TrimPrefix(clip.String(), before); got != wantOSC52(pv[0].ID) {
		t.Fatalf("partner id: clipboard got %q", got)
	}
	contains(t, d.view(), "partner id "+pv[0].ID+" copied")
}

// TestErrorMovesFocusToTheNamedField: the API names the field in a
// validation_error; the cursor goes there.
func TestErrorMovesFocusToTheNamedField(t *testing.T) {
	svc := newService(t)
	d := drive(t, newModel(svc))
	d.registerForm("Portal", "10.0.0.0/8, 192.0.2.1, nonsense")
	d.keys("tab", "tab", "tab", "tab") // the cursor is far from the bad field
	d.keys("ctrl+s")
	p := d.m.screens[2].(*partners)
	contains(t, d.view(), "✗ validation_error: allowed_source_ips[2]: not an IP or CIDR")
	if p.form == nil || p.form.fields[p.form.focus].label != "allowed source IPs" {
		t.Fatalf("focus on %q, not on the field the error names", p.form.fields[p.form.focus].label)
	}
	contains(t, d.view(), "› allowed source IPs")

	// Another form, another field: the tenant's redirect URL.
	d.keys("esc", "2", "n", "tab")
	d.typeText("Named")
	d.keys("tab")
	d.typeText("ftp://nowhere.example")
	d.keys("shift+tab", "shift+tab")
	d.keys("ctrl+s")
	tn := d.m.screens[1].(*tenants)
	if tn.form == nil || !strings.HasPrefix(d.m.s.err.Message, "redirect_url") {
		t.Fatalf("an invalid redirect URL was not refused by name:\n%s", d.view())
	}
	if got := tn.form.fields[tn.form.focus].label; got != "redirect URL" {
		t.Fatalf("focus on %q after %q", got, d.m.s.err.Message)
	}
}

// TestRotateGraceTypedAsDuration: the grace period reads like the config
// file ("90m"); 0..168h, anything else is refused before any call.
func TestRotateGraceTypedAsDuration(t *testing.T) {
	svc := newService(t)
	pv := registerPartner(t, svc)
	d := drive(t, newModel(svc))
	d.keys("3", "enter", "r")
	contains(t, d.view(), "grace period  24h")
	for _, bad := range []string{"169h", "-1m", "soon", "86400"} {
		for range 8 {
			d.keys("backspace")
		}
		d.typeText(bad)
		d.keys("ctrl+s")
		contains(t, d.view(), "✗ validation_error: grace_period: must be a duration from 0 to 168h")
	}
	got, _ := svc.GetPartner(t.Context(), app.Console, "acme", pv.ID)
	if got.PreviousValidUntil != nil {
		t.Fatalf("a refused grace period rotated the secret")
	}
	for range 8 {
		d.keys("backspace")
	}
	d.typeText("90m")
	d.keys("ctrl+s")
	want := fixedNow.Add(90 * time.Minute)
	contains(t, d.view(), "keeps working until "+fmtTime(want))
	got, _ = svc.GetPartner(t.Context(), app.Console, "acme", pv.ID)
	if got.PreviousValidUntil == nil || !got.PreviousValidUntil.Equal(want) {
		t.Fatalf("previous valid until %v, want %v", got.PreviousValidUntil, want)
	}
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{{24 * time.Hour, "24h"}, {90 * time.Minute, "1h30m"}, {0, "0s"}, {168 * time.Hour, "168h"}, {45 * time.Second, "45s"}} {
		if got := fmtDuration(tc.d); got != tc.want {
			t.Errorf("fmtDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
		if back, err := parseGrace("g", fmtDuration(tc.d)); err != nil || back != tc.d {
			t.Errorf("parseGrace(%q) = %v, %v", fmtDuration(tc.d), back, err)
		}
	}
}

// signedIn signs a user in through partner p with a key made here, so the
// audit log holds a sign-in with a request id, an email and a partner.
func signedIn(t *testing.T, svc *app.Service, p app.PartnerView, email, requestID string) {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	k, err := svc.AddKey(t.Context(), app.Operator, "acme", p.ID, app.KeyInput{PEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := app.SignToken(priv, k.Kid, app.NewTokenClaims("acme", "t1", email, "admin", "Grace Hopper", fixedNow, 5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SignInJWT(t.Context(), app.JWTSignIn{Token: tok, ClientIP: "192.0.2.7", RequestID: requestID}); err != nil {
		t.Fatal(err)
	}
}

// TestNamesWhereRecordsHoldIDs: users and audit show the partner's and the
// tenant's names, with the IDs where there is room.
func TestNamesWhereRecordsHoldIDs(t *testing.T) {
	svc := newService(t)
	p := registerPartner(t, svc)
	signedIn(t, svc, p, "grace@example.com", "req-names-1")
	d := drive(t, newModel(svc))
	d.keys("4")
	contains(t, d.view(), "grace@example.com", "Tenant One", "Portal")
	d.keys("enter")
	contains(t, d.view(), "partner       Portal ("+p.ID+")", "tenant        Tenant One (t1)")
	d.keys("esc", "5")
	contains(t, d.view(), "signin.jwt")
	d.keys("enter")
	contains(t, d.view(), "partner    Portal ("+p.ID+")", "tenant     Tenant One (t1)", "request    req-names-1")
	clip := clipOf(t, d.m)
	d.keys("c")
	if clip.String() != wantOSC52("req-names-1") {
		t.Fatalf("request id copy: %q", clip.String())
	}
}

// TestAuditSearchByRequestIDEmailOrPartner: one search field, three kinds
// of answer, each through the API's own filter.
func TestAuditSearchByRequestIDEmailOrPartner(t *testing.T) {
	svc := newService(t)
	p := registerPartner(t, svc)
	other, err := svc.CreatePartner(t.Context(), app.Operator, "acme", app.PartnerInput{Name: "Other Portal"})
	if err != nil {
		t.Fatal(err)
	}
	signedIn(t, svc, p, "grace@example.com", "req-search-1")
	signedIn(t, svc, other, "alan@example.com", "req-search-2")
	d := drive(t, newModel(svc))
	d.keys("5")
	a := d.m.screens[4].(*audit)
	search := func(q string) {
		t.Helper()
		d.keys("/")
		d.typeText(q)
		d.keys("enter")
	}
	search("req-search-2")
	contains(t, d.view(), "request id req-search-2")
	if len(a.events) != 1 || a.events[0].Email != "alan@example.com" {
		t.Fatalf("request id search: %+v", a.events)
	}
	d.keys("esc")
	search("GRACE@example.com")
	contains(t, d.view(), "email GRACE@example.com")
	if len(a.events) == 0 {
		t.Fatal("email search found nothing")
	}
	for _, e := range a.events {
		if !strings.EqualFold(e.Email, "grace@example.com") {
			t.Fatalf("email search returned %+v", e)
		}
	}
	d.keys("esc")
	search("other") // the only partner whose name contains it
	contains(t, d.view(), "partner Other Portal ("+other.ID+")")
	if len(a.events) == 0 {
		t.Fatal("partner search found nothing")
	}
	for _, e := range a.events {
		if e.PartnerID != other.ID {
			t.Fatalf("partner search returned %+v", e)
		}
	}
	d.keys("esc")
	search(p.ID)
	contains(t, d.view(), "partner Portal ("+p.ID+")")
	d.keys("esc")
	contains(t, d.view(), "every type")
}

// TestFlowAuditLiveTail: events appear without a key while the cursor rests
// on the newest; scrolling pauses the tail, g resumes it.
func TestFlowAuditLiveTail(t *testing.T) {
	svc := newService(t)
	registerPartner(t, svc)
	o := testOptions(svc)
	o.Refresh = 40 * time.Millisecond
	m := New(o)
	tm := startFlowWith(t, m, 80, 24)
	press(tm, "5")
	waitFor(t, tm, "partner.create", "● live")
	mustDo(t, func() error {
		_, err := svc.CreateTenant(context.Background(), app.Operator, "acme", app.TenantInput{ID: "t-live", Name: "Arrived Live"})
		return err
	})
	waitFor(t, tm, "t-live") // no key pressed
	press(tm, "down")
	waitFor(t, tm, "‖ paused")
	mustDo(t, func() error {
		_, err := svc.CreateTenant(context.Background(), app.Operator, "acme", app.TenantInput{ID: "t-late", Name: "Came While Paused"})
		return err
	})
	time.Sleep(10 * m.s.refresh)
	if a := m.screens[4].(*audit); len(a.events) > 0 && a.events[0].Details["target"] == "t-late" {
		t.Fatal("the tail moved while the operator was scrolling")
	}
	press(tm, "g")
	waitFor(t, tm, "t-late", "● live")
	final := finish(t, tm)
	if !strings.Contains(final, "t-late") {
		t.Fatalf("final screen:\n%s", final)
	}
}

// TestFlowTablesUseTheWidth: the same users screen at 80 and 140 columns;
// the wide one gives the room to the columns and shows whole emails.
func TestFlowTablesUseTheWidth(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {140, 30}} {
		t.Run(strconv.Itoa(size[0])+"x"+strconv.Itoa(size[1]), func(t *testing.T) {
			svc := newService(t)
			p := registerPartner(t, svc)
			signedIn(t, svc, p, "grace.brewster.murray.hopper@navy.example.com", "req-width-1")
			seedUsers(t, svc, 3)
			tm := startFlowWith(t, newModel(svc), size[0], size[1])
			press(tm, "4")
			waitFor(t, tm, "user00003@example.com", "PARTNER")
			final := finish(t, tm)
			for _, l := range strings.Split(final, "\n") {
				if n := len([]rune(l)); n > size[0] {
					t.Fatalf("line wider than %d: %q", size[0], l)
				}
			}
			whole := strings.Contains(final, "grace.brewster.murray.hopper@navy.example.com")
			if whole != (size[0] == 140) {
				t.Fatalf("at %d columns the long email whole=%v:\n%s", size[0], whole, final)
			}
			golden.RequireEqual(t, []byte(final))
		})
	}
}

// TestFlowAdminTokens: create (the token shown once, with a copy key),
// list, delete with a confirmation; the token is real: the service accepts
// it until it is deleted.
func TestFlowAdminTokens(t *testing.T) {
	svc := newService(t)
	m := newModel(svc)
	tm := startFlowWith(t, m, 80, 24)
	press(tm, "7")
	waitFor(t, tm, "no admin tokens")
	press(tm, "n")
	waitFor(t, tm, "New admin token", "‹who or what uses it, e.g. ci-deploy›")
	press(tm, "tab")
	tm.Type("ci-deploy")
	press(tm, "ctrl+s")
	out := waitFor(t, tm, "It will never be shown again")
	token := regexp.MustCompile(`gha_[A-Za-z0-9_-]{43}`).FindString(stripANSI(out))
	if token == "" {
		t.Fatalf("no token on screen:\n%s", stripANSI(out))
	}
	press(tm, "c")
	waitFor(t, tm, "the admin token copied to the clipboard")
	if got := clipOf(t, m).String(); got != wantOSC52(token) {
		t.Fatalf("clipboard %q", got)
	}
	if actor, err := svc.AuthenticateAdminToken(context.Background(), "Bearer "+token); err != nil || actor.Role != "readOnly" {
		t.Fatalf("the shown token does not authenticate: %+v %v", actor, err)
	}
	press(tm, "enter")
	waitFor(t, tm, "ci-deploy", "readOnly", "LAST USED")
	list, _ := svc.ListAdminTokens(context.Background(), app.Console, "acme")
	if len(list) != 1 || list[0].Label != "ci-deploy" {
		t.Fatalf("tokens = %+v", list)
	}
	press(tm, "n")
	waitFor(t, tm, "New admin token")
	press(tm, "ctrl+u")
	tm.Type("root")
	press(tm, "ctrl+s")
	waitFor(t, tm, "✗ validation_error: role: must be admin or readOnly")
	press(tm, "esc")
	waitFor(t, tm, "LAST USED")
	press(tm, "d")
	waitFor(t, tm, `Delete admin token "ci-deploy"`)
	press(tm, "y")
	waitFor(t, tm, "admin token ci-deploy deleted", "no admin tokens")
	final := finish(t, tm)
	if strings.Contains(final, "gha_") {
		t.Fatalf("a token value is still on screen:\n%s", final)
	}
	golden.RequireEqual(t, []byte(final))
	if _, err := svc.AuthenticateAdminToken(context.Background(), "Bearer "+token); err == nil {
		t.Fatal("a deleted token still authenticates")
	}
}

// socketServer serves svc's admin API on a Unix socket, as `gatehouse
// serve` does; stop closes it and start opens it again on the same path.
type socketServer struct {
	t    *testing.T
	path string
	h    http.Handler
	srv  *http.Server
}

func newSocketServer(t *testing.T, svc *app.Service) *socketServer {
	t.Helper()
	ws, err := web.New(web.Options{Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	h, err := ws.AdminHandler(web.OperatorAuth)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "ghtui") // short: socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &socketServer{t: t, path: filepath.Join(dir, "admin.sock"), h: h}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *socketServer) start() {
	ln, err := net.Listen("unix", s.path)
	if err != nil {
		s.t.Fatal(err)
	}
	s.srv = &http.Server{Handler: s.h}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.t.Error(err)
		}
	}()
}

func (s *socketServer) stop() {
	if s.srv != nil {
		_ = s.srv.Close()
		s.srv = nil
		_ = os.Remove(s.path)
	}
}

// TestFlowSocketStatusNoticesServerGoingAway: over the socket, the status
// bar says when the server stops answering and recovers when it is back;
// the admin tokens screen works through the socket client.
func TestFlowSocketStatusNoticesServerGoingAway(t *testing.T) {
	svc := newService(t)
	if _, err := svc.CreateAdminToken(t.Context(), app.Operator, "acme", app.AdminTokenInput{Role: "admin", Label: "over-the-socket"}); err != nil {
		t.Fatal(err)
	}
	srv := newSocketServer(t, svc)
	o := testOptions(client.New(srv.path))
	o.Actor, o.Mode, o.Refresh = app.Operator, ModeSocket, 50*time.Millisecond
	m := New(o)
	tm := startFlowWith(t, m, 80, 24, ModeSocket)
	press(tm, "7")
	waitFor(t, tm, "over-the-socket", "admin")
	srv.stop()
	waitFor(t, tm, "✗ server unreachable since")
	srv.start()
	waitFor(t, tm, "the server answers again", ModeSocket)
	final := finish(t, tm)
	if strings.Contains(final, "unreachable") {
		t.Fatalf("still unreachable:\n%s", final)
	}
}
