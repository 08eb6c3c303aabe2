package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"gatehouse/app"
)

// partners registers partners (the consumer secret is shown once), edits
// their policies, rotates secrets, (de)activates them and manages their
// public keys.
type partners struct {
	s    *session
	list []app.PartnerView
	pick picker

	// detail: one partner and its keys
	open    *app.PartnerView
	keyList []app.KeyView
	keyPick picker

	dialogs
	formKind string // "register", "policies", "key", "rotate"
	secret   *secretView
}

// secretView is the only place a consumer secret is ever shown; it is
// dropped from memory when dismissed.
type secretView struct {
	title, partner, consumerKey, secret, note string
}

type partnersMsg struct {
	org  string
	list []app.PartnerView
	err  error
}

type partnerMsg struct {
	p    app.PartnerView
	keys []app.KeyView
	err  error
}

type partnerSavedMsg struct {
	p       app.PartnerView
	created bool
	err     error
}

type keyAddedMsg struct {
	k   app.KeyView
	err error
}

type keyDeletedMsg struct {
	kid string
	err error
}

type rotatedMsg struct {
	p   app.PartnerView
	res app.RotateResult
	err error
}

type partnerChangedMsg struct {
	p   app.PartnerView
	msg string
	err error
}

type partnerDeletedMsg struct {
	id, name string
	err      error
}

func newPartners(s *session) *partners {
	return &partners{s: s, pick: newPicker("no partners yet: press n to register one"),
		keyPick: newPicker("no keys yet: press a to add the partner's public key")}
}

func (p *partners) title() string { return "Partners" }

func (p *partners) capturing() bool {
	return p.dialogOpen() || p.secret != nil || p.pick.filtering || p.keyPick.filtering
}

func (p *partners) keys() keyMap {
	if km, ok := p.dialogKeys(); ok {
		return km
	}
	switch {
	case p.secret != nil:
		return keyMap{short: []key.Binding{kCopySecret, kCopyKey, kDismiss}, input: true}
	case p.pick.filtering, p.keyPick.filtering:
		return filterKeys
	case p.open != nil:
		return keyMap{
			short: []key.Binding{kAddKey, kRemoveKey, kPolicies, kRotate, kCopy},
			full:  [][]key.Binding{{kUp, kDown, kBack, kRefresh}, {kAddKey, kRemoveKey, kDelete, kCopy}, {kPolicies, kRotate, kToggle, kCopyKey}},
		}
	}
	return keyMap{
		short: []key.Binding{kRegister, kOpen, kToggle, kSearch, kCopy},
		full:  [][]key.Binding{{kUp, kDown, kSearch, kRefresh, kCopy}, {kRegister, kOpen, kToggle, kDelete, kCopyKey}},
	}
}

func (p *partners) load() tea.Cmd {
	s := p.s
	cmd := s.orgCall("loading partners", func(ctx context.Context, org string) tea.Msg {
		list, err := s.admin.ListPartners(ctx, s.actor, org, nil)
		return partnersMsg{org: org, list: list, err: err}
	})
	if p.open != nil {
		cmd = tea.Batch(cmd, p.loadDetail(p.open.ID))
	}
	return cmd
}

func (p *partners) loadDetail(id string) tea.Cmd {
	s := p.s
	return s.orgCall("loading partner", func(ctx context.Context, org string) tea.Msg {
		v, err := s.admin.GetPartner(ctx, s.actor, org, id)
		if err != nil {
			return partnerMsg{err: err}
		}
		keys, err := s.admin.ListKeys(ctx, s.actor, org, id)
		return partnerMsg{p: v, keys: keys, err: err}
	})
}

var (
	partnerCols = []column{{title: "NAME", min: 20, grow: 2}, {title: "ID", min: 24}, {title: "CONSUMER KEY", min: 0, grow: 1},
		{title: "STATE", min: 10}, {title: "PROVISIONING", min: 15}}
	keyCols = []column{{title: "KID", min: 22, grow: 2}, {title: "FINGERPRINT", min: 22, grow: 2}, {title: "BITS", min: 4},
		{title: "FROM", min: 4}, {title: "LABEL", min: 0, grow: 1}, {title: "LAST USED", min: 16}}
)

func (p *partners) setList(list []app.PartnerView) {
	p.list = list
	p.s.partners = list
	cells := make([][]string, len(list))
	match := make([]string, len(list))
	for i, v := range list {
		state := "active"
		if !v.Active {
			state = "[inactive]"
		}
		cells[i] = []string{v.Name, v.ID, v.ConsumerKey, state, v.UserProvisioning}
		match[i] = v.Name + " " + v.ID + " " + v.ConsumerKey
	}
	p.pick.setTable(partnerCols, cells, match)
}

func (p *partners) setKeys(keys []app.KeyView) {
	p.keyList = keys
	cells := make([][]string, len(keys))
	match := make([]string, len(keys))
	for i, k := range keys {
		cells[i] = []string{k.Kid, k.Fingerprint, strconv.Itoa(k.Bits), k.Source, k.Label, fmtOptTime(k.LastUsedAt)}
		match[i] = k.Kid + " " + k.Fingerprint + " " + k.Label + " " + k.Source
	}
	p.keyPick.setTable(keyCols, cells, match)
}

func (p *partners) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case orgChangedMsg:
		p.open, p.form, p.ask, p.secret = nil, nil, nil, nil
	case partnersMsg:
		if msg.err != nil {
			p.s.fail(msg.err)
		} else if msg.org == p.s.org {
			p.setList(msg.list)
		}
	case partnerMsg:
		if msg.err != nil {
			p.s.fail(msg.err)
			return nil
		}
		v := msg.p
		p.open = &v
		p.setKeys(msg.keys)
	case partnerSavedMsg:
		if msg.err != nil {
			return p.failForm(p.s, msg.err)
		}
		p.form = nil
		if msg.created {
			p.secret = &secretView{title: "Partner registered", partner: msg.p.Name + " (" + msg.p.ID + ")",
				consumerKey: msg.p.ConsumerKey, secret: msg.p.ConsumerSecret}
			p.s.note("partner %s registered", msg.p.Name)
			v := msg.p
			v.ConsumerSecret = ""
			p.open = &v
			return tea.Batch(p.load(), p.loadDetail(v.ID))
		}
		p.s.note("policies of %s saved", msg.p.Name)
		return p.load()
	case keyAddedMsg:
		if msg.err != nil {
			return p.failForm(p.s, msg.err)
		}
		p.form = nil
		p.s.note("key added: kid %s · %d bits", msg.k.Kid, msg.k.Bits)
		return p.load()
	case keyDeletedMsg:
		if msg.err != nil {
			p.s.fail(msg.err)
			return nil
		}
		p.s.note("key %s removed", msg.kid)
		return p.load()
	case rotatedMsg:
		if msg.err != nil {
			return p.failForm(p.s, msg.err)
		}
		p.form = nil
		note := "The previous secret stopped working now."
		if msg.res.PreviousValidUntil != nil {
			note = "The previous secret keeps working until " + fmtTime(*msg.res.PreviousValidUntil) + " UTC."
		}
		p.secret = &secretView{title: "Consumer secret rotated", partner: msg.p.Name + " (" + msg.p.ID + ")",
			consumerKey: msg.p.ConsumerKey, secret: msg.res.ConsumerSecret, note: note}
		p.s.note("secret of %s rotated", msg.p.Name)
		return p.load()
	case partnerChangedMsg:
		if msg.err != nil {
			p.s.fail(msg.err)
			return nil
		}
		p.s.note("%s", msg.msg)
		return p.load()
	case partnerDeletedMsg:
		if msg.err != nil {
			p.s.fail(msg.err)
			return nil
		}
		p.open = nil
		p.s.note("partner %s deleted", msg.name)
		return p.load()
	case tea.KeyMsg:
		return p.key(msg)
	}
	return nil
}

func (p *partners) key(msg tea.KeyMsg) tea.Cmd {
	if p.secret != nil {
		switch {
		case key.Matches(msg, kCopySecret):
			p.s.copy("the consumer secret", p.secret.secret)
		case key.Matches(msg, kCopyKey):
			p.s.copy("consumer key "+p.secret.consumerKey, p.secret.consumerKey)
		case key.Matches(msg, kDismiss):
			p.secret = nil // the secret leaves memory here
		}
		return nil
	}
	if cmd, open := p.dialogKey(msg, p.submit); open {
		return cmd
	}
	if p.open != nil {
		return p.detailKey(msg)
	}
	if used, cmd := p.pick.handle(msg); used {
		return cmd
	}
	sel := p.pick.selected()
	switch {
	case key.Matches(msg, kRegister):
		p.form, p.formKind = policyForm("Register a partner", nil), "register"
	case key.Matches(msg, kOpen):
		if sel >= 0 {
			v := p.list[sel]
			p.open = &v
			p.setKeys(nil)
			return p.loadDetail(v.ID)
		}
	case key.Matches(msg, kToggle):
		if sel >= 0 {
			return p.toggle(p.list[sel])
		}
	case key.Matches(msg, kDelete):
		if sel >= 0 {
			p.askDelete(p.list[sel])
		}
	case key.Matches(msg, kCopy):
		if sel >= 0 {
			p.s.copy("partner id "+p.list[sel].ID, p.list[sel].ID)
		}
	case key.Matches(msg, kCopyKey):
		if sel >= 0 {
			p.s.copy("consumer key "+p.list[sel].ConsumerKey, p.list[sel].ConsumerKey)
		}
	case key.Matches(msg, kRefresh):
		return p.load()
	}
	return nil
}

func (p *partners) detailKey(msg tea.KeyMsg) tea.Cmd {
	if used, cmd := p.keyPick.handle(msg); used {
		return cmd
	}
	v := *p.open
	s := p.s
	switch {
	case key.Matches(msg, kBack):
		p.open = nil
		return p.load()
	case key.Matches(msg, kAddKey):
		p.formKind = "key"
		p.form = newForm("Add a public key to "+v.Name, "Paste the PEM (SPKI or PKCS#1 RSA public key) or type the path of a .pub file.").
			addArea("public key", "-----BEGIN PUBLIC KEY-----  or  /path/to/partner.pub", 8).named("pem").
			add("label", "", "optional, e.g. 2025 rotation").named("label", "kid")
	case key.Matches(msg, kRemoveKey):
		i := p.keyPick.selected()
		if i < 0 {
			return nil
		}
		k := p.keyList[i]
		p.ask = s.confirmCall(fmt.Sprintf("Remove key %s (%s) from %s? Tokens signed with it stop verifying at once.", k.Kid, k.Fingerprint, v.Name),
			"removing key", func(ctx context.Context, org string) tea.Msg {
				return keyDeletedMsg{kid: k.Kid, err: s.admin.DeleteKey(ctx, s.actor, org, v.ID, k.Kid)}
			})
	case key.Matches(msg, kPolicies):
		p.form, p.formKind = policyForm("Edit "+v.Name, &v), "policies"
	case key.Matches(msg, kRotate):
		p.formKind = "rotate"
		p.form = newForm("Rotate the consumer secret of "+v.Name,
			"A new secret is shown once. The old one keeps working for the grace period (0 = ends now).").
			add("grace period", fmtDuration(app.DefaultRotateGrace), "a duration up to 168h: 24h, 90m, 0").named("grace_period", "grace_period_seconds")
	case key.Matches(msg, kToggle):
		return p.toggle(v)
	case key.Matches(msg, kDelete):
		p.askDelete(v)
	case key.Matches(msg, kCopy):
		p.s.copy("partner id "+v.ID, v.ID)
	case key.Matches(msg, kCopyKey):
		p.s.copy("consumer key "+v.ConsumerKey, v.ConsumerKey)
	case key.Matches(msg, kRefresh):
		return p.load()
	}
	return nil
}

func (p *partners) askDelete(v app.PartnerView) {
	s := p.s
	p.ask = s.confirmCall(
		fmt.Sprintf("Delete partner %q (%s)? Its keys and secret are removed and the sessions it signed in end; its users remain.", v.Name, v.ID),
		"deleting partner", func(ctx context.Context, org string) tea.Msg {
			return partnerDeletedMsg{id: v.ID, name: v.Name, err: s.admin.DeletePartner(ctx, s.actor, org, v.ID)}
		})
}

func (p *partners) toggle(v app.PartnerView) tea.Cmd {
	s := p.s
	org := s.org
	if !v.Active {
		return s.call("reactivating partner", func(ctx context.Context) tea.Msg {
			nv, err := s.admin.ReactivatePartner(ctx, s.actor, org, v.ID)
			return partnerChangedMsg{p: nv, msg: "partner " + v.Name + " reactivated", err: err}
		})
	}
	p.ask = s.confirmCall(fmt.Sprintf("Deactivate partner %q (%s)? Its sign-ins are refused and the sessions it signed in end now.", v.Name, v.ID),
		"deactivating partner", func(ctx context.Context, org string) tea.Msg {
			nv, err := s.admin.DeactivatePartner(ctx, s.actor, org, v.ID)
			return partnerChangedMsg{p: nv, msg: "partner " + v.Name + " deactivated", err: err}
		})
	return nil
}

// policyForm edits a partner's name and policies; orig is nil to register.
// Lists are comma-separated: empty = no restriction, "none" = nothing allowed.
func policyForm(title string, orig *app.PartnerView) *form {
	var v app.PartnerView
	if orig != nil {
		v = *orig
	}
	maxUsers := ""
	if v.MaxUsers != nil {
		maxUsers = strconv.Itoa(*v.MaxUsers)
	}
	prov := v.UserProvisioning
	return newForm(title, "Lists are comma-separated. Empty = no restriction; \"none\" = nothing allowed.").
		add("name", v.Name, "e.g. Acme Portal").named("name").
		add("allowed email domains", policyText(v.AllowedEmailDomains), "e.g. example.com, example.org").named("allowed_email_domains").
		add("allowed source IPs", policyText(v.AllowedSourceIPs), "e.g. 203.0.113.0/24").named("allowed_source_ips").
		add("max users", maxUsers, "no limit").named("max_users").
		add("allowed roles", policyText(v.AllowedRoles), "e.g. admin, readOnly").named("allowed_roles").
		add("allowed tenants", policyText(v.AllowedTenants), "e.g. t1, t2").named("allowed_tenants").
		add("allowed origins", policyText(v.AllowedOrigins), "e.g. https://portal.example.com").named("allowed_origins").
		add("user provisioning", prov, "jit | pre_provisioned | disabled").named("user_provisioning")
}

// policiesFrom reads a policy form; against orig (edit) an unchanged field
// is left out of the patch and an emptied one clears the restriction.
func policiesFrom(f *form, orig *app.PartnerView) (app.PartnerPolicies, error) {
	var pol app.PartnerPolicies
	list := func(i int, was []string) app.Field[[]string] {
		text := strings.TrimSpace(f.value(i))
		switch {
		case orig != nil && text == policyText(was):
			return app.Field[[]string]{}
		case text == "" && orig != nil:
			return app.Null[[]string]()
		case text == "":
			return app.Field[[]string]{}
		}
		return app.Val(parseList(text))
	}
	var o app.PartnerView
	if orig != nil {
		o = *orig
	}
	pol.AllowedEmailDomains = list(1, o.AllowedEmailDomains)
	pol.AllowedSourceIPs = list(2, o.AllowedSourceIPs)
	pol.AllowedRoles = list(4, o.AllowedRoles)
	pol.AllowedTenants = list(5, o.AllowedTenants)
	pol.AllowedOrigins = list(6, o.AllowedOrigins)
	was := ""
	if o.MaxUsers != nil {
		was = strconv.Itoa(*o.MaxUsers)
	}
	switch text := strings.TrimSpace(f.value(3)); {
	case orig != nil && text == was:
	case text == "":
		if orig != nil {
			pol.MaxUsers = app.Null[int]()
		}
	default:
		n, err := strconv.Atoi(text)
		if err != nil {
			return pol, app.Errorf(app.CodeValidation, "max_users: must be an integer")
		}
		pol.MaxUsers = app.Val(n)
	}
	if text := strings.TrimSpace(f.value(7)); text != "" && (orig == nil || text != o.UserProvisioning) {
		pol.UserProvisioning = app.Val(text)
	}
	return pol, nil
}

func (p *partners) submit() tea.Cmd {
	s, f, org := p.s, p.form, p.s.org
	switch p.formKind {
	case "register":
		pol, err := policiesFrom(f, nil)
		if err != nil {
			return p.failForm(p.s, err)
		}
		in := app.PartnerInput{Name: f.value(0), PartnerPolicies: pol}
		return s.call("registering partner", func(ctx context.Context) tea.Msg {
			v, err := s.admin.CreatePartner(ctx, s.actor, org, in)
			return partnerSavedMsg{p: v, created: true, err: err}
		})
	case "policies":
		orig := *p.open
		pol, err := policiesFrom(f, &orig)
		if err != nil {
			return p.failForm(p.s, err)
		}
		patch := app.PartnerPatch{PartnerPolicies: pol}
		if name := f.value(0); name != orig.Name {
			patch.Name = app.Val(name)
		}
		return s.call("saving policies", func(ctx context.Context) tea.Msg {
			v, err := s.admin.UpdatePartner(ctx, s.actor, org, orig.ID, patch)
			return partnerSavedMsg{p: v, err: err}
		})
	case "key":
		id := p.open.ID
		raw, label := f.value(0), strings.TrimSpace(f.value(1))
		return s.call("uploading key", func(ctx context.Context) tea.Msg {
			pem, err := readPEM(raw)
			if err != nil {
				return keyAddedMsg{err: err}
			}
			k, err := s.admin.AddKey(ctx, s.actor, org, id, app.KeyInput{PEM: pem, Label: label})
			return keyAddedMsg{k: k, err: err}
		})
	case "rotate":
		v := *p.open
		grace, err := parseGrace("grace_period", f.value(0))
		if err != nil {
			return p.failForm(p.s, err)
		}
		return s.call("rotating secret", func(ctx context.Context) tea.Msg {
			res, err := s.admin.RotateSecret(ctx, s.actor, org, v.ID, grace)
			return rotatedMsg{p: v, res: res, err: err}
		})
	}
	return nil
}

// readPEM turns the key field into PEM text: pasted PEM (or anything that
// is not a readable file) goes to the service as is, so its validation
// answers; a path is read from this machine.
func readPEM(field string) (string, error) {
	t := strings.TrimSpace(field)
	if t == "" || strings.Contains(t, "-----BEGIN") || strings.Contains(t, "\n") {
		return field, nil
	}
	path := t
	if strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, path[2:])
		}
	}
	b, err := os.ReadFile(path)
	if err == nil {
		return string(b), nil
	}
	looksLikePath := strings.ContainsAny(t, "/\\") || strings.HasSuffix(t, ".pub") || strings.HasSuffix(t, ".pem")
	if looksLikePath {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", app.Errorf(app.CodeValidation, "pem: cannot read the file %s: %v", t, err)
	}
	return field, nil
}

func (p *partners) view(width, height int) string {
	if p.secret != nil {
		return p.secretView(width)
	}
	if p.form != nil {
		return p.form.view(width)
	}
	if p.s.org == "" {
		return st.dim.Render("No organization yet: create one on the Overview screen (1, then o).")
	}
	if p.ask != nil {
		return p.ask.view(width)
	}
	if p.open != nil {
		return p.detailView(width, height)
	}
	return p.pick.view(width, height)
}

func (p *partners) secretView(width int) string {
	v := p.secret
	body := st.warn.Render("⚠ Copy the consumer secret now. It will never be shown again.") + "\n\n" +
		fmt.Sprintf("partner          %s\nconsumer key     %s\nconsumer secret  %s", v.partner, v.consumerKey, st.secret.Render(v.secret))
	if v.note != "" {
		body += "\n\n" + v.note
	}
	body += "\n\n" + st.dim.Render("Gatehouse keeps only a sealed copy. Lost it? Rotate the secret (r).")
	return st.title.Render(v.title) + "\n\n" + st.box.Width(min(width-2, 76)).Render(body) + "\n\n" +
		"Press " + st.key.Render("c") + " to copy the secret, " + st.key.Render("C") + " the consumer key, " +
		st.key.Render("enter") + " once it is stored safely."
}

// jwksRows shows where a partner publishes its keys, when they were last
// fetched and, while a refresh fails, why (the last good set stays in use).
func jwksRows(v app.PartnerView, width int, row func(label, value string) string) string {
	if v.JWKSURL == nil {
		return row("jwks url", st.dim.Render("none (keys are uploaded PEMs)"))
	}
	fit := max(10, width-17)
	out := row("jwks url", cell(*v.JWKSURL, fit))
	out += row("jwks fetched", fmtOptTime(v.JWKSFetchedAt)+" UTC")
	if v.JWKSLastError != "" {
		out += row("jwks error", st.err.Render(cell(fmtOptTime(v.JWKSLastErrorAt)+" "+v.JWKSLastError, fit)))
	}
	return out
}

func (p *partners) detailView(width, height int) string {
	v := p.open
	state := st.ok.Render("active")
	if !v.Active {
		state = st.err.Render("[inactive]")
	}
	maxUsers := "no limit"
	if v.MaxUsers != nil {
		maxUsers = strconv.Itoa(*v.MaxUsers)
	}
	row := func(label, value string) string { return "  " + st.label.Render(cell(label, 15)) + value + "\n" }
	var b strings.Builder
	b.WriteString(st.title.Render(v.Name) + " " + st.dim.Render(v.ID) + " · " + state + "\n")
	b.WriteString(row("consumer key", v.ConsumerKey))
	b.WriteString(row("email domains", fmtPolicy(v.AllowedEmailDomains)))
	b.WriteString(row("source IPs", fmtPolicy(v.AllowedSourceIPs)))
	b.WriteString(row("max users", maxUsers))
	b.WriteString(row("roles", fmtPolicy(v.AllowedRoles)))
	b.WriteString(row("tenants", fmtPolicy(v.AllowedTenants)))
	b.WriteString(row("origins", fmtPolicy(v.AllowedOrigins)))
	prov := v.UserProvisioning
	if v.PreviousValidUntil != nil {
		prov += " · previous secret valid until " + fmtTime(*v.PreviousValidUntil)
	}
	b.WriteString(row("provisioning", prov))
	b.WriteString(jwksRows(*v, width, row))
	b.WriteString(st.title.Render(fmt.Sprintf("Public keys (%d)", len(p.keyList))) + "\n")
	used := strings.Count(b.String(), "\n")
	b.WriteString(p.keyPick.view(width, max(2, height-used-1)))
	if i := p.keyPick.selected(); i >= 0 {
		k := p.keyList[i]
		label := ""
		if k.Label != "" {
			label = " · " + k.Label
		}
		b.WriteString("\n" + st.dim.Render("kid "+k.Kid+label))
	}
	return b.String()
}
