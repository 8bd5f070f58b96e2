package main

import (
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/meshnode/meshnode/pkg/control/api"
)

func (a *app) mapCommand() *cli.Command {
	return &cli.Command{
		Name:      "map",
		Usage:     "make a group service reachable on a local port (live; persists)",
		ArgsUsage: "SERVICE LOCALPORT",
		Description: `SERVICE is a serveid (e.g. 700), NAME@NODE (e.g. ssh@office), or IP:PORT@NODE for
ad-hoc access to a target NODE never declared (it must allow it: allow-adhoc). The running node
listens on 127.0.0.1:LOCALPORT (or --bind ADDR) and forwards every connection to the
service. LOCALPORT 0 picks a free port. The mapping is live: it persists in the
state dir across restarts, and reloads of the config file never touch it
([use.NAME] sections declare mappings in the file instead). Examples:

   meshnode map 700 2222
   meshnode map ssh@home 2222 --bind 0.0.0.0
   meshnode map web@home 8080 --max-conns 20 --rate 1MB --idle-timeout 10m
   meshnode map 127.0.0.1:8888@home 8888     # ad-hoc: home's Jupyter, never declared`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "bind", Value: api.DefaultBind, Usage: "local `ADDR` to listen on"},
			&cli.StringFlag{Name: "proto", Usage: "tcp or udp, `PROTO` of an ad-hoc target (IP:PORT@NODE; default tcp); a declared service has its own"},
			&cli.IntFlag{Name: "max-conns", Usage: "connections open at once, `N`; more are refused at once (0: the node's default, 4096)"},
			&cli.StringFlag{Name: "rate", Usage: "bytes per second in each direction, shared by the mapping's connections: `RATE` such as 1MB or 500KiB (TCP)"},
			&cli.StringFlag{Name: "idle-timeout", Usage: "close a connection that moved nothing for `DURATION`, such as 5m (TCP)"},
			jsonFlag(),
		},
		Action: a.verb("SERVICE LOCALPORT", func(c *cli.Context) error {
			port, err := parsePort(c.Args().Get(1))
			if err != nil {
				return err
			}
			cl, err := a.client(c)
			if err != nil {
				return err
			}
			r, err := api.ParseRate(c.String("rate"))
			if err != nil {
				return fmt.Errorf("--rate %w", err)
			}
			lim := &api.Limits{MaxConns: c.Int("max-conns"), Rate: r, IdleTimeout: c.String("idle-timeout")}
			if err := lim.Validate(true); err != nil {
				return fmt.Errorf("--%s", err) // "max-conns -1 out of range ..."
			}
			if lim.IsZero() {
				lim = nil
			}
			mi, err := cl.AddMapping(c.Context, api.MappingRequest{Target: c.Args().Get(0), Port: port, Bind: c.String("bind"), Proto: c.String("proto"), Limits: lim})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, mi)
			}
			fmt.Fprintf(c.App.Writer, "mapped %s/%s -> service %s", mi.Listen, mi.Proto, mi.Target)
			if l := mi.Limits.String(); l != "" {
				fmt.Fprintf(c.App.Writer, " (%s)", l)
			}
			fmt.Fprintln(c.App.Writer)
			return nil
		}),
	}
}

func (a *app) unmapCommand() *cli.Command {
	return &cli.Command{
		Name:      "unmap",
		Usage:     "remove the live mapping on a local port (its open connections close)",
		ArgsUsage: "LOCALPORT",
		Description: `A mapping declared in the config file is removed there (then 'meshnode reload'). Example:

   meshnode unmap 2222`,
		Action: a.verb("LOCALPORT", func(c *cli.Context) error {
			port, err := parsePort(c.Args().Get(0))
			if err != nil {
				return err
			}
			if port == 0 {
				return fmt.Errorf("port 0 is not a mapping")
			}
			cl, err := a.client(c)
			if err != nil {
				return err
			}
			if err := cl.RemoveMapping(c.Context, port); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "unmapped port %d\n", port)
			return nil
		}),
	}
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 0 || p > 65535 {
		return 0, fmt.Errorf("LOCALPORT %q is not a port number (0-65535)", s)
	}
	return p, nil
}
