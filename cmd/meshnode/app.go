package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/meshnode/meshnode/internal/config"
)

// app is one run of the command: its environment and its settings table.
type app struct {
	env   *env
	table *config.Table
	cli   *cli.App
	names map[*cli.Command]string // "serve add": for messages
}

func newApp(e *env) *app {
	a := &app{env: e, table: upTable(), names: map[*cli.Command]string{}}
	a.cli = &cli.App{
		Name:      "meshnode",
		Usage:     "reach services behind NATs through a self-hosted peer-to-peer mesh",
		UsageText: "meshnode [--state DIR] [--control PATH] [--config FILE] VERB [flags] [args]\n\nFlags may come before or after arguments; `--` ends them.",
		Version:   version,
		Writer:    e.stdout,
		ErrWriter: e.stderr,
		// --serve values contain commas (700=host:port,name=x): never split them.
		DisableSliceFlagSeparator: true,
		Flags:                     a.table.Flags(true),
		Commands: []*cli.Command{
			a.upCommand(),
			a.downCommand(),
			a.reloadCommand(),
			a.mapCommand(),
			a.unmapCommand(),
			a.statusCommand(),
			a.peersCommand(),
			a.servicesCommand(),
			a.serveCommand(),
			a.pingCommand(),
			a.netcheckCommand(),
			a.eventsCommand(),
			a.idCommand(),
			a.versionCommand(),
		},
		// Exit codes are run's business: never os.Exit from inside the library.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%w (see 'meshnode --help')", err)
		},
	}
	walk(a.cli.Commands, nil, func(path []string, c *cli.Command) {
		name := strings.Join(path, " ")
		a.names[c] = name
		c.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%w (see 'meshnode %s --help')", err, name)
		}
	})
	return a
}

// run normalizes the argument order and runs the command.
func (a *app) run(ctx context.Context, args []string) error {
	norm, err := normalize(a.cli, args)
	if err != nil {
		return err
	}
	return a.cli.RunContext(ctx, norm)
}

// walk calls f for every command of the tree, with its path of names.
func walk(cmds []*cli.Command, path []string, f func(path []string, c *cli.Command)) {
	for _, c := range cmds {
		p := append(append([]string(nil), path...), c.Name)
		f(p, c)
		walk(c.Subcommands, p, f)
	}
}

// verbNames lists the visible verbs, for messages.
func verbNames(cmds []*cli.Command) string {
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Name)
		}
	}
	return strings.Join(names, ", ")
}
