package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/meshnode/meshnode/pkg/control/api"
)

func (a *app) serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "manage what this node serves to its group (live, persisted)",
		Description: `Services added here are live: they persist in the state dir, and reloads of the
config file never touch them ([serve.NAME] sections declare services in the file).`,
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "serve a local target under a serveid",
				ArgsUsage: "SERVEID HOST:PORT",
				Description: `SERVEID 500-999 is static (you own it); 1-499 is dynamic; 0 lets the mesh pick
a free dynamic one. The group learns the service by gossip within a second or two.
Examples:

   meshnode serve add 710 127.0.0.1:8080 --name web
   meshnode serve add 0 127.0.0.1:5353 --proto udp --info "local DNS"`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "name", Usage: "service `NAME` (map it as NAME@NODE)"},
					&cli.StringFlag{Name: "info", Usage: "free-form `TEXT` shown in `meshnode services`"},
					&cli.StringFlag{Name: "proto", Value: "tcp", Usage: "tcp or udp"},
					jsonFlag(),
				},
				Action: a.verb("SERVEID HOST:PORT", func(c *cli.Context) error {
					id, err := api.ParseServeIDOrZero(c.Args().Get(0))
					if err != nil {
						return err
					}
					cl, err := a.client(c)
					if err != nil {
						return err
					}
					s, err := cl.AddService(c.Context, api.Service{ID: id, Target: c.Args().Get(1),
						Name: c.String("name"), Info: c.String("info"), Proto: c.String("proto")})
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printJSON(c.App.Writer, s)
					}
					fmt.Fprintf(c.App.Writer, "serving %s/%s as serveid %d\n", s.Target, s.Proto, s.ID)
					return nil
				}),
			},
			{
				Name:      "rm",
				Usage:     "stop serving a live serveid",
				ArgsUsage: "SERVEID",
				Description: `A service declared in the config file or by --serve is removed there. Example:

   meshnode serve rm 710`,
				Action: a.verb("SERVEID", func(c *cli.Context) error {
					id, err := api.ParseServeID(c.Args().Get(0))
					if err != nil {
						return err
					}
					cl, err := a.client(c)
					if err != nil {
						return err
					}
					if err := cl.RemoveService(c.Context, id); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "stopped serving serveid %d\n", id)
					return nil
				}),
			},
			{
				Name:  "ls",
				Usage: "list what this node serves, and where each service comes from (live, file, flag)",
				Flags: []cli.Flag{jsonFlag()},
				Action: a.verb("", func(c *cli.Context) error {
					cl, err := a.client(c)
					if err != nil {
						return err
					}
					st, err := cl.Status(c.Context)
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printJSON(c.App.Writer, st.Services)
					}
					tw := tabwriter.NewWriter(c.App.Writer, 2, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "SERVEID\tKIND\tNAME\tPROTO\tTARGET\tFROM\tINFO")
					for _, s := range st.Services {
						kind := "dynamic"
						if s.ID.Static() {
							kind = "static"
						}
						if s.Was != 0 {
							kind += fmt.Sprintf(" (moved from %d)", s.Was)
						}
						if s.Origin == api.OriginAdhoc {
							kind = "ad-hoc (in use)"
							if !s.Expires.IsZero() {
								kind = fmt.Sprintf("ad-hoc (expires in %v)", max(time.Until(s.Expires).Round(time.Second), 0))
							}
						}
						fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, kind, dash(s.Name), s.Proto, s.Target, origin(s.Origin, s.Ref), dash(s.Info))
					}
					return tw.Flush()
				}),
			},
		},
	}
}

// origin formats where an item comes from: "live", "file [serve.ssh]".
func origin(o api.Origin, ref string) string {
	if ref == "" {
		return string(o)
	}
	return string(o) + " " + ref
}
