package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/meshnode/meshnode/pkg/control/api"
)

func (a *app) pingCommand() *cli.Command {
	return &cli.Command{
		Name:      "ping",
		Usage:     "measure the round trip to a peer over the path its data takes",
		ArgsUsage: "PEER",
		Description: `PEER is a node name, a node ID or an ID prefix of 4+ characters. Prints each
round trip, the path (direct or relay), the peer's endpoint on a direct path and,
for a relayed peer, why it is relayed. Example:

   meshnode ping home --count 3`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "count", Aliases: []string{"c"}, Value: 3, Usage: "how many pings (1-1000)"},
			&cli.DurationFlag{Name: "interval", Aliases: []string{"i"}, Value: 200 * time.Millisecond, Usage: "between pings"},
			&cli.DurationFlag{Name: "timeout", Value: 2 * time.Second, Usage: "per ping"},
			jsonFlag(),
		},
		Action: a.verb("PEER", func(c *cli.Context) error {
			n := c.Int("count")
			if n < 1 || n > 1000 {
				return fmt.Errorf("--count %d out of range 1-1000", n)
			}
			cl, err := a.client(c)
			if err != nil {
				return err
			}
			res, err := cl.Ping(c.Context, api.PingRequest{Peer: c.Args().First(), Count: n,
				IntervalMS: int(c.Duration("interval").Milliseconds()), TimeoutMS: int(c.Duration("timeout").Milliseconds())})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, res)
			}
			return printPing(c.App.Writer, res)
		}),
	}
}

func printPing(w io.Writer, res api.PingResult) error {
	via := string(res.Path)
	switch {
	case res.Path == api.PathDirect && res.Endpoint != "":
		via += " via " + res.Endpoint
	case res.Path == api.PathRelay && res.Why != "":
		via += " (" + res.Why + ")"
	}
	var got []float64
	for i, ms := range res.RTTs {
		if ms < 0 {
			fmt.Fprintf(w, "ping %s: seq=%d timeout\n", res.Name, i)
			continue
		}
		got = append(got, ms)
		fmt.Fprintf(w, "ping %s: seq=%d time=%.2f ms\n", res.Name, i, ms)
	}
	fmt.Fprintf(w, "path %s\n", via)
	if len(got) == 0 {
		return fmt.Errorf("no answer from %s (%d pings)", res.Name, len(res.RTTs))
	}
	slices.Sort(got)
	fmt.Fprintf(w, "%d/%d answered, min/median/max %.2f/%.2f/%.2f ms\n", len(got), len(res.RTTs), got[0], got[len(got)/2], got[len(got)-1])
	return nil
}

func (a *app) netcheckCommand() *cli.Command {
	return &cli.Command{
		Name:  "netcheck",
		Usage: "probe this node's network: UDP, public endpoint, NAT mapping, hairpin, RTT",
		Flags: []cli.Flag{jsonFlag()},
		Action: a.verb("", func(c *cli.Context) error {
			cl, err := a.client(c)
			if err != nil {
				return err
			}
			res, err := cl.Netcheck(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, res)
			}
			printNetcheck(c.App.Writer, res)
			return nil
		}),
	}
}

func printNetcheck(w io.Writer, res api.NetcheckResult) {
	r := res.Report
	fmt.Fprintf(w, "udp       %s\n", result(r.UDP, yesNo))
	fmt.Fprintf(w, "local     %s\n", r.Local)
	fmt.Fprintf(w, "public    %s\n", result(r.Public, func(v netip.AddrPort) string { return v.String() }))
	fmt.Fprintf(w, "nat       %s\n", result(r.NAT, yesNo))
	fmt.Fprintf(w, "mapping   %s\n", result(r.Mapping, func(m api.NATMapping) string { return string(m) }))
	fmt.Fprintf(w, "ports     %s\n", result(r.SeqDelta, func(d int) string {
		if d > 0 {
			return fmt.Sprintf("sequential (step %d): predictable", d)
		}
		return "random"
	}))
	fmt.Fprintf(w, "hairpin   %s\n", result(r.Hairpin, yesNo))
	fmt.Fprintf(w, "rtt       %s\n", result(r.RTT, func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }))
	fmt.Fprintf(w, "portmap   %s\n", portMapLine(r.PortMapping))
	for _, m := range r.PortMapping.Mapped {
		fmt.Fprintf(w, "          mapped %s\n", m)
	}
	fmt.Fprintf(w, "verdict   %s\n", res.Summary)
}

// portMapLine says which port mapping protocol answered, and the gateway's
// external address.
func portMapLine(pm api.PortMapReport) string {
	if pm.Protocol == "" {
		if pm.Why == "" {
			return "none"
		}
		return "none (" + pm.Why + ")"
	}
	var all []string
	for _, p := range []struct {
		name string
		ok   bool
	}{{"pcp", pm.PCP}, {"nat-pmp", pm.NATPMP}, {"upnp", pm.UPnP}} {
		if p.ok {
			all = append(all, p.name)
		}
	}
	line := pm.Protocol + " via gateway " + pm.Gateway
	if pm.External != "" {
		line += ", external address " + pm.External
	}
	return line + " (answering: " + strings.Join(all, ", ") + ")"
}

func result[T any](r api.Finding[T], format func(T) string) string {
	if !r.Known {
		if r.Why != "" {
			return "unknown (" + r.Why + ")"
		}
		return "unknown"
	}
	return format(r.Value)
}

func (a *app) eventsCommand() *cli.Command {
	return &cli.Command{
		Name:  "events",
		Usage: "stream the node's events (path changes, peers joining and leaving) until interrupted",
		Flags: []cli.Flag{jsonFlag()},
		Action: a.verb("", func(c *cli.Context) error {
			cl, err := a.client(c)
			if err != nil {
				return err
			}
			err = cl.Events(c.Context, func(ev api.Event) error {
				if c.Bool("json") {
					return json.NewEncoder(c.App.Writer).Encode(ev)
				}
				printEvent(c.App.Writer, ev)
				return nil
			})
			if errors.Is(err, c.Context.Err()) && c.Context.Err() != nil {
				return nil
			}
			return err
		}),
	}
}

func printEvent(w io.Writer, ev api.Event) {
	who := ev.Name
	if who == "" && len(ev.Peer) >= 10 {
		who = ev.Peer[:10]
	}
	line := fmt.Sprintf("%s %-5s %s", ev.Time.Format(time.RFC3339), ev.Kind, who)
	if ev.Path != "" {
		line += " path=" + string(ev.Path)
	}
	if ev.Remote != "" {
		line += " remote=" + ev.Remote
	}
	if ev.Reason != "" {
		line += fmt.Sprintf(" reason=%q", ev.Reason)
	}
	fmt.Fprintln(w, line)
}
