package tui

import (
	"github.com/charmbracelet/bubbles/key"
)

// globalKeys work on every screen (unless a text field has focus, when only
// ctrl+c, esc and tab keep their meaning for the field's screen).
type globalKeys struct {
	Next, Prev, Help, Quit, Jump key.Binding
}

var gkeys = globalKeys{
	Next: key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next screen")),
	Prev: key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous")),
	Help: key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
	Quit: key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	Jump: key.NewBinding(key.WithKeys("1", "2", "3", "4", "5", "6", "7"), key.WithHelp("1-7", "go to screen")),
}

// Keys shared by the screens; each screen lists the ones it uses.
var (
	kUp      = key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up"))
	kDown    = key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down"))
	kTop     = key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g", "top"))
	kBottom  = key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G", "bottom"))
	kOpen    = key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open"))
	kBack    = key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back"))
	kSearch  = key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "search"))
	kNew     = key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "new"))
	kEdit    = key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "edit"))
	kDelete  = key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "delete"))
	kRefresh = key.NewBinding(key.WithKeys("ctrl+r", "R"), key.WithHelp("R", "refresh"))
	kYes     = key.NewBinding(key.WithKeys("y", "Y"), key.WithHelp("y", "yes"))
	kNo      = key.NewBinding(key.WithKeys("n", "N", "esc"), key.WithHelp("n/esc", "no"))

	kAddKey    = key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "add key"))
	kRemoveKey = key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "remove key"))
	kRotate    = key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "rotate"))
	kToggle    = key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "(de)activate"))
	kPolicies  = key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "policies"))
	kRegister  = key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "register"))
	kNewOrg    = key.NewBinding(key.WithKeys("o"), key.WithHelp("o", "new org"))
	kSelectOrg = key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "use org"))

	kTenant     = key.NewBinding(key.WithKeys("f"), key.WithHelp("f", "tenant"))
	kNextPage   = key.NewBinding(key.WithKeys("]", "pgdown"), key.WithHelp("]", "next page"))
	kPrevPage   = key.NewBinding(key.WithKeys("[", "pgup"), key.WithHelp("[", "prev page"))
	kType       = key.NewBinding(key.WithKeys("f"), key.WithHelp("f", "family"))
	kPage       = key.NewBinding(key.WithKeys("]", "["), key.WithHelp("]/[", "page"))
	kCheck      = key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "check"))
	kCopy       = key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy id"))
	kCopyKey    = key.NewBinding(key.WithKeys("C"), key.WithHelp("C", "copy consumer key"))
	kCopyOrg    = key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy org id"))
	kCopyTenant = key.NewBinding(key.WithKeys("T"), key.WithHelp("T", "copy 1st tenant id"))
	kCopyUser   = key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy user id"))
	kCopySecret = key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy secret"))

	kFieldNext = key.NewBinding(key.WithKeys("tab", "down"), key.WithHelp("tab", "next field"))
	kFieldPrev = key.NewBinding(key.WithKeys("shift+tab", "up"), key.WithHelp("shift+tab", "prev field"))
	kSubmit    = key.NewBinding(key.WithKeys("ctrl+s"), key.WithHelp("ctrl+s", "save"))
	kCancel    = key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel"))
	kDismiss   = key.NewBinding(key.WithKeys("enter", "esc"), key.WithHelp("enter", "I have stored it"))

	kCopyToken   = key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy token"))
	kCopyRequest = key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy request id"))
	kAuditType   = key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "type"))
	kPaste       = key.NewBinding(key.WithKeys("enter", "/"), key.WithHelp("enter", "paste a token"))
	kApply       = key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "apply"))
	kToList      = key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "to the list"))
	kDone        = key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "done"))
)

// keyMap is what the help bubble shows: the screen's keys, then the global ones.
type keyMap struct {
	short []key.Binding
	full  [][]key.Binding
	input bool // a text field has focus: global letter keys are off
}

// ShortHelp is the one-line help.
func (k keyMap) ShortHelp() []key.Binding {
	if k.input {
		return k.short
	}
	return append(append([]key.Binding{}, k.short...), gkeys.Help, gkeys.Quit)
}

// FullHelp is the `?` help: the screen's groups, then navigation.
func (k keyMap) FullHelp() [][]key.Binding {
	groups := k.full
	if groups == nil {
		groups = [][]key.Binding{k.short}
	}
	// Navigation first: it is the group that must never be cut off.
	return append([][]key.Binding{{gkeys.Next, gkeys.Prev, gkeys.Jump, gkeys.Help, gkeys.Quit}}, groups...)
}

// formKeys is the key map while a form has focus.
var formKeys = keyMap{
	short: []key.Binding{kFieldNext, kSubmit, kCancel},
	full:  [][]key.Binding{{kFieldNext, kFieldPrev}, {kSubmit, kCancel}},
	input: true,
}

var confirmKeys = keyMap{short: []key.Binding{kYes, kNo}, input: true}

// filterKeys is the key map while a list's filter has focus.
var filterKeys = keyMap{short: []key.Binding{kOpen, kBack}, input: true}
