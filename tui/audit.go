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

// audit shows the organization's audit events, newest first: a live tail
// (new events appear on their own while the cursor rests on the newest,
// paused while you scroll or page), a filter by type (exact, or a family
// such as "signin.") and a search by request id, email or partner.
type audit struct {
	s      *session
	typ    textinput.Model
	search textinput.Model
	typing *textinput.Model // the field with focus, nil when none
	events []storage.AuditEvent
	pick   picker
	pg     pages
	open   *storage.AuditEvent
	seq    int
}

type auditMsg struct {
	seq  int
	live bool // a refresh of the tail: dropped if the operator moved meanwhile
	list app.AuditList
	err  error
}

func newAudit(s *session) *audit {
	in := newInput()
	in.Prompt = "type: "
	in.Placeholder = hint("e.g. signin. or partner.create")
	in.CharLimit = 64
	q := newInput()
	q.Prompt = "search: "
	q.Placeholder = hint("a request id, an email, or a partner's name or id")
	q.CharLimit = 256
	return &audit{s: s, typ: in, search: q, pick: newPicker("no events"), pg: newPages()}
}

func (a *audit) title() string { return "Audit" }

func (a *audit) capturing() bool { return a.typing != nil }

func (a *audit) keys() keyMap {
	switch {
	case a.typing != nil:
		return keyMap{short: []key.Binding{kApply, kBack}, input: true}
	case a.open != nil:
		return keyMap{short: []key.Binding{kCopyRequest, kBack}}
	}
	return keyMap{
		short: []key.Binding{kSearch, kType, kAuditType, kOpen, kPage},
		full:  [][]key.Binding{{kUp, kDown, kTop, kNextPage, kPrevPage}, {kSearch, kType, kAuditType, kBack}, {kOpen, kRefresh}},
	}
}

// live reports whether the tail follows new events: only while the newest
// event is in view and nothing else has the operator's attention.
func (a *audit) live() bool {
	return a.pg.no == 0 && a.open == nil && a.typing == nil && a.pick.cursor == 0 && !a.pick.filtering
}

func (a *audit) load() tea.Cmd {
	a.pg.first()
	return a.query()
}

// filter is the API filter of the type field and the search.
func (a *audit) filter() (app.AuditFilter, string) {
	f := app.AuditFilter{Type: strings.TrimSpace(a.typ.Value()), Limit: auditPageSize, Cursor: a.pg.cursor()}
	var what string
	f.RequestID, f.Email, f.PartnerID, what = resolveSearch(a.s, a.search.Value())
	return f, what
}

// resolveSearch reads the search the way an operator types it: an email
// has an @; a partner is its id or its name (exact, or the only name that
// contains the text); anything else is a request id, as quoted in an error.
func resolveSearch(s *session, text string) (requestID, email, partnerID, what string) {
	q := strings.TrimSpace(text)
	if q == "" {
		return "", "", "", ""
	}
	if strings.Contains(q, "@") {
		return "", q, "", "email " + q
	}
	var found []app.PartnerView
	for _, p := range s.partners {
		if p.ID == q || strings.EqualFold(p.Name, q) {
			return "", "", p.ID, "partner " + named(p.Name, p.ID)
		}
		if strings.Contains(strings.ToLower(p.Name), strings.ToLower(q)) {
			found = append(found, p)
		}
	}
	if len(found) == 1 {
		return "", "", found[0].ID, "partner " + named(found[0].Name, found[0].ID)
	}
	return q, "", "", "request id " + q
}

func (a *audit) query() tea.Cmd {
	s := a.s
	if s.org == "" {
		return nil
	}
	a.seq++
	seq, org := a.seq, s.org
	f, _ := a.filter()
	return s.call("loading audit events", func(ctx context.Context) tea.Msg {
		list, err := s.admin.ListAudit(ctx, s.actor, org, f)
		return auditMsg{seq: seq, list: list, err: err}
	})
}

// tail reloads the newest page quietly: no spinner every few seconds.
func (a *audit) tail() tea.Cmd {
	s := a.s
	if s.org == "" || !a.live() {
		return nil
	}
	a.seq++
	seq, org := a.seq, s.org
	f, _ := a.filter()
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		list, err := s.admin.ListAudit(ctx, s.actor, org, f)
		return auditMsg{seq: seq, live: true, list: list, err: err}
	}
}

var auditCols = []column{{title: "TIME (UTC)", min: 16}, {title: "TYPE", min: 16, grow: 1}, {title: "ACTOR", min: 10, grow: 1},
	{title: "OUTCOME", min: 12}, {title: "SUBJECT", min: 18, grow: 3}, {title: "REQUEST", min: 0, grow: 1}}

func (a *audit) setEvents(events []storage.AuditEvent) {
	a.events = events
	cells := make([][]string, len(events))
	match := make([]string, len(events))
	for i, e := range events {
		outcome := "✓"
		if e.Outcome != "success" {
			outcome = "✗ " + e.Code
		}
		cells[i] = []string{fmtTime(e.Time), e.Type, a.actorName(e.Actor), outcome, a.subject(e), e.RequestID}
		match[i] = e.Type + " " + e.Actor + " " + a.actorName(e.Actor) + " " + e.Email + " " + e.Code
	}
	a.pick.setTable(auditCols, cells, match)
}

// actorName is who acted, by name where the console knows it: a partner's
// sign-in is its name ("partner:prt_…" cut to ten columns said nothing);
// the operator, the console and admin tokens keep their audit names.
func (a *audit) actorName(actor string) string {
	if id, ok := strings.CutPrefix(actor, "partner:"); ok {
		if name := a.s.partnerName(id); name != "" {
			return name
		}
	}
	return actor
}

// subject is whom an event is about, by name where the console knows it.
func (a *audit) subject(e storage.AuditEvent) string {
	if e.Email != "" {
		return e.Email
	}
	target, _ := e.Details["target"].(string)
	if target == "" {
		target = e.PartnerID
	}
	if name := a.s.partnerName(target); name != "" {
		return name
	}
	if name := a.s.tenantName(target); name != "" {
		return name
	}
	return target
}

func (a *audit) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case orgChangedMsg:
		a.open = nil
		a.search.SetValue("")
	case refreshTickMsg:
		return a.tail()
	case auditMsg:
		if msg.seq != a.seq || (msg.live && !a.live()) {
			return nil
		}
		if msg.err != nil {
			if !msg.live { // the status bar reports a server that went away
				a.s.fail(msg.err)
			}
			return nil
		}
		a.pg.next = msg.list.NextCursor
		a.pick.cursor, a.pick.offset = 0, 0
		a.setEvents(msg.list.Events)
	case tea.KeyMsg:
		return a.key(msg)
	}
	return nil
}

func (a *audit) key(msg tea.KeyMsg) tea.Cmd {
	if in := a.typing; in != nil {
		switch msg.String() {
		case "enter":
			a.typing = nil
			in.Blur()
			return a.load()
		case "esc":
			a.typing = nil
			in.Blur()
			return nil
		}
		var cmd tea.Cmd
		*in, cmd = in.Update(msg)
		return cmd
	}
	if a.open != nil {
		switch {
		case key.Matches(msg, kBack) || key.Matches(msg, kOpen):
			a.open = nil
		case key.Matches(msg, kCopyRequest):
			a.s.copy("request id "+a.open.RequestID, a.open.RequestID)
		}
		return nil
	}
	switch {
	case key.Matches(msg, kSearch):
		a.typing = &a.search
		return a.search.Focus()
	case key.Matches(msg, kAuditType):
		a.typing = &a.typ
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
		if a.typ.Value() != "" || a.search.Value() != "" {
			a.typ.SetValue("")
			a.search.SetValue("")
			return a.load()
		}
	case key.Matches(msg, kOpen):
		if i := a.pick.selected(); i >= 0 {
			e := a.events[i]
			a.open = &e
		}
	case key.Matches(msg, kNextPage):
		if !a.pg.forward() {
			a.s.note("these are the oldest events")
			return nil
		}
		return a.query()
	case key.Matches(msg, kPrevPage):
		if a.pg.back() {
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
	_, what := a.filter()
	parts := []string{"every type"}
	if v := a.typ.Value(); v != "" {
		parts[0] = "type " + v
	}
	if what != "" {
		parts = append(parts, what)
	}
	parts = append(parts, fmt.Sprintf("page %d", a.pg.no+1))
	switch {
	case a.s.refresh <= 0:
	case a.live():
		parts = append(parts, "● live")
	default:
		parts = append(parts, "‖ paused (g: newest)")
	}
	line := st.dim.Render(strings.Join(parts, " · "))
	if a.typing != nil {
		line = a.typing.View()
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
	if name := a.actorName(e.Actor); name != e.Actor {
		b.WriteString(row("actor", named(name, e.Actor)))
	} else {
		b.WriteString(row("actor", e.Actor))
	}
	b.WriteString(row("outcome", outcome))
	b.WriteString(row("tenant", named(a.s.tenantName(e.TenantID), e.TenantID)))
	b.WriteString(row("partner", named(a.s.partnerName(e.PartnerID), e.PartnerID)))
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
