package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/meshnode/meshnode/pkg/control/api"
)

func (a *app) statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show the running node's state: rendezvous, services, mappings (live or from the file), configuration",
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
				return printJSON(c.App.Writer, st)
			}
			printStatus(c.App.Writer, st)
			return nil
		}),
	}
}

func printStatus(w io.Writer, st api.StatusInfo) {
	rdv := "disconnected"
	if st.Rendezvous.LastError != "" {
		rdv += " (" + st.Rendezvous.LastError + ")"
	}
	if !st.Rendezvous.Since.IsZero() {
		rdv += ", since " + st.Rendezvous.Since.Format(time.RFC3339)
	}
	if st.Rendezvous.Connected {
		rdv = fmt.Sprintf("connected since %s, rtt %.1f ms", st.Rendezvous.Since.Format(time.RFC3339), st.Rendezvous.RTTMillis)
	}
	fmt.Fprintf(w, "node      %s (%s)\n", st.Name, st.ID)
	fmt.Fprintf(w, "group     %s\n", st.Group)
	fmt.Fprintf(w, "rdv       %s: %s\n", st.Rendezvous.Addr, rdv)
	if st.Rendezvous.Refused != "" {
		fmt.Fprintf(w, "          refused (%s): fix the configuration; retrying slowly\n", st.Rendezvous.Refused)
	}
	if n := st.Rendezvous.OthersInGroup; n > 0 {
		fmt.Fprintf(w, "          %d node(s) use group %q with a different group secret\n", n, st.Group)
	}
	fmt.Fprintf(w, "crypto    %s over %s\n", st.Cipher, st.Transport)
	fmt.Fprintf(w, "peers     %d linked of %d known\n", st.PeersUp, st.Peers)
	fmt.Fprintf(w, "uptime    %s\n", time.Since(st.Started).Round(time.Second))
	if cf := st.Config; cf != nil {
		file := cf.File
		if file == "" {
			file = "none (flags and environment only)"
		}
		fmt.Fprintf(w, "config    %s, loaded %s, log-level %s\n", file, cf.Loaded.Format(time.RFC3339), cf.LogLevel)
		for _, k := range cf.Restart {
			fmt.Fprintf(w, "          restart needed: %s changed in the file\n", k)
		}
		for _, n := range cf.NotApplied {
			fmt.Fprintf(w, "          %s\n", n)
		}
	}
	if len(st.Services) > 0 {
		fmt.Fprintln(w, "\nserving:")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  SERVEID\tNAME\tTARGET\tFROM\tINFO")
		for _, s := range st.Services {
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", s.ID, dash(s.Name), s.Target, origin(s.Origin, s.Ref), dash(s.Info))
		}
		tw.Flush()
	}
	printPlugins(w, st.Plugins)
	if len(st.Mappings) > 0 {
		fmt.Fprintln(w, "\nmappings:")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  LISTEN\tSERVICE\tFROM\tACTIVE\tTOTAL\tFAILED\tLAST ERROR")
		for _, m := range st.Mappings {
			listen := m.Listen
			if listen == "" {
				listen = fmt.Sprintf("%s:%d (not listening)", m.Bind, m.Port)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\t%d\t%s\n", listen, m.Target, origin(m.Origin, m.Ref), m.Active, m.Total, m.Failed, dash(m.LastError))
		}
		tw.Flush()
	}
}
