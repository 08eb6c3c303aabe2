package tui

import (
	"context"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"gatehouse/app"
)

// tenants lists the organization's tenants: create, edit the redirect URL
// and allowed return URLs, delete with confirmation.
type tenants struct {
	s       *session
	list    []app.TenantView
	pick    picker
	editing string // the tenant being edited; "" while creating
	dialogs
}

type tenantsMsg struct {
	org  string
	list []app.TenantView
	err  error
}

type tenantSavedMsg struct {
	t       app.TenantView
	created bool
	err     error
}

type tenantDeletedMsg struct {
	id  string
	err error
}

func newTenants(s *session) *tenants {
	return &tenants{s: s, pick: newPicker("no tenants yet: press n to create one")}
}

func (t *tenants) title() string { return "Tenants" }

func (t *tenants) capturing() bool { return t.dialogOpen() || t.pick.filtering }

func (t *tenants) keys() keyMap {
	if km, ok := t.dialogKeys(); ok {
		return km
	}
	if t.pick.filtering {
		return filterKeys
	}
	return keyMap{
		short: []key.Binding{kNew, kEdit, kDelete, kSearch, kCopy},
		full:  [][]key.Binding{{kUp, kDown, kTop, kBottom}, {kNew, kEdit, kDelete}, {kSearch, kRefresh, kCopy}},
	}
}

func (t *tenants) load() tea.Cmd {
	s := t.s
	return s.orgCall("loading tenants", func(ctx context.Context, org string) tea.Msg {
		list, err := s.admin.ListTenants(ctx, s.actor, org)
		return tenantsMsg{org: org, list: list, err: err}
	})
}

func (t *tenants) setList(list []app.TenantView) {
	t.list = list
	t.s.tenants = list
	cells := make([][]string, len(list))
	match := make([]string, len(list))
	for i, tn := range list {
		cells[i] = []string{tn.ID, tn.Name, tn.RedirectURL}
		match[i] = tn.ID + " " + tn.Name + " " + tn.RedirectURL
	}
	t.pick.setTable(tenantCols, cells, match)
}

var tenantCols = []column{{title: "ID", min: 20, grow: 1}, {title: "NAME", min: 22, grow: 2}, {title: "REDIRECT URL", min: 20, grow: 3}}

func (t *tenants) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tenantsMsg:
		if msg.err != nil {
			t.s.fail(msg.err)
			return nil
		}
		if msg.org == t.s.org {
			t.setList(msg.list)
		}
	case tenantSavedMsg:
		if msg.err != nil {
			return t.failForm(t.s, msg.err)
		}
		t.form = nil
		verb := "updated"
		if msg.created {
			verb = "created"
		}
		t.s.note("tenant %s %s", msg.t.ID, verb)
		id := msg.t.ID
		return tea.Sequence(t.load(), func() tea.Msg { return selectTenantMsg{id} })
	case selectTenantMsg:
		t.pick.selectWhere(func(i int) bool { return t.list[i].ID == msg.id })
	case tenantDeletedMsg:
		if msg.err != nil {
			t.s.fail(msg.err)
			return nil
		}
		t.s.note("tenant %s deleted", msg.id)
		return t.load()
	case tea.KeyMsg:
		return t.key(msg)
	}
	return nil
}

type selectTenantMsg struct{ id string }

func (t *tenants) key(msg tea.KeyMsg) tea.Cmd {
	if cmd, open := t.dialogKey(msg, t.save); open {
		return cmd
	}
	if used, cmd := t.pick.handle(msg); used {
		return cmd
	}
	sel := t.pick.selected()
	switch {
	case key.Matches(msg, kNew):
		t.editing = ""
		t.form = newForm("New tenant", "Return URLs: comma-separated; empty = only the redirect URL.").
			add("id", "", "optional, e.g. t1").named("id").
			add("name", "", "e.g. Contoso").named("name").
			add("redirect URL", "", "e.g. https://dashboard.example/contoso").named("redirect_url").
			add("allowed return URLs", "", "e.g. https://dashboard.example/contoso/").named("allowed_return_urls")
	case key.Matches(msg, kEdit) || key.Matches(msg, kOpen):
		if sel < 0 {
			return nil
		}
		tn := t.list[sel]
		t.editing = tn.ID
		t.form = newForm("Edit tenant "+tn.ID, "Return URLs: comma-separated; empty = only the redirect URL.").
			add("name", tn.Name, "").named("name").
			add("redirect URL", tn.RedirectURL, "").named("redirect_url").
			add("allowed return URLs", strings.Join(tn.AllowedReturnURLs, ", "), "only the redirect URL").named("allowed_return_urls")
	case key.Matches(msg, kDelete):
		if sel < 0 {
			return nil
		}
		tn := t.list[sel]
		s := t.s
		t.ask = s.confirmCall(fmt.Sprintf("Delete tenant %q (%s)? A tenant that still has users cannot be deleted.", tn.Name, tn.ID),
			"deleting tenant", func(ctx context.Context, org string) tea.Msg {
				return tenantDeletedMsg{id: tn.ID, err: s.admin.DeleteTenant(ctx, s.actor, org, tn.ID)}
			})
	case key.Matches(msg, kCopy):
		if sel >= 0 {
			t.s.copy("tenant id "+t.list[sel].ID, t.list[sel].ID)
		}
	case key.Matches(msg, kRefresh):
		return t.load()
	}
	return nil
}

func (t *tenants) save() tea.Cmd {
	s, f, org := t.s, t.form, t.s.org
	if t.editing == "" {
		in := app.TenantInput{ID: strings.TrimSpace(f.value(0)), Name: f.value(1), RedirectURL: strings.TrimSpace(f.value(2)),
			AllowedReturnURLs: parseList(f.value(3))}
		return s.call("creating tenant", func(ctx context.Context) tea.Msg {
			tn, err := s.admin.CreateTenant(ctx, s.actor, org, in)
			return tenantSavedMsg{t: tn, created: true, err: err}
		})
	}
	id := t.editing
	p := app.TenantPatch{Name: app.Val(f.value(0)), RedirectURL: app.Val(strings.TrimSpace(f.value(1))),
		AllowedReturnURLs: app.Val(parseList(f.value(2)))}
	return s.call("saving tenant", func(ctx context.Context) tea.Msg {
		tn, err := s.admin.UpdateTenant(ctx, s.actor, org, id, p)
		return tenantSavedMsg{t: tn, err: err}
	})
}

func (t *tenants) view(width, height int) string {
	if t.form != nil {
		return t.form.view(width)
	}
	if t.s.org == "" {
		return st.dim.Render("No organization yet: create one on the Overview screen (1, then o).")
	}
	detail := ""
	if i := t.pick.selected(); i >= 0 {
		tn := t.list[i]
		urls := "only the redirect URL"
		if len(tn.AllowedReturnURLs) > 0 {
			urls = strings.Join(tn.AllowedReturnURLs, ", ")
		}
		detail = fmt.Sprintf("%s %s · %s\n%s %s\n%s %s", st.label.Render("tenantId"), tn.ID, tn.Name,
			st.label.Render("redirect     "), orDash(tn.RedirectURL), st.label.Render("return URLs  "), urls)
	}
	if t.ask != nil {
		return t.ask.view(width) + "\n\n" + detail
	}
	listH := max(1, height-4)
	return t.pick.view(width, listH) + "\n\n" + detail
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
