package tui

import (
	"context"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"gatehouse/app"
	"gatehouse/storage"
)

// userCountCap bounds how many users the overview counts page by page.
const userCountCap = 20000

// overview shows the organization and tenant IDs to hand to partners, the
// counts and the server's health.
type overview struct {
	s       *session
	orgs    []storage.Org
	orgPick picker
	health  app.Health
	counts  overviewCounts
	loaded  bool
	dialogs // the new-organization form
}

type overviewCounts struct {
	tenants, partners, active, keys, users int
	moreUsers                              bool
}

type overviewMsg struct {
	orgs    []storage.Org
	health  app.Health
	counts  overviewCounts
	tenants []app.TenantView
	err     error
}

type orgCreatedMsg struct {
	org storage.Org
	err error
}

func newOverview(s *session) *overview {
	return &overview{s: s, orgPick: newPicker("no organizations")}
}

func (o *overview) title() string { return "Overview" }

func (o *overview) capturing() bool { return o.dialogOpen() }

func (o *overview) keys() keyMap {
	if km, ok := o.dialogKeys(); ok {
		return km
	}
	return keyMap{
		short: []key.Binding{kSelectOrg, kNewOrg, kCopyOrg, kRefresh},
		full:  [][]key.Binding{{kUp, kDown, kSelectOrg}, {kNewOrg, kRefresh}, {kCopyOrg, kCopyTenant}},
	}
}

func (o *overview) load() tea.Cmd {
	s := o.s
	org := s.org
	return s.call("loading overview", func(ctx context.Context) tea.Msg {
		var out overviewMsg
		if out.health, out.err = s.admin.Health(ctx); out.err != nil {
			return out
		}
		if out.orgs, out.err = s.admin.ListOrgs(ctx, s.actor); out.err != nil {
			return out
		}
		if org == "" && len(out.orgs) > 0 {
			org = out.orgs[0].ID
		}
		if org == "" {
			return out
		}
		if out.tenants, out.err = s.admin.ListTenants(ctx, s.actor, org); out.err != nil {
			return out
		}
		out.counts.tenants = len(out.tenants)
		ps, err := s.admin.ListPartners(ctx, s.actor, org, nil)
		if err != nil {
			out.err = err
			return out
		}
		out.counts.partners = len(ps)
		for _, p := range ps {
			if p.Active {
				out.counts.active++
			}
			ks, err := s.admin.ListKeys(ctx, s.actor, org, p.ID)
			if err != nil {
				out.err = err
				return out
			}
			out.counts.keys += len(ks)
		}
		cursor := ""
		for {
			page, err := s.admin.ListUsers(ctx, s.actor, org, "", "", 500, cursor)
			if err != nil {
				out.err = err
				return out
			}
			out.counts.users += len(page.Users)
			if page.NextCursor == "" {
				break
			}
			if out.counts.users >= userCountCap {
				out.counts.moreUsers = true
				break
			}
			cursor = page.NextCursor
		}
		return out
	})
}

func (o *overview) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case overviewMsg:
		if msg.err != nil {
			o.s.fail(msg.err)
		}
		o.loaded = true
		o.health, o.counts = msg.health, msg.counts
		o.setOrgs(msg.orgs)
		if msg.tenants != nil {
			o.s.tenants = msg.tenants
		}
	case orgsMsg:
		if msg.err == nil {
			o.setOrgs(msg.orgs)
		}
	case orgCreatedMsg:
		if msg.err != nil {
			return o.failForm(o.s, msg.err)
		}
		o.form = nil
		o.s.note("organization %s created", msg.org.ID)
		o.s.org = msg.org.ID
		return tea.Batch(func() tea.Msg { return orgChangedMsg{} }, o.load())
	case tea.KeyMsg:
		return o.key(msg)
	}
	return nil
}

func (o *overview) setOrgs(orgs []storage.Org) {
	if orgs == nil {
		return
	}
	o.orgs = orgs
	rows := make([]string, len(orgs))
	match := make([]string, len(orgs))
	for i, org := range orgs {
		mark := " "
		if org.ID == o.s.org {
			mark = "●"
		}
		rows[i] = fmt.Sprintf("%s %-24s %s", mark, org.ID, org.Name)
		match[i] = org.ID + " " + org.Name
	}
	o.orgPick.set("", rows, match)
}

func (o *overview) key(msg tea.KeyMsg) tea.Cmd {
	if cmd, open := o.dialogKey(msg, o.createOrg); open {
		return cmd
	}
	switch {
	case key.Matches(msg, kNewOrg):
		o.form = newForm("New organization", "The operator creates organizations; leave the id empty for a generated one.").
			add("id", "", "optional, e.g. acme").named("id").add("name", "", "e.g. Acme MSSP").named("name")
		return nil
	case key.Matches(msg, kRefresh):
		return o.load()
	case key.Matches(msg, kCopyOrg):
		o.s.copy("organization id "+o.s.org, o.s.org)
		return nil
	case key.Matches(msg, kCopyTenant):
		// The tenant ID partners need most: the first; the Tenants screen (2) copies any.
		if len(o.s.tenants) > 0 {
			id := o.s.tenants[0].ID
			o.s.copy("tenant id "+id, id)
		}
		return nil
	case key.Matches(msg, kSelectOrg):
		if i := o.orgPick.selected(); i >= 0 && o.orgs[i].ID != o.s.org {
			o.s.org = o.orgs[i].ID
			o.s.tenants = nil
			o.s.note("now working in organization %s", o.s.org)
			o.setOrgs(o.orgs)
			return tea.Batch(func() tea.Msg { return orgChangedMsg{} }, o.load())
		}
		return nil
	}
	_, cmd := o.orgPick.handle(msg)
	return cmd
}

func (o *overview) createOrg() tea.Cmd {
	in := app.OrgInput{ID: strings.TrimSpace(o.form.value(0)), Name: o.form.value(1)}
	s := o.s
	return s.call("creating organization", func(ctx context.Context) tea.Msg {
		org, err := s.admin.CreateOrg(ctx, s.actor, in)
		return orgCreatedMsg{org: org, err: err}
	})
}

func (o *overview) view(width, height int) string {
	if o.form != nil {
		return o.form.view(width)
	}
	if !o.loaded {
		return st.dim.Render("loading…")
	}
	var b strings.Builder
	if len(o.orgs) == 0 {
		b.WriteString(st.title.Render("No organization yet.") + "\n\n")
		b.WriteString("Press " + st.key.Render("o") + " to create the first one; then add tenants (2) and\n")
		b.WriteString("register a partner (3).\n\n")
	} else {
		b.WriteString(st.title.Render("Organization") + "  " + st.dim.Render("hand these IDs to partners") + "\n")
		b.WriteString(fmt.Sprintf("  %s  %s\n", st.label.Render("organizationId"), o.s.org))
		b.WriteString(fmt.Sprintf("  %s  %s\n", st.label.Render("name          "), o.s.orgName))
		b.WriteString("\n" + st.title.Render("Tenants") + "\n")
		if len(o.s.tenants) == 0 {
			b.WriteString(st.dim.Render("  none yet: create one on the Tenants screen (2)") + "\n")
		}
		shown := 0
		room := max(1, height-14-min(len(o.orgs), 4))
		for _, t := range o.s.tenants {
			if shown == room {
				b.WriteString(st.dim.Render(fmt.Sprintf("  … and %d more", len(o.s.tenants)-shown)) + "\n")
				break
			}
			b.WriteString(fmt.Sprintf("  %s  %s\n", cell("tenantId "+t.ID, 34), t.Name))
			shown++
		}
		users := fmt.Sprintf("%d", o.counts.users)
		if o.counts.moreUsers {
			users += "+"
		}
		b.WriteString("\n" + st.title.Render("Counts") + "  " + fmt.Sprintf("%d tenants · %d partners (%d active) · %d keys · %s users",
			o.counts.tenants, o.counts.partners, o.counts.active, o.counts.keys, users) + "\n")
	}
	health := st.ok.Render("✓ " + o.health.Status)
	if o.health.Status != "ok" {
		health = st.err.Render("✗ " + o.health.Status)
	}
	b.WriteString(st.title.Render("Server") + "  " + health + fmt.Sprintf(" · database %s · encryption keys %s · version %s",
		o.health.Database, o.health.EncryptionKeys, o.health.Version) + "\n")
	if len(o.orgs) > 1 {
		b.WriteString("\n" + st.title.Render("Organizations") + "  " + st.dim.Render("enter switches") + "\n")
		used := strings.Count(b.String(), "\n")
		b.WriteString(o.orgPick.view(width, max(2, height-used)))
	}
	return b.String()
}
