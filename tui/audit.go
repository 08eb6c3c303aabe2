package tui

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"gatehouse/app"
	"gatehouse/storage"
)

// auditPageSize is how many events one page of the audit screen holds.
const auditPageSize = 100

// auditPresets are what `f` cycles through: every event, then by family.
var auditPresets = []string{"", "signin.", "partner.", "key.", "user.", "tenant.", "admin_token.", "org."}

// audit shows the organization's recent audit events, newest first, with a
// filter by type (exact, or a family such as "signin.").
type audit struct {
	s       *session
	typ     textinput.Model
	typing  bool
	events  []storage.AuditEvent
	pick    picker
	cursors []string
	pageNo  int
	next    string
	open    *storage.AuditEvent
	seq     int
}

type auditMsg struct {
	seq  int
	list app.AuditList
	err  error
}

func newAudit(s *session) *audit {
	in := newInput()
	in.Prompt = "type: "
	in.Placeholder = "e.g. signin. or partner.create"
	in.CharLimit = 64
	return &audit{s: s, typ: in, pick: newPicker("no events"), cursors: []string{""}}
}

func (a *audit) title() string { return "Audit" }

func (a *audit) capturing() bool { return a.typing }

func (a *audit) keys() keyMap {
	switch {
	case a.typing:
		return keyMap{short: []key.Binding{key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "apply")), kBack}, input: true}
	case a.open != nil:
		return keyMap{short: []key.Binding{kBack}}
	}
	return keyMap{
		short: []key.Binding{kType, kSearch, kOpen, kPage},
		full:  [][]key.Binding{{kUp, kDown, kNextPage, kPrevPage}, {kType, kSearch, kBack}, {kOpen, kRefresh}},
	}
}

func (a *audit) load() tea.Cmd {
	a.cursors, a.pageNo = []string{""}, 0
	return a.query()
}

func (a *audit) query() tea.Cmd {
	s := a.s
	if s.org == "" {
		return nil
	}
	a.seq++
	seq, org := a.seq, s.org
	f := app.AuditFilter{Type: strings.TrimSpace(a.typ.Value()), Limit: auditPageSize, Cursor: a.cursors[a.pageNo]}
	return s.call("loading audit events", func(ctx context.Context) tea.Msg {
		list, err := s.admin.ListAudit(ctx, s.actor, org, f)
		return auditMsg{seq: seq, list: list, err: err}
	})
}

func (a *audit) setEvents(events []storage.AuditEvent) {
	a.events = events
	rows := make([]string, len(events))
	match := make([]string, len(events))
	for i, e := range events {
		outcome := "✓"
		if e.Outcome != "success" {
			outcome = "✗ " + e.Code
		}
		rows[i] = fmt.Sprintf("%s %s %s %s %s", fmtTime(e.Time), cell(e.Type, 18), cell(e.Actor, 12), cell(outcome, 12), eventSubject(e))
		match[i] = e.Type + " " + e.Actor + " " + e.Email + " " + e.Code
	}
	a.pick.set(fmt.Sprintf("%s %s %s %s %s", cell("TIME (UTC)", 16), cell("TYPE", 18), cell("ACTOR", 12), cell("OUTCOME", 12), "SUBJECT"), rows, match)
}

func eventSubject(e storage.AuditEvent) string {
	if e.Email != "" {
		return e.Email
	}
	if t, ok := e.Details["target"].(string); ok {
		return t
	}
	return e.PartnerID
}

func (a *audit) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case orgChangedMsg:
		a.open = nil
	case auditMsg:
		if msg.seq != a.seq {
			return nil
		}
		if msg.err != nil {
			a.s.fail(msg.err)
			return nil
		}
		a.next = msg.list.NextCursor
		a.pick.cursor, a.pick.offset = 0, 0
		a.setEvents(msg.list.Events)
	case tea.KeyMsg:
		return a.key(msg)
	}
	return nil
}

func (a *audit) key(msg tea.KeyMsg) tea.Cmd {
	if a.typing {
		switch msg.String() {
		case "enter":
			a.typing = false
			a.typ.Blur()
			return a.load()
		case "esc":
			a.typing = false
			a.typ.Blur()
			return nil
		}
		var cmd tea.Cmd
		a.typ, cmd = a.typ.Update(msg)
		return cmd
	}
	if a.open != nil {
		if key.Matches(msg, kBack) || key.Matches(msg, kOpen) {
			a.open = nil
		}
		return nil
	}
	switch {
	case key.Matches(msg, kSearch):
		a.typing = true
		a.typ.SetValue("")
		return a.typ.Focus()
	case key.Matches(msg, kType):
		cur := a.typ.Value()
		next := auditPresets[0]
		for i, p := range auditPresets {
			if p == cur {
				next = auditPresets[(i+1)%len(auditPresets)]
			}
		}
		a.typ.SetValue(next)
		return a.load()
	case key.Matches(msg, kBack):
		if a.typ.Value() != "" {
			a.typ.SetValue("")
			return a.load()
		}
	case key.Matches(msg, kOpen):
		if i := a.pick.selected(); i >= 0 {
			e := a.events[i]
			a.open = &e
		}
	case key.Matches(msg, kNextPage):
		if a.next == "" {
			a.s.note("these are the oldest events")
			return nil
		}
		a.cursors = append(a.cursors[:a.pageNo+1], a.next)
		a.pageNo++
		return a.query()
	case key.Matches(msg, kPrevPage):
		if a.pageNo > 0 {
			a.pageNo--
			return a.query()
		}
	case key.Matches(msg, kRefresh):
		return a.load()
	default:
		a.pick.handle(msg)
	}
	return nil
}

func (a *audit) view(width, height int) string {
	if a.s.org == "" {
		return st.dim.Render("No organization yet: create one on the Overview screen (1, then o).")
	}
	if a.open != nil {
		return a.eventView(width)
	}
	filter := "every type"
	if v := a.typ.Value(); v != "" {
		filter = "type " + v
	}
	line := st.dim.Render(fmt.Sprintf("%s · page %d · f cycles families, / types one", filter, a.pageNo+1))
	if a.typing {
		line = a.typ.View()
	}
	return line + "\n" + a.pick.view(width, max(1, height-1))
}

func (a *audit) eventView(width int) string {
	e := a.open
	row := func(label, value string) string {
		if value == "" {
			return ""
		}
		return "  " + st.label.Render(cell(label, 11)) + value + "\n"
	}
	var b strings.Builder
	b.WriteString(st.title.Render(e.Type) + " " + st.dim.Render(e.ID) + "\n\n")
	outcome := e.Outcome
	if e.Code != "" {
		outcome += " (" + e.Code + ")"
	}
	b.WriteString(row("time", fmtTime(e.Time)+" UTC"))
	b.WriteString(row("actor", e.Actor))
	b.WriteString(row("outcome", outcome))
	b.WriteString(row("tenant", e.TenantID))
	b.WriteString(row("partner", e.PartnerID))
	b.WriteString(row("email", e.Email))
	b.WriteString(row("client IP", e.ClientIP))
	b.WriteString(row("request", e.RequestID))
	if len(e.Details) > 0 {
		b.WriteString("\n" + st.title.Render("Details") + "\n")
		names := make([]string, 0, len(e.Details))
		for k := range e.Details {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			v, _ := json.Marshal(e.Details[k])
			b.WriteString(row(k, string(v)))
		}
	}
	return b.String()
}
