// Command meshnode runs a node of a meshnode group (`meshnode up`) and drives a
// running node through its control socket (`map`, `unmap`, `status`, `peers`,
// `services`).
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "meshnode:", err)
		os.Exit(1)
	}
}

func newApp() *cli.App {
	return &cli.App{
		Name:    "meshnode",
		Usage:   "reach services behind NATs through a self-hosted peer-to-peer mesh",
		Version: version,
		// --serve values contain commas (700=host:port,name=x): never split them.
		DisableSliceFlagSeparator: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "state", EnvVars: []string{"MESHNODE_STATE"}, Usage: "state `DIR` (node key, mappings); default /var/lib/meshnode as root, else ~/.local/state/meshnode"},
			&cli.StringFlag{Name: "control", EnvVars: []string{"MESHNODE_CONTROL"}, Usage: "control socket `PATH` of the node (default STATE/control.sock)"},
		},
		Commands: []*cli.Command{
			upCommand(),
			mapCommand(),
			unmapCommand(),
			statusCommand(),
			peersCommand(),
			servicesCommand(),
			pingCommand(),
			netcheckCommand(),
			eventsCommand(),
			serveCommand(),
			idCommand(),
		},
		// Errors are printed once by main, with the command's name.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%w (see 'meshnode %s --help')", err, c.Command.Name)
		},
	}
}
