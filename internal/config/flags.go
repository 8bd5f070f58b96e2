package config

import (
	"time"

	"github.com/urfave/cli/v2"
)

// Flags returns urfave/cli flags for the table's settings: the app-level ones
// (Global) when global is true, else the command's own. The environment is
// not given to urfave: Resolve reads it, so each value knows its source; the
// help text names the variable.
func (t *Table) Flags(global bool) []cli.Flag {
	var out []cli.Flag
	for i := range t.Settings {
		s := &t.Settings[i]
		if s.Global != global {
			continue
		}
		out = append(out, s.flag())
	}
	return out
}

// AllFlags returns urfave/cli flags for every setting of the table (a command
// without subcommands, such as rendezvous, has no global/own split).
func (t *Table) AllFlags() []cli.Flag {
	out := make([]cli.Flag, 0, len(t.Settings))
	for i := range t.Settings {
		out = append(out, t.Settings[i].flag())
	}
	return out
}

// Flag returns the urfave flag of the named setting.
func (t *Table) Flag(name string) cli.Flag { return t.Setting(name).flag() }

func (s *Setting) flag() cli.Flag {
	usage := s.Usage
	if s.Env != "" {
		usage += " [$" + s.Env + "]"
	}
	switch s.Kind {
	case Bool:
		return &cli.BoolFlag{Name: s.Name, Aliases: s.Aliases, Usage: usage}
	case Int:
		f := &cli.IntFlag{Name: s.Name, Aliases: s.Aliases, Usage: usage}
		if s.Default != nil {
			f.Value = s.Default.(int)
		}
		return f
	case Duration:
		f := &cli.DurationFlag{Name: s.Name, Aliases: s.Aliases, Usage: usage}
		if s.Default != nil {
			f.Value = s.Default.(time.Duration)
		}
		return f
	case List:
		return &cli.StringSliceFlag{Name: s.Name, Aliases: s.Aliases, Usage: usage}
	}
	f := &cli.StringFlag{Name: s.Name, Aliases: s.Aliases, Usage: usage}
	if s.Default != nil && !s.Secret {
		f.Value = s.Default.(string)
	}
	return f
}

// CLIFlags adapts a urfave/cli context as the flag source of Resolve.
func CLIFlags(c *cli.Context) FlagSource { return cliFlags{c} }

type cliFlags struct{ c *cli.Context }

func (f cliFlags) IsSet(name string) bool { return f.c.IsSet(name) }

func (f cliFlags) Value(s *Setting) any {
	switch s.Kind {
	case Bool:
		return f.c.Bool(s.Name)
	case Int:
		return f.c.Int(s.Name)
	case Duration:
		return f.c.Duration(s.Name)
	case List:
		return f.c.StringSlice(s.Name)
	}
	return f.c.String(s.Name)
}
