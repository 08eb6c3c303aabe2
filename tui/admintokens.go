package tui

import (
	"context"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"gatehouse/app"
)

// adminTokens lists the organization's bearer tokens for the TCP admin API,
// creates one (its value shown once, like a consumer secret) and deletes
// one after a confirmation that names it.
type adminTokens struct {
	s    *session
	list []app.AdminTokenView
	pick picker
	dialogs
	// created holds the new token's value until it is dismissed; nothing
	// else in the console ever holds one.
	created *app.AdminTokenView
}

type adminTokensMsg struct {
	org  string
	list []app.AdminTokenView
	err  error
}

type adminTokenCreatedMsg struct {
	t   app.AdminTokenView
	err error
}

type adminTokenDeletedMsg struct {
	t   app.AdminTokenView
	err error
}

func newAdminTokens(s *session) *adminTokens {
	return &adminTokens{s: s, pick: newPicker("no admin tokens: press n to create one for the TCP admin API")}
}

func (a *adminTokens) title() string { return "Admin tokens" }

func (a *adminTokens) capturing() bool {
	return a.dialogOpen() || a.created != nil || a.pick.filtering
}

func (a *adminTokens) keys() keyMap {
	if km, ok := a.dialogKeys(); ok {
		return km
	}
	switch {
	case a.created != nil:
		return keyMap{short: []key.Binding{kCopyToken, kDismiss}, input: true}
	case a.pick.filtering:
		return filterKeys
	}
	return keyMap{
		short: []key.Binding{kNew, kDelete, kCopy, kSearch},
		full:  [][]key.Binding{{kUp, kDown, kSearch, kRefresh}, {kNew, kDelete, kCopy}},
	}
}

func (a *adminTokens) load() tea.Cmd {
	s := a.s
	return s.orgCall("loading admin tokens", func(ctx context.Context, org string) tea.Msg {
		list, err := s.admin.ListAdminTokens(ctx, s.actor, org)
		return adminTokensMsg{org: org, list: list, err: err}
	})
}

var adminTokenCols = []column{
	{title: "LABEL", min: 16, grow: 3}, {title: "ROLE", min: 8}, {title: "ID", min: 14, grow: 1},
	{title: "CREATED (UTC)", min: 16}, {title: "LAST USED", min: 16},
}

func (a *adminTokens) setList(list []app.AdminTokenView) {
	a.list = list
	cells := make([][]string, len(list))
	match := make([]string, len(list))
	for i, t := range list {
		cells[i] = []string{orDash(t.Label), t.Role, t.ID, fmtTime(t.CreatedAt), fmtOptTime(t.LastUsedAt)}
		match[i] = t.Label + " " + t.Role + " " + t.ID
	}
	a.pick.setTable(adminTokenCols, cells, match)
}

func (a *adminTokens) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case orgChangedMsg:
		a.form, a.ask, a.created = nil, nil, nil
	case adminTokensMsg:
		if msg.err != nil {
			a.s.fail(msg.err)
		} else if msg.org == a.s.org {
			a.setList(msg.list)
		}
	case adminTokenCreatedMsg:
		if msg.err != nil {
			return a.failForm(a.s, msg.err)
		}
		a.form = nil
		t := msg.t
		a.created = &t
		a.s.note("admin token %s created", orDash(t.Label))
		return a.load()
	case adminTokenDeletedMsg:
		if msg.err != nil {
			a.s.fail(msg.err)
			return nil
		}
		a.s.note("admin token %s deleted: requests bearing it are refused from now on", orDash(msg.t.Label))
		return a.load()
	case tea.KeyMsg:
		return a.key(msg)
	}
	return nil
}

func (a *adminTokens) key(msg tea.KeyMsg) tea.Cmd {
	if a.created != nil {
		switch {
		case key.Matches(msg, kCopyToken):
			a.s.copy("the admin token", a.created.Token)
		case key.Matches(msg, kDismiss):
			a.created = nil // the value leaves memory here
		}
		return nil
	}
	if cmd, open := a.dialogKey(msg, a.submit); open {
		return cmd
	}
	if used, cmd := a.pick.handle(msg); used {
		return cmd
	}
	sel := a.pick.selected()
	switch {
	case key.Matches(msg, kNew):
		a.form = newForm("New admin token", "For the TCP admin API ([admin] listen): admin may change this organization, readOnly may only read.").
			add("role", "readOnly", "admin | readOnly").named("role").
			add("label", "", "who or what uses it, e.g. ci-deploy").named("label")
	case key.Matches(msg, kDelete):
		if sel >= 0 {
			a.askDelete(a.list[sel])
		}
	case key.Matches(msg, kCopy):
		if sel >= 0 {
			a.s.copy("token id "+a.list[sel].ID, a.list[sel].ID)
		}
	case key.Matches(msg, kRefresh):
		return a.load()
	}
	return nil
}

func (a *adminTokens) askDelete(t app.AdminTokenView) {
	s := a.s
	a.ask = s.confirmCall(
		fmt.Sprintf("Delete admin token %q (%s, %s)? Whatever uses it is refused from the next request on.", orDash(t.Label), t.Role, t.ID),
		"deleting admin token", func(ctx context.Context, org string) tea.Msg {
			return adminTokenDeletedMsg{t: t, err: s.admin.RevokeAdminToken(ctx, s.actor, org, t.ID)}
		})
}

func (a *adminTokens) submit() tea.Cmd {
	s, org := a.s, a.s.org
	in := app.AdminTokenInput{Role: strings.TrimSpace(a.form.value(0)), Label: a.form.value(1)}
	return s.call("creating admin token", func(ctx context.Context) tea.Msg {
		t, err := s.admin.CreateAdminToken(ctx, s.actor, org, in)
		return adminTokenCreatedMsg{t: t, err: err}
	})
}

func (a *adminTokens) view(width, height int) string {
	if a.created != nil {
		t := a.created
		body := st.warn.Render("⚠ Copy the token now. It will never be shown again.") + "\n\n" +
			fmt.Sprintf("label  %s\nrole   %s\ntoken  %s", orDash(t.Label), t.Role, st.secret.Render(t.Token)) + "\n\n" +
			st.dim.Render("Gatehouse keeps only its hash. Send it as Authorization: Bearer <token>.")
		return st.title.Render("Admin token created") + "\n\n" + st.box.Width(min(width-2, 76)).Render(body) + "\n\n" +
			"Press " + st.key.Render("c") + " to copy it, " + st.key.Render("enter") + " once it is stored safely."
	}
	if a.form != nil {
		return a.form.view(width)
	}
	if a.s.org == "" {
		return st.dim.Render("No organization yet: create one on the Overview screen (1, then o).")
	}
	if a.ask != nil {
		return a.ask.view(width)
	}
	return st.dim.Render("Bearer tokens for the TCP admin API of organization "+a.s.org+"; the socket needs none.") + "\n" +
		a.pick.view(width, max(1, height-1))
}
