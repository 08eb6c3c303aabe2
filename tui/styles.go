package tui

import (
	"os"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// styles are the console's looks. Colours are adaptive (light and dark
// terminals); every state that matters is also carried by text or a marker
// (›, ✓, ✗, [inactive]) so nothing is lost when colours are not available.
type styles struct {
	app, tab, activeTab, title, header, selected, dim, label, err, ok, warn, box, secret, statusBar, key lipgloss.Style
}

var (
	accent = lipgloss.AdaptiveColor{Light: "#5A3FC0", Dark: "#B9A6FF"}
	subtle = lipgloss.AdaptiveColor{Light: "#6B6B6B", Dark: "#8A8A8A"}
	red    = lipgloss.AdaptiveColor{Light: "#C4252A", Dark: "#FF6B6B"}
	green  = lipgloss.AdaptiveColor{Light: "#1E7B34", Dark: "#6BD68A"}
	amber  = lipgloss.AdaptiveColor{Light: "#9A5B00", Dark: "#FFC15E"}
)

func newStyles() styles {
	s := styles{}
	s.app = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.tab = lipgloss.NewStyle().Foreground(subtle)
	s.activeTab = lipgloss.NewStyle().Bold(true).Underline(true).Foreground(accent)
	s.title = lipgloss.NewStyle().Bold(true)
	s.header = lipgloss.NewStyle().Bold(true).Foreground(subtle)
	s.selected = lipgloss.NewStyle().Bold(true).Foreground(accent)
	s.dim = lipgloss.NewStyle().Foreground(subtle)
	s.label = lipgloss.NewStyle().Foreground(subtle)
	s.err = lipgloss.NewStyle().Bold(true).Foreground(red)
	s.ok = lipgloss.NewStyle().Foreground(green)
	s.warn = lipgloss.NewStyle().Bold(true).Foreground(amber)
	s.box = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(amber).Padding(0, 1)
	s.secret = lipgloss.NewStyle().Bold(true)
	s.statusBar = lipgloss.NewStyle().Foreground(subtle)
	s.key = lipgloss.NewStyle().Bold(true)
	return s
}

var st = newStyles()

// degradeColours drops colour when the environment asks for it (NO_COLOR,
// TERM=dumb); lipgloss already drops it when stdout is not a terminal.
func degradeColours() {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		lipgloss.SetColorProfile(termenv.Ascii)
	}
}
