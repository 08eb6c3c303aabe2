package tui

import (
	"context"
	"fmt"
	mrand "math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"gatehouse/app"
	"gatehouse/storage/memory"
)

func init() {
	// Goldens are plain text whatever terminal runs the tests.
	lipgloss.SetColorProfile(termenv.Ascii)
}

// fixedNow is the clock of every console test.
var fixedNow = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// lockedRand is a deterministic random source safe for the service's
// concurrent calls, so IDs and secrets in goldens never change.
type lockedRand struct {
	mu sync.Mutex
	r  *mrand.Rand
}

func (l *lockedRand) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// newService is a real service over the memory store, with a fixed clock
// and random source, seeded with organization "acme" and tenants t1 and t2.
func newService(t testing.TB) *app.Service {
	t.Helper()
	return newServiceWith(t, app.Defaults(), func() time.Time { return fixedNow })
}

// newServiceWith is newService with a given configuration and clock.
func newServiceWith(t testing.TB, cfg app.Config, now func() time.Time) *app.Service {
	t.Helper()
	ring, err := app.NewKeyRing(map[int][]byte{1: make([]byte, 32)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := app.New(app.Options{Store: memory.New(), Config: cfg, KeyRing: ring,
		Now: now, Random: &lockedRand{r: mrand.New(mrand.NewSource(42))}, Version: "v-test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mustDo(t, func() error {
		_, err := svc.CreateOrg(ctx, app.Operator, app.OrgInput{ID: "acme", Name: "Acme MSSP"})
		return err
	})
	mustDo(t, func() error {
		_, err := svc.CreateTenant(ctx, app.Operator, "acme", app.TenantInput{ID: "t1", Name: "Tenant One",
			RedirectURL: "https://dash.example.test/t1", AllowedReturnURLs: []string{"https://dash.example.test/t1/"}})
		return err
	})
	mustDo(t, func() error {
		_, err := svc.CreateTenant(ctx, app.Operator, "acme", app.TenantInput{ID: "t2", Name: "Tenant Two"})
		return err
	})
	return svc
}

func mustDo(t testing.TB, f func() error) {
	t.Helper()
	if err := f(); err != nil {
		t.Fatal(err)
	}
}

// seedUsers adds n users user00001@example.com… spread over t1 and t2.
func seedUsers(t testing.TB, svc *app.Service, n int) {
	t.Helper()
	ctx := context.Background()
	for i := 1; i <= n; i++ {
		tenant := "t1"
		if i%2 == 0 {
			tenant = "t2"
		}
		_, err := svc.CreateUser(ctx, app.Operator, "acme", app.UserInput{Email: fmt.Sprintf("user%05d@example.com", i),
			Name: fmt.Sprintf("User %05d", i), TenantID: tenant, Role: "readOnly", PartnerSSO: true})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// testPEM is a fixed 2048-bit RSA public key, so kids in goldens never change.
func testPEM(t testing.TB) string {
	b, err := os.ReadFile(filepath.Join("testdata", "partner2048.pub"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// testOptions are the console's options in tests: in-process over admin,
// the fixed clock, a recording clipboard, and no refresh clock (the
// synchronous driver runs every command at once, and a tick would sleep);
// a test that wants the clock sets Refresh.
func testOptions(admin app.Admin) Options {
	return Options{Admin: admin, Actor: app.Console, Mode: ModeDirect, Now: func() time.Time { return fixedNow },
		Refresh: -1, Clipboard: &clipboard{}}
}

// newModel is the console over svc with testOptions.
func newModel(svc app.Admin) *Model { return New(testOptions(svc)) }

// driveWithUsers drives the console over a service seeded with n users.
func driveWithUsers(t testing.TB, n int) (*app.Service, *driver) {
	t.Helper()
	svc := newService(t)
	seedUsers(t, svc, n)
	return svc, drive(t, newModel(svc))
}

// userCount is how many users organization acme has (up to 500).
func userCount(t testing.TB, svc *app.Service) int {
	t.Helper()
	l, err := svc.ListUsers(context.Background(), app.Console, "acme", "", "", 500, "")
	if err != nil {
		t.Fatal(err)
	}
	return len(l.Users)
}

// clipboard records what the console sent to the terminal's clipboard.
type clipboard struct {
	mu  sync.Mutex
	buf []byte
}

func (c *clipboard) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *clipboard) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.buf)
}

// driver runs a model synchronously: every command is executed at once and
// its messages fed back, so unit tests see the state after a key settles.
type driver struct {
	t testing.TB
	m *Model
}

func drive(t testing.TB, m *Model) *driver {
	d := &driver{t: t, m: m}
	d.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	d.run(m.Init())
	return d
}

func (d *driver) send(msg tea.Msg) {
	d.t.Helper()
	_, cmd := d.m.Update(msg)
	d.run(cmd)
}

func (d *driver) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	msg := cmd()
	switch msg := msg.(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			d.run(c)
		}
	case tea.QuitMsg:
	default:
		if isSequence(msg) {
			for _, c := range sequenceCmds(msg) {
				d.run(c)
			}
			return
		}
		d.send(msg)
	}
}

// keys types s one key at a time; names in brackets are special keys.
func (d *driver) keys(ks ...string) {
	for _, k := range ks {
		d.send(keyMsg(k))
	}
}

func (d *driver) typeText(s string) {
	for _, r := range s {
		d.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
	}
}

func (d *driver) view() string { return ansi.Strip(d.m.View()) }

// specialKeys are the key names tests may type; anything else is runes.
var specialKeys = map[string]tea.KeyType{
	"enter": tea.KeyEnter, "esc": tea.KeyEsc, "tab": tea.KeyTab, "shift+tab": tea.KeyShiftTab,
	"up": tea.KeyUp, "down": tea.KeyDown, "backspace": tea.KeyBackspace,
	"ctrl+s": tea.KeyCtrlS, "ctrl+c": tea.KeyCtrlC, "ctrl+u": tea.KeyCtrlU,
}

func keyMsg(k string) tea.KeyMsg {
	if t, ok := specialKeys[k]; ok {
		return tea.KeyMsg{Type: t}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
}

func contains(t testing.TB, view string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(view, w) {
			t.Fatalf("view lacks %q:\n%s", w, view)
		}
	}
}

func isSequence(msg tea.Msg) bool {
	v := reflect.ValueOf(msg)
	return v.Kind() == reflect.Slice && v.Type().Elem() == reflect.TypeOf(tea.Cmd(nil))
}

func sequenceCmds(msg tea.Msg) []tea.Cmd {
	v := reflect.ValueOf(msg)
	out := make([]tea.Cmd, v.Len())
	for i := range out {
		out[i], _ = v.Index(i).Interface().(tea.Cmd)
	}
	return out
}
