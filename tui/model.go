package tui

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"gatehouse/app"
)

// The status bar names how the console reaches the data.
const (
	ModeSocket = "attached to server (socket)"
	ModeDirect = "database opened directly"
)

// Options configure the console.
type Options struct {
	// Admin is the service: *app.Service or the socket client.
	Admin app.Admin
	// Actor is who the console acts as: app.Console in-process, app.Operator
	// over the socket (the server decides; the client ignores it).
	Actor app.Actor
	// Mode is ModeSocket or ModeDirect, for the status bar.
	Mode string
	// Org selects the organization to open; the first one otherwise.
	Org string
	// Now is the clock for times shown relative to now; time.Now by default.
	Now func() time.Time
	// Clipboard receives the OSC 52 sequences of the copy keys; the
	// terminal (os.Stdout) by default.
	Clipboard io.Writer
	// Refresh is how often the audit tail reloads and the server's health
	// is checked over the socket: DefaultRefresh when zero, never when negative.
	Refresh time.Duration
}

// DefaultRefresh is the period of the live audit tail and the health check.
const DefaultRefresh = 2 * time.Second

// healthTimeout bounds the periodic health check: a server that does not
// answer within it counts as unreachable.
const healthTimeout = 2 * time.Second

// modeReporter is an Admin that can change how it reaches the data while
// the console runs (direct mode hands over to a server that starts).
type modeReporter interface{ Mode() string }

type refreshTickMsg struct{}

type healthMsg struct{ err error }

// Model is the console's root model: the tab bar, the active screen, the
// status line, the help and the status bar.
type Model struct {
	s       *session
	screens []screen
	active  int
	help    help.Model
	spin    spinner.Model
	ticking bool
	started bool // the first screen was loaded
	quit    bool
}

// New builds the console model.
func New(o Options) *Model {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Refresh == 0 {
		o.Refresh = DefaultRefresh
	}
	s := &session{admin: o.Admin, actor: o.Actor, mode: o.Mode, now: o.Now, org: o.Org, width: 80, height: 24,
		clipboard: o.Clipboard, refresh: max(0, o.Refresh)}
	m := &Model{s: s, help: help.New(), spin: spinner.New(spinner.WithSpinner(spinner.Dot))}
	m.screens = []screen{
		newOverview(s), newTenants(s), newPartners(s), newUsers(s), newAudit(s), newTokenCheck(s), newAdminTokens(s),
	}
	return m
}

// Run starts the console on the terminal and blocks until it quits.
func Run(o Options) error {
	degradeColours()
	if o.Clipboard == nil {
		o.Clipboard = os.Stdout
	}
	_, err := tea.NewProgram(New(o), tea.WithAltScreen()).Run()
	return err
}

// Init loads the organizations, then the first screen, and starts the
// refresh clock.
func (m *Model) Init() tea.Cmd {
	return tea.Batch(m.loadOrgs(), m.tick())
}

func (m *Model) tick() tea.Cmd {
	if m.s.refresh <= 0 {
		return nil
	}
	return tea.Tick(m.s.refresh, func(time.Time) tea.Msg { return refreshTickMsg{} })
}

// mode is how the console reaches the data now.
func (s *session) currentMode() string {
	if r, ok := s.admin.(modeReporter); ok {
		return r.Mode()
	}
	return s.mode
}

// checkHealth asks the server whether it still answers. Only over the
// socket: in direct mode the check would take the database lock for nothing.
func (m *Model) checkHealth() tea.Cmd {
	s := m.s
	if s.currentMode() != ModeSocket {
		return nil
	}
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), healthTimeout)
		defer cancel()
		_, err := s.admin.Health(ctx)
		return healthMsg{err: err}
	}
}

func (m *Model) loadOrgs() tea.Cmd {
	s := m.s
	want := s.org
	return s.call("loading organizations", func(ctx context.Context) tea.Msg {
		orgs, err := s.admin.ListOrgs(ctx, s.actor)
		if err != nil {
			return orgsMsg{err: err}
		}
		out := orgsMsg{orgs: orgs}
		org := want
		if org == "" && len(orgs) > 0 {
			org = orgs[0].ID
		}
		if org != "" {
			out.org = org
			if out.tenants, out.err = s.admin.ListTenants(ctx, s.actor, org); out.err != nil {
				return out
			}
			out.partners, out.err = s.admin.ListPartners(ctx, s.actor, org, nil)
		}
		return out
	})
}

// Update routes messages: keys to the global bindings or the active screen,
// results to every screen (they ignore what is not theirs).
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmds []tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.s.width, m.s.height = msg.Width, msg.Height
		m.help.Width = msg.Width
	case spinner.TickMsg:
		if m.s.busy == 0 {
			m.ticking = false
			return m, nil
		}
		var cmd tea.Cmd
		m.spin, cmd = m.spin.Update(msg)
		return m, cmd
	case doneMsg:
		m.s.busy--
		return m, m.after(m.route(msg.msg))
	case refreshTickMsg:
		return m, tea.Batch(m.tick(), m.checkHealth(), m.screens[m.active].update(msg))
	case healthMsg:
		s := m.s
		switch {
		case msg.err != nil && s.unreachableSince.IsZero():
			s.unreachableSince = s.now()
		case msg.err == nil && !s.unreachableSince.IsZero():
			s.unreachableSince = time.Time{}
			s.note("the server answers again")
			return m, m.after(m.screens[m.active].load())
		}
		return m, nil
	case tea.KeyMsg:
		// Keys typed faster than the console reads its input (type-ahead,
		// a slow SSH link, tmux send-keys) arrive as one message, which no
		// binding matches whole: see typeAhead.
		if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && len(msg.Runes) <= maxTypeAhead &&
			!msg.Paste && !m.screens[m.active].capturing() {
			return m, m.typeAhead(msg.Runes)
		}
		// A key starts a new action: the last one's outcome leaves the status line.
		m.s.err, m.s.info = nil, ""
		if cmd, ok := m.global(msg); ok {
			return m, m.after(cmd)
		}
		return m, m.after(m.screens[m.active].update(msg))
	}
	cmds = append(cmds, m.route(msg))
	return m, m.after(tea.Batch(cmds...))
}

// maxTypeAhead is the longest burst of runes read as keys typed ahead;
// a longer one is a paste the terminal did not mark as one (no bracketed
// paste), and its letters must not run as commands.
const maxTypeAhead = 8

// typeAhead handles runes that arrived together as the keys they are, one
// after the other: "2R" is the Tenants screen and then refresh. Once a key
// opens a text field or a dialog, the rest is its input: "/ada" opens the
// search and types "ada" in it.
func (m *Model) typeAhead(runes []rune) tea.Cmd {
	var cmds []tea.Cmd
	for i, r := range runes {
		if m.quit {
			break
		}
		k := tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}}
		if m.screens[m.active].capturing() {
			k.Runes = runes[i:]
		}
		_, cmd := m.Update(k)
		cmds = append(cmds, cmd)
		if len(k.Runes) > 1 {
			break
		}
	}
	return tea.Batch(cmds...)
}

// route gives a message to the root, then every screen.
func (m *Model) route(msg tea.Msg) tea.Cmd {
	var cmds []tea.Cmd
	switch msg := msg.(type) {
	case orgsMsg:
		if msg.err != nil {
			m.s.fail(msg.err)
		}
		if m.s.org == "" && len(msg.orgs) > 0 {
			m.s.org = msg.orgs[0].ID
		}
		for _, o := range msg.orgs {
			if o.ID == m.s.org {
				m.s.orgName = o.Name
			}
		}
		if msg.tenants != nil && msg.org == m.s.org {
			m.s.tenants = msg.tenants
		}
		if msg.partners != nil && msg.org == m.s.org {
			m.s.partners = msg.partners
		}
		if !m.started {
			m.started = true
			cmds = append(cmds, m.screens[m.active].load())
		}
	case orgChangedMsg:
		cmds = append(cmds, m.loadOrgs())
		if m.active != 0 {
			cmds = append(cmds, m.screens[m.active].load())
		}
	}
	for _, sc := range m.screens {
		cmds = append(cmds, sc.update(msg))
	}
	return tea.Batch(cmds...)
}

// after starts the spinner when a call is under way.
func (m *Model) after(cmd tea.Cmd) tea.Cmd {
	if m.quit {
		return tea.Quit
	}
	if m.s.busy > 0 && !m.ticking {
		m.ticking = true
		return tea.Batch(cmd, m.spin.Tick)
	}
	return cmd
}

// global handles the keys that work everywhere.
func (m *Model) global(msg tea.KeyMsg) (tea.Cmd, bool) {
	if msg.String() == "ctrl+c" {
		m.quit = true
		return tea.Quit, true
	}
	if m.screens[m.active].capturing() {
		return nil, false
	}
	switch {
	case key.Matches(msg, gkeys.Quit):
		m.quit = true
		return tea.Quit, true
	case key.Matches(msg, gkeys.Help):
		m.help.ShowAll = !m.help.ShowAll
		return nil, true
	case key.Matches(msg, gkeys.Next):
		return m.switchTo((m.active + 1) % len(m.screens)), true
	case key.Matches(msg, gkeys.Prev):
		return m.switchTo((m.active + len(m.screens) - 1) % len(m.screens)), true
	case key.Matches(msg, gkeys.Jump):
		return m.switchTo(int(msg.Runes[0] - '1')), true
	}
	return nil, false
}

func (m *Model) switchTo(i int) tea.Cmd {
	if i < 0 || i >= len(m.screens) {
		return nil
	}
	m.active = i
	m.s.err, m.s.info = nil, ""
	return m.screens[i].load()
}

// View draws the whole console, exactly width × height.
func (m *Model) View() string {
	if m.quit {
		return ""
	}
	w, h := m.s.width, m.s.height
	sc := m.screens[m.active]

	// tab bar
	var tabs []string
	for i, s := range m.screens {
		label := fmt.Sprintf("%d %s", i+1, s.title())
		if i == m.active {
			tabs = append(tabs, st.activeTab.Render(label))
		} else {
			tabs = append(tabs, st.tab.Render(label))
		}
	}
	// The widest tab bar that fits: the name and wide gaps on a wide
	// terminal, the seven tabs alone at 80 columns.
	top := st.app.Render("Gatehouse") + "  " + strings.Join(tabs, "  ")
	for _, alt := range []string{strings.Join(tabs, "  "), strings.Join(tabs, " ")} {
		if ansi.StringWidth(top) <= w {
			break
		}
		top = alt
	}

	// status line
	var status string
	switch {
	case m.s.busy > 0:
		status = m.spin.View() + " " + m.s.busyLabel + "…"
	case m.s.err != nil:
		status = st.err.Render("✗ " + m.s.err.Code + ": " + m.s.err.Message)
	case m.s.info != "":
		status = st.ok.Render("✓ " + m.s.info)
	}

	// help
	km := sc.keys()
	m.help.Width = w
	helpView := m.help.View(km)

	// status bar
	org := m.s.org
	if org == "" {
		org = "no organization"
	}
	var bar string
	if since := m.s.unreachableSince; !since.IsZero() {
		bar = st.err.Render(fmt.Sprintf("✗ server unreachable since %s UTC (retrying)", since.UTC().Format("15:04:05"))) +
			st.statusBar.Render(fmt.Sprintf(" · org %s", org))
	} else {
		mode, actor := m.s.currentMode(), m.s.actor
		if mode == ModeSocket {
			actor = app.Operator // the server acts for whoever holds its socket
		}
		bar = st.statusBar.Render(fmt.Sprintf("● %s · org %s · %s", mode, org, actor.String()))
	}

	helpLines := strings.Count(helpView, "\n") + 1
	bodyH := max(1, h-4-helpLines)
	body := fit(sc.view(w, bodyH), w, bodyH)
	out := strings.Join([]string{fit(top, w, 1), "", body, fit(status, w, 1), fit(helpView, w, helpLines), fit(bar, w, 1)}, "\n")
	return fit(out, w, h)
}
