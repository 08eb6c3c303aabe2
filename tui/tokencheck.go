package tui

import (
	"context"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"gatehouse/app"
)

// tokenCheck runs every check of the real sign-in on a pasted token and
// shows which one fails and why. Nothing is written: the token still works.
type tokenCheck struct {
	s      *session
	input  textinput.Model
	typing bool
	result *app.TokenCheckResult
}

type tokenCheckMsg struct {
	res app.TokenCheckResult
	err error
}

func newTokenCheck(s *session) *tokenCheck {
	in := newInput()
	in.Prompt = "token: "
	in.Placeholder = hint("paste a partner's JWT (eyJ…)")
	in.CharLimit = 64 << 10
	return &tokenCheck{s: s, input: in}
}

func (t *tokenCheck) title() string { return "Token check" }

func (t *tokenCheck) capturing() bool { return t.typing }

func (t *tokenCheck) keys() keyMap {
	if t.typing {
		return keyMap{short: []key.Binding{kCheck, kBack}, input: true}
	}
	return keyMap{short: []key.Binding{kPaste, kBack}}
}

func (t *tokenCheck) load() tea.Cmd { return nil }

func (t *tokenCheck) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case orgChangedMsg:
		t.result = nil
	case tokenCheckMsg:
		if msg.err != nil {
			t.s.fail(msg.err)
			return nil
		}
		r := msg.res
		t.result = &r
	case tea.KeyMsg:
		if !t.typing {
			switch {
			case key.Matches(msg, kPaste):
				t.typing = true
				return t.input.Focus()
			case key.Matches(msg, kBack):
				t.input.SetValue("")
				t.result = nil
			}
			return nil
		}
		switch msg.String() {
		case "esc":
			t.typing = false
			t.input.Blur()
			return nil
		case "enter":
			t.typing = false
			t.input.Blur()
			return t.check()
		}
		var cmd tea.Cmd
		t.input, cmd = t.input.Update(msg)
		return cmd
	}
	return nil
}

func (t *tokenCheck) check() tea.Cmd {
	s := t.s
	org, token := s.org, strings.TrimSpace(t.input.Value())
	if org == "" || token == "" {
		return nil
	}
	return s.call("checking token", func(ctx context.Context) tea.Msg {
		res, err := s.admin.TokenCheck(ctx, s.actor, org, app.TokenCheckInput{Token: token})
		return tokenCheckMsg{res: res, err: err}
	})
}

func (t *tokenCheck) view(width, height int) string {
	if t.s.org == "" {
		return st.dim.Render("No organization yet: create one on the Overview screen (1, then o).")
	}
	t.input.Width = max(10, width-len(t.input.Prompt)-2)
	var b strings.Builder
	b.WriteString(st.dim.Render("Runs every check of the real sign-in; writes nothing (the token still works).") + "\n\n")
	b.WriteString(t.input.View() + "\n\n")
	if r := t.result; r != nil {
		if r.Result == "pass" {
			b.WriteString(st.ok.Render("✓ PASS") + "  the sign-in would succeed (" + r.Method + ")\n\n")
		} else {
			b.WriteString(st.err.Render("✗ FAIL") + "  the sign-in would answer " + st.key.Render(orDash(r.Code)) + " (" + r.Method + ")\n\n")
		}
		for _, c := range r.Checks {
			mark := st.ok.Render("✓")
			if !c.OK {
				mark = st.err.Render("✗")
			}
			line := mark + " " + cell(c.Name, 22)
			if c.Detail != "" {
				line += " " + c.Detail
			}
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
