package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"
)

func (a *app) reloadCommand() *cli.Command {
	return &cli.Command{
		Name:  "reload",
		Usage: "make the running node re-read its config file and apply what changed (like SIGHUP)",
		Description: `Services and mappings declared in the file are added, removed or changed (only
a changed mapping's open connections close); log-level changes at once. Settings
that need a restart (group, secret, cipher, ...) are reported as "restart needed"
and keep their running value. A file with an error is rejected whole, naming
file, line and key, and nothing changes. Live items (serve add, map) are never
touched. Example:

   meshnode reload --control /run/meshnode/home.sock`,
		Flags: []cli.Flag{jsonFlag()},
		Action: a.verb("", func(c *cli.Context) error {
			cl, err := a.client(c)
			if err != nil {
				return err
			}
			res, err := cl.Reload(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, res)
			}
			printReload(c.App.Writer, res)
			return nil
		}),
	}
}

func (a *app) downCommand() *cli.Command {
	return &cli.Command{
		Name:  "down",
		Usage: "stop the running node cleanly (it closes its mappings and leaves the group)",
		Description: `Asks the node on the control socket to stop, as SIGTERM would, and waits until it
is gone (its control socket stops answering) or --timeout passes. Example:

   meshnode down --timeout 1m`,
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "how long to wait for the node to exit"},
		},
		Action: a.verb("", func(c *cli.Context) error {
			g, err := a.globals(c)
			if err != nil {
				return err
			}
			cl, _ := a.client(c)
			if err := cl.Down(c.Context); err != nil {
				return err
			}
			deadline := time.Now().Add(c.Duration("timeout"))
			for cl.Alive(c.Context) {
				if time.Now().After(deadline) {
					return fmt.Errorf("the node accepted 'down' but still answers on %s after %v: it may be stuck leaving the group; see its log, or stop its process", g.control, c.Duration("timeout"))
				}
				select {
				case <-c.Context.Done():
					return c.Context.Err()
				case <-time.After(50 * time.Millisecond):
				}
			}
			fmt.Fprintln(c.App.Writer, "node stopped")
			return nil
		}),
	}
}

func (a *app) versionCommand() *cli.Command {
	return &cli.Command{
		Name:   "version",
		Usage:  "print meshnode's version (as --version does)",
		Action: a.verb("", func(c *cli.Context) error { return printVersion(c) }),
	}
}

func printVersion(c *cli.Context) error {
	_, err := fmt.Fprintf(c.App.Writer, "%s version %s\n", c.App.Name, c.App.Version)
	return err
}
