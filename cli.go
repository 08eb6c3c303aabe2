package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes: 0 success, 1 the command ran and failed, 2 the command line
// itself was wrong (unknown command or flag, stray argument, bad flag value).
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// commandBuilders holds one constructor per top-level command; each
// cmd_*.go file adds its own from init, so a new command is one new file
// and main.go never changes.
var commandBuilders []func() *cobra.Command

// register adds a top-level command (see commandBuilders).
func register(build func() *cobra.Command) { commandBuilders = append(commandBuilders, build) }

// usageError is a mistake in the command line: exit 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usageErrorf(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// runError is a failure of a command that started: exit 1. Every RunE's
// error is marked so; whatever cobra reports before running (flag parsing,
// argument counts, required flags, unknown commands) is therefore a usage
// error without having to recognise cobra's messages.
type runError struct{ err error }

func (r runError) Error() string { return r.err.Error() }
func (r runError) Unwrap() error { return r.err }

// run executes one command line and returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	_, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "gatehouse:", oneLine(err.Error()))
	var re runError
	var ue usageError
	if errors.As(err, &re) && !errors.As(err, &ue) {
		return exitError
	}
	return exitUsage
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// newRootCmd builds the whole command tree, writing to stdout and stderr.
func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "gatehouse",
		Short: "Partner single sign-on appliance",
		Long: `Gatehouse is a self-hosted partner single sign-on appliance: partner portals sign
their customers into the MSSP's tenants, and downstream dashboards learn who is
signed in from Gatehouse. One binary; all state in one database.

Every command runs with no config file (every key has a default). --config or
GATEHOUSE_CONFIG names a TOML file; GATEHOUSE_<SECTION>__<KEY> variables override it.

Exit codes: 0 success, 1 the command failed, 2 the command line was wrong.`,
		Example: `  gatehouse demo                          # see the whole flow on a throw-away server
  gatehouse serve --config /etc/gatehouse/config.toml
  gatehouse help sign`,
		Version:           version,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{},
	}
	// Before the completion command is made: it keeps the writer it sees.
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("gatehouse {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	for _, build := range commandBuilders {
		root.AddCommand(build())
	}
	root.SetHelpCommand(newHelpCmd())
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	describeCompletion(root)
	walk(root, func(c *cobra.Command) {
		c.SilenceUsage, c.SilenceErrors = true, true
		c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
		if c.RunE != nil {
			inner := c.RunE
			c.RunE = func(cmd *cobra.Command, args []string) error {
				if err := inner(cmd, args); err != nil {
					return runError{err}
				}
				return nil
			}
		}
	})
	return root
}

func walk(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, sub := range c.Commands() {
		walk(sub, f)
	}
}

// newGroupCmd is a command that only holds subcommands (e.g. `audit`):
// without one, or with an unknown one, it is a usage error.
func newGroupCmd(use, short, long, example string) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Long: long, Example: example,
		Args: unknownCommand, RunE: needSubcommand,
	}
}

func needSubcommand(cmd *cobra.Command, _ []string) error {
	var names []string
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return usageErrorf("%s needs a subcommand: %s (see %s --help)", cmd.CommandPath(), strings.Join(names, ", "), cmd.CommandPath())
}

// unknownCommand rejects arguments to a command that only has subcommands.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("unknown command %q for %q (see %s --help)", args[0], cmd.CommandPath(), cmd.CommandPath())
	}
	return nil
}

// noArgs is cobra.NoArgs with a message that names the stray arguments.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, got %s", cmd.CommandPath(), quoteAll(args))
	}
	return nil
}

// exactArgs wants exactly the named positional arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return usageErrorf("%s needs %s (missing %s)", cmd.CommandPath(), strings.Join(names, " "), strings.Join(names[len(args):], " "))
		case len(args) > len(names):
			return usageErrorf("%s takes %s, got extra arguments %s", cmd.CommandPath(), strings.Join(names, " "), quoteAll(args[len(names):]))
		}
		return nil
	}
}

func quoteAll(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = fmt.Sprintf("%q", a)
	}
	return strings.Join(q, " ")
}

// enumValue is a string flag that accepts only the listed values, so a
// wrong value fails while the command line is parsed (exit 2, naming the flag).
type enumValue struct {
	value   *string
	allowed []string
}

func (e *enumValue) String() string { return *e.value }
func (e *enumValue) Type() string   { return strings.Join(e.allowed, "|") }
func (e *enumValue) Set(s string) error {
	if !slices.Contains(e.allowed, s) {
		return fmt.Errorf("must be %s", orList(e.allowed))
	}
	*e.value = s
	return nil
}

func orList(xs []string) string {
	switch len(xs) {
	case 1:
		return xs[0]
	case 2:
		return xs[0] + " or " + xs[1]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

// enumFlag defines a flag limited to allowed values, with shell completion of them.
func enumFlag(cmd *cobra.Command, name, def, usage string, allowed ...string) *string {
	v := def
	cmd.Flags().Var(&enumValue{value: &v, allowed: allowed}, name, usage)
	_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(allowed, cobra.ShellCompDirectiveNoFileComp))
	return &v
}

// configFlag adds the --config flag most commands share.
func configFlag(cmd *cobra.Command) *string {
	return cmd.Flags().String("config", "", "TOML configuration file (default: $GATEHOUSE_CONFIG, else built-in defaults)")
}

// requireFlags marks flags as required (cobra reports the missing ones, exit 2).
func requireFlags(cmd *cobra.Command, names ...string) {
	for _, n := range names {
		if err := cmd.MarkFlagRequired(n); err != nil {
			panic(err) // a typo in a flag name: caught by the help golden tests
		}
	}
}

// newHelpCmd is `gatehouse help [COMMAND...]`: cobra's, except that an
// unknown topic is a usage error rather than exit 0.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND...]",
		Short: "Help about any command",
		Long:  "Help prints what a command does, its flags and an example.",
		Example: `  gatehouse help
  gatehouse help audit export`,
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cmd, _, err := c.Root().Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return usageError{fmt.Errorf("unknown help topic %q (see gatehouse help)", strings.Join(args, " "))}
			}
			cmd.InitDefaultHelpFlag()
			cmd.InitDefaultVersionFlag()
			return cmd.Help()
		},
	}
}

// describeCompletion gives cobra's generated completion commands an example
// each, like every other command.
func describeCompletion(root *cobra.Command) {
	comp, _, err := root.Find([]string{"completion"})
	if err != nil || comp == root {
		return
	}
	comp.Args, comp.RunE = unknownCommand, needSubcommand
	comp.Example = `  gatehouse completion bash > /etc/bash_completion.d/gatehouse
  gatehouse completion zsh > "${fpath[1]}/_gatehouse"
  gatehouse completion fish > ~/.config/fish/completions/gatehouse.fish`
	examples := map[string]string{
		"bash":       "  source <(gatehouse completion bash)",
		"zsh":        "  gatehouse completion zsh > \"${fpath[1]}/_gatehouse\"",
		"fish":       "  gatehouse completion fish | source",
		"powershell": "  gatehouse completion powershell | Out-String | Invoke-Expression",
	}
	subs := comp.Commands()
	sort.Slice(subs, func(i, j int) bool { return subs[i].Name() < subs[j].Name() })
	for _, sub := range subs {
		sub.Example = examples[sub.Name()]
	}
}
