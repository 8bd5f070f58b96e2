package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/meshnode/meshnode/pkg/overlay"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "manage what this node serves to its group (live, persisted)",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "serve a local TCP target under a serveid",
				ArgsUsage: "SERVEID HOST:PORT",
				Description: `SERVEID 500-999 is static (you own it); 1-499 is dynamic; 0 lets the mesh pick
a free dynamic one. The group learns the service by gossip within a second or two.`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "name", Usage: "service `NAME` (map it as NAME@NODE)"},
					&cli.StringFlag{Name: "info", Usage: "free-form `TEXT` shown in `meshnode services`"},
					&cli.StringFlag{Name: "proto", Value: "tcp", Usage: "tcp or udp"},
					jsonFlag,
				},
				Action: func(c *cli.Context) error {
					if c.NArg() != 2 {
						return fmt.Errorf("serve add wants SERVEID HOST:PORT, got %d arguments", c.NArg())
					}
					id, err := overlay.ParseServeIDOrZero(c.Args().Get(0))
					if err != nil {
						return err
					}
					s, err := client(c).AddService(c.Context, overlay.Service{ID: id, Target: c.Args().Get(1),
						Name: c.String("name"), Info: c.String("info"), Proto: c.String("proto")})
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printJSON(c.App.Writer, s)
					}
					fmt.Fprintf(c.App.Writer, "serving %s/%s as serveid %d\n", s.Target, s.Proto, s.ID)
					return nil
				},
			},
			{
				Name:      "rm",
				Usage:     "stop serving a serveid",
				ArgsUsage: "SERVEID",
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return fmt.Errorf("serve rm wants SERVEID, got %d arguments", c.NArg())
					}
					id, err := overlay.ParseServeID(c.Args().Get(0))
					if err != nil {
						return err
					}
					if err := client(c).RemoveService(c.Context, id); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "stopped serving serveid %d\n", id)
					return nil
				},
			},
			{
				Name:  "ls",
				Usage: "list what this node serves",
				Flags: []cli.Flag{jsonFlag},
				Action: func(c *cli.Context) error {
					ss, err := client(c).LocalServices(c.Context)
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printJSON(c.App.Writer, ss)
					}
					tw := tabwriter.NewWriter(c.App.Writer, 2, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "SERVEID\tKIND\tNAME\tPROTO\tTARGET\tINFO")
					for _, s := range ss {
						kind := "dynamic"
						if s.Static() {
							kind = "static"
						}
						if s.Was != 0 {
							kind += fmt.Sprintf(" (moved from %d)", s.Was)
						}
						fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", s.ID, kind, dash(s.Name), s.Proto, s.Target, dash(s.Info))
					}
					return tw.Flush()
				},
			},
		},
	}
}
