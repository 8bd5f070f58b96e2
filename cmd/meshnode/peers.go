package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/identity"
)

func (a *app) peersCommand() *cli.Command {
	return &cli.Command{
		Name:  "peers",
		Usage: "list the group's members with their link state, path and traffic",
		Flags: []cli.Flag{jsonFlag()},
		Action: a.verb("", func(c *cli.Context) error {
			cl, err := a.client(c)
			if err != nil {
				return err
			}
			ps, err := cl.Peers(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, ps)
			}
			tw := tabwriter.NewWriter(c.App.Writer, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tID\tMEMBER\tLINK\tPATH\tRTT\tLAST SEEN\tIN\tOUT\tSTREAMS\tNOTE")
			for _, p := range ps {
				note := p.Error
				switch {
				case p.Path == api.PathDirect && p.Endpoint != "":
					note = strings.TrimPrefix(note+"; via "+p.Endpoint, "; ")
					if p.Method != "" && p.Method != "ice" {
						note += ", found by " + p.Method
					}
				case p.Path == api.PathRelay && p.Why != "" && p.State == api.LinkStateUp:
					note = strings.TrimPrefix(note+"; relayed: "+p.Why, "; ")
				}
				if !p.Present {
					note = strings.TrimPrefix(note+"; not at the rendezvous", "; ")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", dash(p.Name), p.ID[:identity.ShortLen], p.Member, p.State, p.Path,
					rtt(p), ago(p.LastSeen), bytesIEC(p.BytesIn), bytesIEC(p.BytesOut), p.Streams, dash(note))
			}
			return tw.Flush()
		}),
	}
}

// ago formats how long ago t was, coarsely.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	}
	return t.Format(time.RFC3339)
}

func rtt(p api.PeerInfo) string {
	if p.State != api.LinkStateUp {
		return "-"
	}
	return fmt.Sprintf("%dms", p.RTTMillis)
}

func (a *app) servicesCommand() *cli.Command {
	return &cli.Command{
		Name:  "services",
		Usage: "list the services of the group",
		Flags: []cli.Flag{jsonFlag()},
		Action: a.verb("", func(c *cli.Context) error {
			cl, err := a.client(c)
			if err != nil {
				return err
			}
			ss, err := cl.Services(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, ss)
			}
			tw := tabwriter.NewWriter(c.App.Writer, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SERVEID\tNAME\tPROTO\tOWNER\tREACHABLE\tINFO\tNOTE")
			for _, s := range ss {
				owner := s.OwnerName
				if s.Local {
					owner += " (this node)"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ServeID, dash(s.Name), s.Proto, owner, yesNo(s.Reachable), dash(s.Info), dash(s.Conflict))
			}
			return tw.Flush()
		}),
	}
}
