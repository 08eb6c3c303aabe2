package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aymanbagabas/go-osc52/v2"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textarea"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"gatehouse/app"
	"gatehouse/storage"
)

// callTimeout bounds one service call; the socket client has its own too.
const callTimeout = 30 * time.Second

// session is what every screen shares: the service, the current
// organization, the terminal size and the status line.
type session struct {
	admin app.Admin
	actor app.Actor
	mode  string
	now   func() time.Time

	org     string
	orgName string
	tenants []app.TenantView // the current organization's, for filters and pickers

	partners []app.PartnerView // the current organization's, to show names where records hold IDs

	width, height int

	busy      int
	busyLabel string
	info      string
	err       *app.Error

	// clipboard receives OSC 52 sequences: the terminal puts their text on
	// the clipboard (over SSH too), so IDs and secrets need no mouse.
	clipboard io.Writer
	// refresh is the period of the live audit tail and the server health
	// check; zero turns both off.
	refresh time.Duration
	// unreachableSince is when the server stopped answering; zero while it answers.
	unreachableSince time.Time
}

// doneMsg wraps the result of a call so the root can stop its spinner.
type doneMsg struct{ msg tea.Msg }

// call runs f off the update loop as a tea.Cmd with the spinner on.
func (s *session) call(label string, f func(ctx context.Context) tea.Msg) tea.Cmd {
	s.busy++
	s.busyLabel = label
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		return doneMsg{msg: f(ctx)}
	}
}

// orgCall is call for an operation in the current organization: f gets
// the organization as it is now, so an answer that arrives after a switch
// can be told apart; with no organization yet nothing runs.
func (s *session) orgCall(label string, f func(ctx context.Context, org string) tea.Msg) tea.Cmd {
	org := s.org
	if org == "" {
		return nil
	}
	return s.call(label, func(ctx context.Context) tea.Msg { return f(ctx, org) })
}

// fail shows err in the status line with the API's code and message.
func (s *session) fail(err error) {
	var e *app.Error
	if errors.As(err, &e) {
		s.err = e
	} else {
		s.err = &app.Error{Code: app.CodeInternal, Message: err.Error()}
	}
	s.info = ""
}

// note shows an informational message in the status line.
func (s *session) note(format string, args ...any) {
	s.info = fmt.Sprintf(format, args...)
	s.err = nil
}

func (s *session) tenantName(id string) string {
	for _, t := range s.tenants {
		if t.ID == id {
			return t.Name
		}
	}
	return ""
}

func (s *session) partnerName(id string) string {
	for _, p := range s.partners {
		if p.ID == id {
			return p.Name
		}
	}
	return ""
}

// named shows a record's name with its ID, or the ID alone when the name
// is not known (a deleted partner, another organization's tenant).
func named(name, id string) string {
	switch {
	case id == "":
		return ""
	case name == "":
		return id
	}
	return name + " (" + id + ")"
}

// copy sends value to the terminal's clipboard as an OSC 52 sequence and
// says so; what names the value, never the value itself, in the status line.
func (s *session) copy(what, value string) {
	if value == "" {
		return
	}
	if s.clipboard == nil {
		s.fail(app.Errorf(app.CodeInternal, "no terminal to copy to"))
		return
	}
	seq := osc52.New(value)
	if strings.HasPrefix(os.Getenv("TERM"), "screen") {
		seq = seq.Screen() // GNU screen needs its passthrough form; tmux reads plain OSC 52
	}
	if _, err := seq.WriteTo(s.clipboard); err != nil {
		s.fail(err)
		return
	}
	s.note("%s copied to the clipboard (OSC 52; your terminal must allow it)", what)
}

// orgChangedMsg tells the screens the current organization changed.
type orgChangedMsg struct{}

// orgsMsg is the answer to loading the organizations and their tenants.
type orgsMsg struct {
	orgs     []storage.Org
	org      string // the organization tenants and partners belong to
	tenants  []app.TenantView
	partners []app.PartnerView
	err      error
}

// screen is one tab of the console.
type screen interface {
	title() string
	// load (re)reads what the screen shows; called when it becomes active.
	load() tea.Cmd
	// update handles a message; key messages come only to the active screen.
	update(msg tea.Msg) tea.Cmd
	view(width, height int) string
	keys() keyMap
	// capturing reports whether a text field or dialog owns the keyboard.
	capturing() bool
}

// --- formatting helpers ---

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func fmtOptTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return fmtTime(*t)
}

// fmtPolicy shows a list policy: nil = no restriction, [] = nothing allowed.
func fmtPolicy(list []string) string {
	switch {
	case list == nil:
		return "any (no restriction)"
	case len(list) == 0:
		return "none allowed"
	}
	return strings.Join(list, ", ")
}

// policyText is a list policy as a form edits it.
func policyText(list []string) string {
	if list == nil {
		return ""
	}
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// parseList reads a comma- or space-separated list; "none" is the empty list.
func parseList(s string) []string {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "none") {
		return []string{}
	}
	out := []string{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		out = append(out, f)
	}
	return out
}

// cell pads or cuts s to exactly w columns.
func cell(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > w {
		return ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", w-ansi.StringWidth(s))
}

// fit cuts every line to width and the block to height lines, padding with
// empty lines, so a screen never spills past its area whatever the size.
func fit(s string, width, height int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > height {
		lines = lines[:height]
	}
	for i, l := range lines {
		if ansi.StringWidth(l) > width {
			lines[i] = ansi.Truncate(l, width, "…")
		}
	}
	for len(lines) < height {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// newInput is a one-line text field with a steady cursor: a blinking one
// redraws the screen twice a second for nothing.
func newInput() textinput.Model {
	in := textinput.New()
	in.Cursor.SetMode(cursor.CursorStatic)
	return in
}

// hint marks placeholder text so it cannot pass for typed text where there
// is no colour to grey it out (NO_COLOR, a dumb terminal, a log of the
// screen): typed text is never wrapped in ‹ ›.
func hint(text string) string {
	if text == "" {
		return ""
	}
	return "‹" + text + "›"
}

// --- picker: a cursor list with a local filter ---

type picker struct {
	header    string
	cols      []column   // set for a table: rows are laid out at the width of each frame
	cells     [][]string // a table's rows, one string per column
	rows      []string   // what is shown
	match     []string   // what the filter searches
	shown     []int      // indices of rows passing the filter
	cursor    int        // index into shown
	offset    int
	filter    textinput.Model
	filtering bool
	empty     string
}

func newPicker(empty string) picker {
	f := newInput()
	f.Prompt = "/ "
	f.Placeholder = hint("filter")
	return picker{filter: f, empty: empty}
}

func (p *picker) set(header string, rows, match []string) {
	p.header, p.rows, p.match = header, rows, match
	p.refilter()
}

// setTable shows rows of cells under cols; the column widths follow the
// terminal's width at each frame.
func (p *picker) setTable(cols []column, cells [][]string, match []string) {
	p.cols, p.cells = cols, cells
	p.set("", make([]string, len(cells)), match)
}

func (p *picker) refilter() {
	q := strings.ToLower(strings.TrimSpace(p.filter.Value()))
	p.shown = p.shown[:0]
	for i := range p.rows {
		if q == "" || strings.Contains(strings.ToLower(p.match[i]), q) {
			p.shown = append(p.shown, i)
		}
	}
	if p.cursor >= len(p.shown) {
		p.cursor = max(0, len(p.shown)-1)
	}
}

// selected is the index of the selected row, or -1.
func (p *picker) selected() int {
	if len(p.shown) == 0 {
		return -1
	}
	return p.shown[p.cursor]
}

// selectWhere moves the cursor to the first row whose match text is m.
func (p *picker) selectWhere(f func(i int) bool) {
	for c, i := range p.shown {
		if f(i) {
			p.cursor = c
			return
		}
	}
}

// handle takes a key; it reports whether the picker used it.
func (p *picker) handle(msg tea.KeyMsg) (bool, tea.Cmd) {
	if p.filtering {
		switch msg.String() {
		case "esc":
			p.filtering = false
			p.filter.Blur()
			p.filter.SetValue("")
			p.refilter()
			return true, nil
		case "enter":
			p.filtering = false
			p.filter.Blur()
			return true, nil
		case "up", "down":
		default:
			var cmd tea.Cmd
			p.filter, cmd = p.filter.Update(msg)
			p.refilter()
			return true, cmd
		}
	}
	switch {
	case key.Matches(msg, kUp):
		if p.cursor > 0 {
			p.cursor--
		}
	case key.Matches(msg, kDown):
		if p.cursor < len(p.shown)-1 {
			p.cursor++
		}
	case key.Matches(msg, kTop):
		p.cursor = 0
	case key.Matches(msg, kBottom):
		p.cursor = max(0, len(p.shown)-1)
	case key.Matches(msg, kSearch):
		p.filtering = true
		return true, p.filter.Focus()
	case msg.String() == "esc" && p.filter.Value() != "":
		p.filter.SetValue("")
		p.refilter()
	default:
		return false, nil
	}
	return true, nil
}

func (p *picker) view(width, height int) string {
	var b strings.Builder
	lines := 0
	if p.filtering || p.filter.Value() != "" {
		b.WriteString(p.filter.View() + "\n")
		lines++
	}
	var ws []int
	if p.cols != nil {
		ws = layout(width-2, p.cols)
		titles := make([]string, len(p.cols))
		for i, c := range p.cols {
			titles[i] = c.title
		}
		b.WriteString(st.header.Render("  "+tableRow(ws, titles)) + "\n")
		lines++
	} else if p.header != "" {
		b.WriteString(st.header.Render("  "+p.header) + "\n")
		lines++
	}
	if len(p.shown) == 0 {
		msg := p.empty
		if len(p.rows) > 0 {
			msg = "nothing matches the filter"
		}
		b.WriteString(st.dim.Render("  " + msg))
		return b.String()
	}
	room := max(1, height-lines)
	if p.cursor < p.offset {
		p.offset = p.cursor
	}
	if p.cursor >= p.offset+room {
		p.offset = p.cursor - room + 1
	}
	if p.offset > max(0, len(p.shown)-room) {
		p.offset = max(0, len(p.shown)-room)
	}
	for c := p.offset; c < len(p.shown) && c < p.offset+room; c++ {
		text := p.rows[p.shown[c]]
		if ws != nil {
			text = tableRow(ws, p.cells[p.shown[c]])
		}
		row := cell(text, width-2)
		if c == p.cursor {
			b.WriteString(st.selected.Render("›") + " " + st.selected.Render(row))
		} else {
			b.WriteString("  " + row)
		}
		if c < len(p.shown)-1 && c < p.offset+room-1 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// --- tables: columns that share the terminal's width ---

// column is a table column: it is never narrower than min, and the room a
// wider terminal leaves is shared among columns by their grow weights. A
// column with min 0 is optional: it is left out until it would get
// minOptional columns.
type column struct {
	title     string
	min, grow int
}

const minOptional = 12

// layout gives each column its width within total columns (one space
// between shown columns; a width of 0 hides a column). At 80 columns every
// table fits with its minimums.
func layout(total int, cols []column) []int {
	hidden := make([]bool, len(cols))
	for {
		ws := layoutShown(total, cols, hidden)
		again := false
		for i, c := range cols {
			if !hidden[i] && c.min == 0 && ws[i] < minOptional {
				hidden[i], again = true, true
				break
			}
		}
		if !again {
			return ws
		}
	}
}

func layoutShown(total int, cols []column, hidden []bool) []int {
	ws := make([]int, len(cols))
	used, weight, shown := 0, 0, 0
	for i, c := range cols {
		if hidden[i] {
			continue
		}
		shown++
		ws[i] = c.min
		used += c.min
		weight += c.grow
	}
	used += shown - 1
	extra := total - used
	if extra <= 0 || weight == 0 {
		return ws
	}
	given, last := 0, -1
	for i, c := range cols {
		if c.grow > 0 && !hidden[i] {
			n := extra * c.grow / weight
			ws[i] += n
			given += n
			last = i
		}
	}
	ws[last] += extra - given
	return ws
}

// tableRow lays cells out at widths ws, cutting what does not fit with "…".
func tableRow(ws []int, cells []string) string {
	parts := make([]string, 0, len(ws))
	for i, w := range ws {
		if w == 0 {
			continue
		}
		v := ""
		if i < len(cells) {
			v = cells[i]
		}
		parts = append(parts, cell(v, w))
	}
	return strings.TrimRight(strings.Join(parts, " "), " ")
}

// --- form: labelled text fields ---

type formField struct {
	label string
	// names are the API's names for the field, so an error that names one
	// ("allowed_source_ips[2]: …") puts the cursor on it.
	names []string
	input textinput.Model
	area  *textarea.Model // a multi-line field (PEM keys, tokens)
}

type form struct {
	title  string
	hint   string
	fields []formField
	focus  int
}

// formResult is what a key did to a form.
type formResult int

const (
	formEditing formResult = iota
	formSubmit
	formCancel
)

func newForm(title, hint string) *form { return &form{title: title, hint: hint} }

// add appends a one-line field with an initial value.
func (f *form) add(label, value, placeholder string) *form {
	in := newInput()
	in.Prompt = ""
	in.Placeholder = hint(placeholder)
	in.CharLimit = 4096
	in.SetValue(value)
	f.fields = append(f.fields, formField{label: label, input: in})
	if len(f.fields) == 1 {
		f.fields[0].input.Focus()
	}
	return f
}

// addArea appends a multi-line field.
func (f *form) addArea(label, placeholder string, height int) *form {
	ta := textarea.New()
	ta.Cursor.SetMode(cursor.CursorStatic)
	ta.Placeholder = hint(placeholder)
	ta.ShowLineNumbers = false
	ta.CharLimit = 20000
	ta.MaxHeight = 200
	ta.SetHeight(height)
	ta.Prompt = "│ "
	f.fields = append(f.fields, formField{label: label, area: &ta})
	if len(f.fields) == 1 {
		ta.Focus()
	}
	return f
}

// named gives the last added field the API's names for it.
func (f *form) named(names ...string) *form {
	f.fields[len(f.fields)-1].names = names
	return f
}

// focusError moves the cursor to the field err names, if it names one of
// this form's: "allowed_source_ips[2]: not an IP or CIDR" names
// allowed_source_ips.
func (f *form) focusError(err error) tea.Cmd {
	e := app.AsError(err)
	if e == nil || e.Code != app.CodeValidation {
		return nil
	}
	field, _, ok := strings.Cut(e.Message, ":")
	if !ok {
		return nil
	}
	if i := strings.IndexAny(field, "[."); i >= 0 {
		field = field[:i]
	}
	for i, fl := range f.fields {
		for _, n := range fl.names {
			if n == strings.TrimSpace(field) {
				return f.setFocus(i)
			}
		}
	}
	return nil
}

func (f *form) value(i int) string {
	if f.fields[i].area != nil {
		return f.fields[i].area.Value()
	}
	return f.fields[i].input.Value()
}

func (f *form) setFocus(i int) tea.Cmd {
	for j := range f.fields {
		if f.fields[j].area != nil {
			f.fields[j].area.Blur()
		} else {
			f.fields[j].input.Blur()
		}
	}
	f.focus = (i + len(f.fields)) % len(f.fields)
	if a := f.fields[f.focus].area; a != nil {
		return a.Focus()
	}
	return f.fields[f.focus].input.Focus()
}

func (f *form) update(msg tea.Msg) (formResult, tea.Cmd) {
	area := f.fields[f.focus].area
	if k, ok := msg.(tea.KeyMsg); ok {
		switch {
		case key.Matches(k, kSubmit):
			return formSubmit, nil
		case key.Matches(k, kCancel):
			return formCancel, nil
		case k.String() == "tab" || (area == nil && k.String() == "down"):
			return formEditing, f.setFocus(f.focus + 1)
		case k.String() == "shift+tab" || (area == nil && k.String() == "up"):
			return formEditing, f.setFocus(f.focus - 1)
		case k.String() == "enter" && area == nil:
			if f.focus == len(f.fields)-1 {
				return formSubmit, nil
			}
			return formEditing, f.setFocus(f.focus + 1)
		}
	}
	var cmd tea.Cmd
	if area != nil {
		*area, cmd = area.Update(msg)
	} else {
		f.fields[f.focus].input, cmd = f.fields[f.focus].input.Update(msg)
	}
	return formEditing, cmd
}

func (f *form) view(width int) string {
	lw := 0
	for _, fl := range f.fields {
		lw = max(lw, len(fl.label))
	}
	var b strings.Builder
	b.WriteString(st.title.Render(f.title) + "\n")
	if f.hint != "" {
		b.WriteString(st.dim.Render(f.hint) + "\n")
	}
	b.WriteString("\n")
	for i, fl := range f.fields {
		marker := "  "
		if i == f.focus {
			marker = st.selected.Render("›") + " "
		}
		label := st.label.Render(cell(fl.label, lw))
		if fl.area != nil {
			fl.area.SetWidth(max(10, width-4))
			b.WriteString(marker + label + "\n" + fl.area.View() + "\n")
			continue
		}
		fl.input.Width = max(10, width-lw-6)
		b.WriteString(marker + label + "  " + fl.input.View() + "\n")
	}
	return b.String()
}

// --- confirm: a yes/no question naming what will happen ---

type confirm struct {
	prompt string
	yes    func() tea.Cmd
}

// handle answers true when the dialog is finished.
func (c *confirm) handle(msg tea.KeyMsg) (done bool, cmd tea.Cmd) {
	switch {
	case key.Matches(msg, kYes):
		return true, c.yes()
	case key.Matches(msg, kNo):
		return true, nil
	}
	return false, nil
}

func (c *confirm) view(width int) string {
	return st.box.Width(min(width-4, 72)).Render(st.warn.Render(c.prompt) + "\n\n" + "y = yes    n / esc = no")
}

// confirmCall is a question whose yes runs f off the update loop, with
// label by the spinner. f gets the organization current when the question
// was put, so the answer acts where the question was asked.
func (s *session) confirmCall(prompt, label string, f func(ctx context.Context, org string) tea.Msg) *confirm {
	org := s.org
	return &confirm{prompt: prompt, yes: func() tea.Cmd {
		return s.call(label, func(ctx context.Context) tea.Msg { return f(ctx, org) })
	}}
}

// --- dialogs: a form or a question over a screen ---

// dialogs are what a screen opens over what it shows: a form, or a yes/no
// question. While one is open it takes every key.
type dialogs struct {
	form *form
	ask  *confirm
}

func (d *dialogs) dialogOpen() bool { return d.form != nil || d.ask != nil }

// dialogKeys is the help of the open dialog; false when none is open.
func (d *dialogs) dialogKeys() (keyMap, bool) {
	switch {
	case d.form != nil:
		return formKeys, true
	case d.ask != nil:
		return confirmKeys, true
	}
	return keyMap{}, false
}

// dialogKey gives msg to the open question or form and reports whether one
// was open. An answered question closes, and so does a cancelled form; a
// submitted one calls submit and stays open until its answer comes, so an
// error can still point at one of its fields (failForm). submit may be nil
// on a screen that opens no form.
func (d *dialogs) dialogKey(msg tea.KeyMsg, submit func() tea.Cmd) (tea.Cmd, bool) {
	switch {
	case d.ask != nil:
		done, cmd := d.ask.handle(msg)
		if done {
			d.ask = nil
		}
		return cmd, true
	case d.form != nil:
		res, cmd := d.form.update(msg)
		switch res {
		case formCancel:
			d.form = nil
		case formSubmit:
			if submit != nil {
				return submit(), true
			}
		}
		return cmd, true
	}
	return nil, false
}

// failForm shows err and, when it names a field of the open form, moves
// the cursor there.
func (d *dialogs) failForm(s *session, err error) tea.Cmd {
	s.fail(err)
	if d.form != nil {
		return d.form.focusError(err)
	}
	return nil
}

// --- pages: a list the API hands out a page at a time ---

// pages walks a list the API pages with cursors, forward and back.
type pages struct {
	cursors []string // cursors[i] starts page i
	no      int      // the page shown, from 0
	next    string   // the cursor after the page shown; "" on the last page
}

func newPages() pages { return pages{cursors: []string{""}} }

// first goes back to the first page (a new query).
func (p *pages) first() { p.cursors, p.no = []string{""}, 0 }

// cursor is where the page shown starts.
func (p *pages) cursor() string { return p.cursors[p.no] }

// forward moves to the next page; false on the last one.
func (p *pages) forward() bool {
	if p.next == "" {
		return false
	}
	p.cursors = append(p.cursors[:p.no+1], p.next)
	p.no++
	return true
}

// back moves to the previous page; false on the first one.
func (p *pages) back() bool {
	if p.no == 0 {
		return false
	}
	p.no--
	return true
}

// --- durations, typed as in the config file ---

// maxRotateGrace is the API's bound on the rotate-secret grace period.
const maxRotateGrace = 7 * 24 * time.Hour

// fmtDuration writes d as the config file does: "24h", "90m", "1h30m".
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// parseGrace reads a grace period typed as a Go duration ("24h", "90m",
// "0"); field names it in the error.
func parseGrace(field, text string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(text))
	if err != nil || d < 0 || d > maxRotateGrace {
		return 0, app.Errorf(app.CodeValidation, "%s: must be a duration from 0 to %s, such as 24h or 90m (got %q)",
			field, fmtDuration(maxRotateGrace), strings.TrimSpace(text))
	}
	return d, nil
}
