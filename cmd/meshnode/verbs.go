package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/meshnode/meshnode/pkg/control"
	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/overlay"
)

var jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print JSON"}

func client(c *cli.Context) *control.Client { return control.NewClient(controlPath(c)) }

func mapCommand() *cli.Command {
	return &cli.Command{
		Name:      "map",
		Usage:     "make a group service reachable on a local port",
		ArgsUsage: "SERVICE LOCALPORT",
		Description: `SERVICE is a serveid (e.g. 700) or NAME@NODE (e.g. ssh@office). The running node
listens on 127.0.0.1:LOCALPORT (or --bind ADDR) and forwards every connection to the
service. LOCALPORT 0 picks a free port. The mapping persists across restarts.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "bind", Value: overlay.DefaultBind, Usage: "local `ADDR` to listen on"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return fmt.Errorf("map wants SERVICE LOCALPORT, got %d arguments", c.NArg())
			}
			port, err := parsePort(c.Args().Get(1))
			if err != nil {
				return err
			}
			mi, err := client(c).AddMapping(c.Context, overlay.MappingRequest{Target: c.Args().Get(0), Port: port, Bind: c.String("bind")})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, mi)
			}
			fmt.Fprintf(c.App.Writer, "mapped %s/%s -> service %s\n", mi.Listen, mi.Proto, mi.Target)
			return nil
		},
	}
}

func unmapCommand() *cli.Command {
	return &cli.Command{
		Name:      "unmap",
		Usage:     "remove the mapping on a local port (its open connections close)",
		ArgsUsage: "LOCALPORT",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("unmap wants LOCALPORT, got %d arguments", c.NArg())
			}
			port, err := parsePort(c.Args().Get(0))
			if err != nil {
				return err
			}
			if port == 0 {
				return fmt.Errorf("port 0 is not a mapping")
			}
			if err := client(c).RemoveMapping(c.Context, port); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "unmapped port %d\n", port)
			return nil
		},
	}
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 0 || p > 65535 {
		return 0, fmt.Errorf("LOCALPORT %q is not a port number (0-65535)", s)
	}
	return p, nil
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show the running node's state",
		Flags: []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			st, err := client(c).Status(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, st)
			}
			printStatus(c.App.Writer, st)
			return nil
		},
	}
}

func printStatus(w io.Writer, st overlay.StatusInfo) {
	rdv := "disconnected"
	if st.Rendezvous.LastError != "" {
		rdv += " (" + st.Rendezvous.LastError + ")"
	}
	if st.Rendezvous.Connected {
		rdv = fmt.Sprintf("connected since %s, rtt %.1f ms", st.Rendezvous.Since.Format(time.RFC3339), st.Rendezvous.RTTMillis)
	}
	fmt.Fprintf(w, "node      %s (%s)\n", st.Name, st.ID)
	fmt.Fprintf(w, "group     %s\n", st.Group)
	fmt.Fprintf(w, "rdv       %s: %s\n", st.Rendezvous.Addr, rdv)
	fmt.Fprintf(w, "crypto    %s over %s\n", st.Cipher, st.Transport)
	fmt.Fprintf(w, "peers     %d linked of %d known\n", st.PeersUp, st.Peers)
	fmt.Fprintf(w, "uptime    %s\n", time.Since(st.Started).Round(time.Second))
	if len(st.Services) > 0 {
		fmt.Fprintln(w, "\nserving:")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  SERVEID\tNAME\tTARGET\tINFO")
		for _, s := range st.Services {
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", s.ID, dash(s.Name), s.Target, dash(s.Info))
		}
		tw.Flush()
	}
	printPlugins(w, st.Plugins)
	if len(st.Mappings) > 0 {
		fmt.Fprintln(w, "\nmappings:")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  LISTEN\tSERVICE\tACTIVE\tTOTAL\tFAILED\tLAST ERROR")
		for _, m := range st.Mappings {
			listen := m.Listen
			if listen == "" {
				listen = fmt.Sprintf("%s:%d (not listening)", m.Bind, m.Port)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%s\n", listen, m.Target, m.Active, m.Total, m.Failed, dash(m.LastError))
		}
		tw.Flush()
	}
}

func peersCommand() *cli.Command {
	return &cli.Command{
		Name:  "peers",
		Usage: "list the group's members with their link state, path and traffic",
		Flags: []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			ps, err := client(c).Peers(c.Context)
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
				case p.Path == "direct" && p.Endpoint != "":
					note = strings.TrimPrefix(note+"; via "+p.Endpoint, "; ")
				case p.Path == "relay" && p.Why != "" && p.State == "up":
					note = strings.TrimPrefix(note+"; relayed: "+p.Why, "; ")
				}
				if !p.Present {
					note = strings.TrimPrefix(note+"; not at the rendezvous", "; ")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", dash(p.Name), p.ID[:identity.ShortLen], p.Member, p.State, p.Path,
					rtt(p), ago(p.LastSeen), bytesIEC(p.BytesIn), bytesIEC(p.BytesOut), p.Streams, dash(note))
			}
			return tw.Flush()
		},
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

func rtt(p overlay.PeerInfo) string {
	if p.State != "up" {
		return "-"
	}
	return fmt.Sprintf("%dms", p.RTTMillis)
}

func servicesCommand() *cli.Command {
	return &cli.Command{
		Name:  "services",
		Usage: "list the services of the group",
		Flags: []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			ss, err := client(c).Services(c.Context)
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
		},
	}
}

func idCommand() *cli.Command {
	return &cli.Command{
		Name:  "id",
		Usage: "print this machine's node ID (from the key in the state dir)",
		Action: func(c *cli.Context) error {
			k, err := identity.Load(keyPath(c))
			if err != nil {
				return fmt.Errorf("%w (the key is created by the first `meshnode up`)", err)
			}
			fmt.Fprintln(c.App.Writer, k.Public().String())
			return nil
		},
	}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func bytesIEC(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
