package tui

import (
	"context"
	"fmt"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"gatehouse/app"
)

// usersPageSize is how many users one page holds; the list scrolls within it.
const usersPageSize = 100

// searchDelay is how long typing must pause before the search runs.
const searchDelay = 120 * time.Millisecond

// users searches (as you type) and pages through an organization's users,
// filters by tenant, shows a profile with the Partner SSO field, and deletes
// with a confirmation that names the user.
type users struct {
	s      *session
	search textinput.Model
	typing bool
	tenant string // "" = every tenant
	seq    int    // the newest query; older answers are dropped
	// pending: the search text changed and its query has not started yet.
	pending bool

	page []app.UserView
	pick picker
	pg   pages

	profile *app.UserView
	dialogs // a question only: users are not edited here
}

type usersMsg struct {
	seq  int
	list app.UserList
	err  error
}

type searchTickMsg struct{ seq int }

type userMsg struct {
	u   app.UserView
	err error
}

type userDeletedMsg struct {
	u   app.UserView
	err error
}

func newUsers(s *session) *users {
	in := newInput()
	in.Prompt = "/ "
	in.Placeholder = hint("search by email or name")
	in.CharLimit = 256
	return &users{s: s, search: in, pick: newPicker("no users match"), pg: newPages()}
}

func (u *users) title() string { return "Users" }

func (u *users) capturing() bool { return u.typing || u.dialogOpen() }

func (u *users) keys() keyMap {
	if km, ok := u.dialogKeys(); ok {
		return km
	}
	switch {
	case u.typing:
		return keyMap{short: []key.Binding{kToList, kDone}, input: true}
	case u.profile != nil:
		return keyMap{short: []key.Binding{kDelete, kCopyUser, kBack}}
	}
	return keyMap{
		short: []key.Binding{kSearch, kTenant, kPage, kOpen, kDelete},
		full:  [][]key.Binding{{kUp, kDown, kNextPage, kPrevPage}, {kSearch, kTenant, kBack}, {kOpen, kDelete, kRefresh}},
	}
}

// load reads the first page of the current search.
func (u *users) load() tea.Cmd {
	u.pg.first()
	if u.profile != nil {
		return tea.Batch(u.query(), u.loadProfile(u.profile.ID))
	}
	return u.query()
}

func (u *users) query() tea.Cmd {
	s := u.s
	if s.org == "" {
		return nil
	}
	u.seq++
	seq, org, q, tenant, cursor := u.seq, s.org, u.search.Value(), u.tenant, u.pg.cursor()
	return s.call("searching users", func(ctx context.Context) tea.Msg {
		list, err := s.admin.ListUsers(ctx, s.actor, org, q, tenant, usersPageSize, cursor)
		return usersMsg{seq: seq, list: list, err: err}
	})
}

func (u *users) loadProfile(id string) tea.Cmd {
	s := u.s
	return s.orgCall("loading user", func(ctx context.Context, org string) tea.Msg {
		v, err := s.admin.GetUser(ctx, s.actor, org, id)
		return userMsg{u: v, err: err}
	})
}

func (u *users) setPage(list []app.UserView) {
	u.page = list
	cells := make([][]string, len(list))
	match := make([]string, len(list))
	for i, v := range list {
		sso := "no"
		if v.PartnerSSO {
			sso = "yes"
		}
		tenant := u.s.tenantName(v.TenantID)
		if tenant == "" {
			tenant = v.TenantID
		}
		partner := u.s.partnerName(v.PartnerID)
		if partner == "" {
			partner = orDash(v.PartnerID)
		}
		cells[i] = []string{v.Email, v.Name, tenant, partner, v.Role, sso}
		match[i] = v.Email + " " + v.Name
	}
	u.pick.setTable(userCols, cells, match)
}

// userCols name the tenant and partner rather than show their IDs.
var userCols = []column{{title: "EMAIL", min: 24, grow: 3}, {title: "NAME", min: 14, grow: 2}, {title: "TENANT", min: 12, grow: 1},
	{title: "PARTNER", min: 12, grow: 1}, {title: "ROLE", min: 8}, {title: "SSO", min: 3}}

func (u *users) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case orgChangedMsg:
		u.profile, u.ask, u.tenant = nil, nil, ""
		u.search.SetValue("")
	case usersMsg:
		if msg.seq != u.seq {
			return nil // a newer search is under way
		}
		if msg.err != nil {
			u.s.fail(msg.err)
			return nil
		}
		u.pg.next = msg.list.NextCursor
		u.pick.cursor, u.pick.offset = 0, 0
		u.setPage(msg.list.Users)
	case searchTickMsg:
		if msg.seq == u.seq {
			u.pending = false
			u.pg.first()
			return u.query()
		}
	case userMsg:
		if msg.err != nil {
			u.s.fail(msg.err)
			u.profile = nil
			return nil
		}
		v := msg.u
		u.profile = &v
	case userDeletedMsg:
		if msg.err != nil {
			u.s.fail(msg.err)
			return nil
		}
		u.profile = nil
		u.s.note("user %s deleted; its sessions ended", msg.u.Email)
		return u.query()
	case tea.KeyMsg:
		return u.key(msg)
	}
	return nil
}

func (u *users) key(msg tea.KeyMsg) tea.Cmd {
	if cmd, open := u.dialogKey(msg, nil); open {
		return cmd
	}
	if u.typing {
		switch msg.String() {
		case "enter", "esc":
			u.typing = false
			u.search.Blur()
			if u.pending {
				// Do not wait for the pause: search now.
				u.pending = false
				u.pg.first()
				return u.query()
			}
			return nil
		case "up", "down":
			u.typing = false
			u.search.Blur()
			u.pick.handle(msg)
			return nil
		}
		before := u.search.Value()
		var cmd tea.Cmd
		u.search, cmd = u.search.Update(msg)
		if u.search.Value() == before {
			return cmd
		}
		// As-you-type: a short pause, then one query; older answers are dropped.
		u.seq++
		u.pending = true
		seq := u.seq
		return tea.Batch(cmd, tea.Tick(searchDelay, func(time.Time) tea.Msg { return searchTickMsg{seq} }))
	}
	if u.profile != nil {
		switch {
		case key.Matches(msg, kBack):
			u.profile = nil
		case key.Matches(msg, kDelete):
			u.askDelete(*u.profile)
		case key.Matches(msg, kCopyUser):
			u.s.copy("user id "+u.profile.ID, u.profile.ID)
		}
		return nil
	}
	switch {
	case key.Matches(msg, kSearch):
		u.typing = true
		return u.search.Focus()
	case key.Matches(msg, kBack):
		if u.search.Value() != "" {
			u.search.SetValue("")
			u.pg.first()
			return u.query()
		}
	case key.Matches(msg, kTenant):
		u.tenant = nextTenant(u.s.tenants, u.tenant)
		u.pg.first()
		return u.query()
	case key.Matches(msg, kNextPage):
		if !u.pg.forward() {
			u.s.note("this is the last page")
			return nil
		}
		return u.query()
	case key.Matches(msg, kPrevPage):
		if u.pg.back() {
			return u.query()
		}
	case key.Matches(msg, kOpen):
		if i := u.pick.selected(); i >= 0 {
			v := u.page[i]
			u.profile = &v
			return u.loadProfile(v.ID)
		}
	case key.Matches(msg, kDelete):
		if i := u.pick.selected(); i >= 0 {
			u.askDelete(u.page[i])
		}
	case key.Matches(msg, kRefresh):
		return u.query()
	default:
		u.pick.handle(msg)
	}
	return nil
}

// nextTenant cycles the filter: every tenant, then each in turn.
func nextTenant(ts []app.TenantView, cur string) string {
	if cur == "" {
		if len(ts) > 0 {
			return ts[0].ID
		}
		return ""
	}
	for i, t := range ts {
		if t.ID == cur && i+1 < len(ts) {
			return ts[i+1].ID
		}
	}
	return ""
}

func (u *users) askDelete(v app.UserView) {
	s := u.s
	who := v.Email
	if v.Name != "" {
		who = v.Name + " <" + v.Email + ">"
	}
	u.ask = s.confirmCall(fmt.Sprintf("Delete user %s (%s)? The user's sessions end at once.", who, v.ID),
		"deleting user", func(ctx context.Context, org string) tea.Msg {
			return userDeletedMsg{u: v, err: s.admin.DeleteUser(ctx, s.actor, org, v.ID)}
		})
}

func (u *users) view(width, height int) string {
	if u.s.org == "" {
		return st.dim.Render("No organization yet: create one on the Overview screen (1, then o).")
	}
	if u.ask != nil {
		return u.ask.view(width)
	}
	if u.profile != nil {
		return u.profileView()
	}
	tenant := "all tenants"
	if u.tenant != "" {
		tenant = "tenant " + named(u.s.tenantName(u.tenant), u.tenant)
	}
	from := u.pg.no*usersPageSize + 1
	more := ""
	if u.pg.next != "" {
		more = " · ] next"
	}
	info := fmt.Sprintf("%s · page %d (%d–%d)%s", tenant, u.pg.no+1, from, from+len(u.page)-1, more)
	if len(u.page) == 0 {
		info = fmt.Sprintf("%s · page %d", tenant, u.pg.no+1)
	}
	searchLine := u.search.View()
	if !u.typing && u.search.Value() == "" {
		searchLine = st.dim.Render("/ to search by email or name")
	}
	return searchLine + "\n" + st.dim.Render(info) + "\n" + u.pick.view(width, max(1, height-2))
}

func (u *users) profileView() string {
	v := u.profile
	sso := "no — signs in with a password, not through a partner"
	if v.PartnerSSO {
		sso = st.ok.Render("yes") + " — signs in only through a partner"
	}
	partner := orDash(named(u.s.partnerName(v.PartnerID), v.PartnerID))
	sessions := "…"
	if v.Sessions != nil {
		sessions = fmt.Sprintf("%d active", *v.Sessions)
	}
	tenant := named(u.s.tenantName(v.TenantID), v.TenantID)
	row := func(label, value string) string { return "  " + st.label.Render(cell(label, 14)) + value + "\n" }
	return st.title.Render(orDash(v.Name)) + " " + st.dim.Render("<"+v.Email+">") + "\n\n" +
		row("user id", v.ID) +
		row("Partner SSO", sso) +
		row("partner", partner) +
		row("tenant", tenant) +
		row("role", v.Role) +
		row("last sign-in", fmtOptTime(v.LastSignInAt)) +
		row("sessions", sessions) +
		row("created", fmtTime(v.CreatedAt))
}
