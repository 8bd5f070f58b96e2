package labbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/meshnode/meshnode/internal/bench"
)

// Pairs are the NAT kinds (site A, site B) of the time-to-direct rows.
var Pairs = [][2]string{{"portrestricted", "portrestricted"}, {"fullcone", "symmetric"}}

// Report is one run's results.
type Report struct {
	Params  Params
	Started time.Time
	Took    time.Duration
	TTD     []TTD
	WAN     WAN
	Hog     HogWAN
	Paths   DirectRelay
	Cold    Cold
	Matrix  []MatrixCell
}

// Run measures the lab rows (all of Sections unless p.Only says otherwise):
// time to direct for each of Pairs, the lossy WAN, its ping-pongs again
// under a CPU hog, direct vs relay on the same nodes, then a fresh node's first connection over a WAN. It returns the report and the
// sections' errors joined; a failed section still has its row (saying it
// failed).
func (r *Runner) Run(ctx context.Context, p Params) (Report, error) {
	rep := Report{Params: p, Started: time.Now()}
	var errs []error
	if p.runs("ttd") {
		for _, pr := range Pairs {
			t := r.TimeToDirect(ctx, pr[0], pr[1], p.TTDReps)
			rep.TTD = append(rep.TTD, t)
			errs = append(errs, t.Err)
		}
	}
	if p.runs("wan") {
		rep.WAN = r.LossyWAN(ctx, p)
		errs = append(errs, rep.WAN.Err)
	}
	if p.runs("hog") {
		rep.Hog = r.LossyWANHog(ctx, p)
		errs = append(errs, rep.Hog.Err)
	}
	if p.runs("paths") {
		rep.Paths = r.DirectVsRelay(ctx, p)
		errs = append(errs, rep.Paths.Err)
	}
	if p.runs("cold") {
		rep.Cold = r.ColdStart(ctx, p)
		errs = append(errs, rep.Cold.Err)
	}
	if p.runs("matrix") {
		rep.Matrix = r.Matrix(ctx, p)
	}
	rep.Took = time.Since(rep.Started)
	return rep, errors.Join(errs...)
}

var natLabel = map[string]string{"open": "open (no NAT)", "fullcone": "full cone", "addrrestricted": "address-restricted",
	"portrestricted": "port-restricted", "symmetric": "symmetric", "udpblock": "UDP blocked"}

// Markdown renders the rows: sections in the style of meshbench's table, to
// print after it or append to its file.
func (rep Report) Markdown() string {
	var b strings.Builder
	rep.write(&b)
	return b.String()
}

func (rep Report) write(w io.Writer) {
	p := rep.Params
	run := "full run"
	if p.Quick {
		run = "quick smoke run"
	}
	fmt.Fprintf(w, "\n## NAT lab\n\n")
	fmt.Fprintf(w, "Lab `testbed/two-sites.clab.yml` in network namespaces, real binaries; %s, %s, %d CPUs, %v in all.\n",
		run, rep.Started.UTC().Format(time.RFC3339), runtime.NumCPU(), rep.Took.Round(time.Second))
	for _, s := range []struct {
		name  string
		write func(io.Writer)
	}{{"ttd", rep.writeTTD}, {"wan", rep.writeWAN}, {"hog", rep.writeHog}, {"paths", rep.writePaths}, {"cold", rep.writeCold}, {"matrix", rep.writeMatrix}} {
		if p.runs(s.name) {
			s.write(w)
		}
	}
	rep.writeTargets(w)
}

// writeTargets lists issue 17's lab targets for the sections that ran.
func (rep Report) writeTargets(w io.Writer) {
	p99 := func(tcp, mesh bench.Series) float64 {
		if len(tcp) == 0 || len(mesh) == 0 {
			return 0
		}
		return tcp.Quantile(0.99) / mesh.Quantile(0.99)
	}
	var ts []bench.Target
	if rep.Params.runs("wan") {
		ts = append(ts, bench.Target{What: "lossy WAN (40 ms RTT, 3% loss): mapping p99 >= 3x better than plain TCP (nothing gets worse)",
			From: "lossy WAN ping-pong, p99 plain TCP / mapping", Got: p99(rep.WAN.TCPPP, rep.WAN.MeshPP), Want: 3, Unit: "x"})
	}
	if rep.Params.runs("hog") {
		ts = append(ts, bench.Target{What: "the same with a CPU hog beside the nodes: mapping p99 >= 2x better than plain TCP",
			From: "lossy WAN with a CPU hog, p99 plain TCP / mapping", Got: p99(rep.Hog.TCPPP, rep.Hog.MeshPP), Want: 2, Unit: "x"})
	}
	if len(ts) > 0 {
		bench.WriteTargets(w, "NAT lab: issue 17 targets", ts)
	}
}

func (rep Report) writeTTD(w io.Writer) {
	fmt.Fprintf(w, "\n## NAT lab: time from both nodes up to a direct path (ms)\n\n")
	fmt.Fprintf(w, "| NATs (a1 <-> b1) | how | reps | min / median / max |\n|---|---|---|---|\n")
	for _, t := range rep.TTD {
		how := "fresh lab per rep, no WAN delay or loss; from launching b1 (a1 already on the rendezvous) to both nodes reporting path \"direct\" (control API, 10 ms polls)"
		val := t.Ms.MMM("%.0f")
		if t.Err != nil {
			val = "failed: " + firstLine(t.Err)
		}
		fmt.Fprintf(w, "| %s <-> %s | %s | %d | %s |\n", natLabel[t.A], natLabel[t.B], how, len(t.Ms), val)
	}
}

func (rep Report) writeWAN(w io.Writer) {
	p, wan := rep.Params, rep.WAN
	wanHow := "40 ms RTT, 3% loss each way (site A's WAN box: 20 ms + 3% per direction); both sites open (public addresses)"
	head(w, "lossy WAN, single-stream throughput b1 -> a1 (MB/s)", wan.Err)
	fmt.Fprintf(w, "WAN: %s. Mesh link: %s.\n\n", wanHow, linkNote(wan))
	fmt.Fprintf(w, "| path | how | MB/s min / median / max |")
	for _, b := range wan.TCP {
		fmt.Fprintf(w, " vs plain TCP %s |", b.CC)
	}
	fmt.Fprintf(w, "\n|---|---|---|%s\n", strings.Repeat("---|", len(wan.TCP)))
	ratios := func(s bench.Series) string {
		var out string
		for _, b := range wan.TCP {
			out += " " + bench.Ratio(s.Median(), b.MBps.Median()) + " |"
		}
		return out
	}
	for i, b := range wan.TCP {
		fmt.Fprintf(w, "| plain TCP b1 -> a1, %s (baseline) | %s to a sink in a1, %d reps in turn with the other rows, congestion control %s%s; %s | %s |%s\n",
			b.CC, size(p.Bulk), len(b.MBps), b.CC, ccNote(b.CC, i), wanHow, b.MBps.MMM("%.2f"), ratios(b.MBps))
	}
	fmt.Fprintf(w, "| mapping over the direct link | %s through `map` on b1 (TCP->node->KCP/UDP->node->TCP) to the same sink, %d reps; same WAN | %s |%s\n",
		size(p.Bulk), len(wan.Mesh), wan.Mesh.MMM("%.2f"), ratios(wan.Mesh))

	fmt.Fprintf(w, "\n## NAT lab: lossy WAN, 64-byte ping-pong b1 -> a1 on one connection (ms)\n\n")
	fmt.Fprintf(w, "WAN: %s; 10 warm-up round trips first.\n\n", wanHow)
	fmt.Fprintf(w, "| path | round trips | p50 | p99 | max | p99: plain TCP / this |\n|---|---|---|---|---|---|\n")
	tcp99 := wan.TCPPP.Quantile(0.99)
	ppRow(w, "plain TCP b1 -> a1"+defaultCC(wan)+" (baseline)", wan.TCPPP, tcp99)
	ppRow(w, "mapping over the direct link", wan.MeshPP, tcp99)
	if len(wan.MeshPP) > 0 && len(wan.TCPPP) > 0 {
		fmt.Fprintf(w, "\nMapping p99 is %s better than plain TCP's (issue target: at least 3x at 3%% loss); p50 ratio %s.\n",
			bench.Ratio(tcp99, wan.MeshPP.Quantile(0.99)), bench.Ratio(wan.TCPPP.Median(), wan.MeshPP.Median()))
	}
}

func (rep Report) writeHog(w io.Writer) {
	h := rep.Hog
	head(w, "lossy WAN with a CPU hog, 64-byte ping-pong b1 -> a1 on one connection (ms)", h.Err)
	fmt.Fprintf(w, "The lossy WAN's ping-pong rows again (40 ms RTT, 3%% loss each way; both sites open; a fresh lab), while %d busy processes (a shell loop each, nice 0, "+
		"outside the lab's namespaces) kept %.2f of the %d cores busy on average; they run only for these rows. The WAN box's bridge runs at real-time priority, so the emulated "+
		"WAN holds; the nodes, the lab's routers and this process compete with the hog. Mesh link: %s.\n\n",
		h.Hogs, h.HogCores, runtime.NumCPU(), linkNote(WAN{Before: h.Before, After: h.After}))
	fmt.Fprintf(w, "| path | round trips | p50 | p99 | max | p99: plain TCP / this |\n|---|---|---|---|---|---|\n")
	tcp99 := h.TCPPP.Quantile(0.99)
	ppRow(w, "plain TCP b1 -> a1, "+h.CC+" (baseline), CPU hog", h.TCPPP, tcp99)
	ppRow(w, "mapping over the direct link, CPU hog", h.MeshPP, tcp99)
}

func (rep Report) writePaths(w io.Writer) {
	p, dr := rep.Params, rep.Paths
	head(w, "direct vs relay on the same nodes, single-stream throughput b1 -> a1 (MB/s)", dr.Err)
	fmt.Fprintf(w, "Both sites port-restricted, no WAN delay or loss; one lab, one pair of nodes, one mapping on b1 to a sink in a1. %s.\n\n", pathsNote(dr))
	fmt.Fprintf(w, "Read with care: the lab's eight routers, NATs and WAN boxes forward every datagram on this machine's own CPUs, next to both nodes. "+
		"The direct path is 1400-byte UDP datagrams, each forwarded and NATed one by one; the relay is TCP, which crosses the same hops in segments of up to 64 KB (GSO). "+
		"Measured with iperf3 in this lab, b1 -> rdv: TCP ~5.6 Gbit/s, 1400-byte UDP ~1.6 Gbit/s. On loopback (`just bench`) direct and relay are even; "+
		"on a real network the routers' work is not on the nodes' CPUs.\n\n")
	fmt.Fprintf(w, "| path | how | MB/s min / median / max | relay vs direct |\n|---|---|---|---|\n")
	fmt.Fprintf(w, "| direct | %s through `map` on b1 (TCP->node->KCP/UDP->node->TCP), %d reps, a new connection each, with the link on path \"direct\" (hole punched) | %s | %s |\n",
		size(p.Bulk), len(dr.Direct), dr.Direct.MMM("%.2f"), bench.Ratio(dr.Direct.Median(), dr.Direct.Median()))
	fmt.Fprintf(w, "| relay (same nodes, UDP between the sites blocked) | the same mapping right after: UDP between the two ISPs dropped on `inet` (nft), b1 polled until it reports path \"relay\" to a1, then %s, %d reps, a new connection each (TCP->node->KCP over the relay, TCP via the rendezvous->node->TCP) | %s | %s |\n",
		size(p.Bulk), len(dr.Relay), dr.Relay.MMM("%.2f"), bench.Ratio(dr.Relay.Median(), dr.Direct.Median()))
}

func (rep Report) writeCold(w io.Writer) {
	c := rep.Cold
	head(w, "a fresh node's first connection over a 40 ms RTT WAN (ms)", c.Err)
	fmt.Fprintf(w, "Site A's WAN box holds every frame 20 ms each way (no loss), so a1 is 40 ms from the rendezvous and from site B; both sites port-restricted. "+
		"a1 serves an echo as serveid 701. Each repetition launches a fresh node in b1 (new state directory: new identity, no link, empty catalog), "+
		"maps 701 as soon as it is on the rendezvous and sends one byte through the mapping. Paths of the first bytes: %s.\n\n", pathCounts(c.Paths))
	fmt.Fprintf(w, "| what | how | n | min / median / max | median in relay RTTs |\n|---|---|---|---|---|\n")
	rtt := c.RelayRTT.Median()
	inRTT := func(s bench.Series) string {
		if rtt <= 0 || len(s) == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f", s.Median()/rtt)
	}
	fmt.Fprintf(w, "| relay round trip (baseline) | 64-byte ping-pong over a mapping on b2 -> a1, b2 running --relay-only; round trips after 10 warm-up | %d | %s | %s |\n",
		len(c.RelayRTT), c.RelayRTT.MMM("%.1f"), inRTT(c.RelayRTT))
	fmt.Fprintf(w, "| fresh node, cold mapped connection to first echoed byte | from b1's node getting onto the rendezvous (no link yet; its own clock) through `map 701` (waits for the link to a1 and a1's catalog entry) and a connection to the echoed byte (issue target: <= 3 relay RTTs, never waiting for ICE) | %d | %s | %s |\n",
		len(c.Cold), c.Cold.MMM("%.1f"), inRTT(c.Cold))
	fmt.Fprintf(w, "| fresh node, launch to first echoed byte | the same, from launching `meshnode up` (process start, rendezvous session, `map` through the control API) | %d | %s | %s |\n",
		len(c.FromLaunch), c.FromLaunch.MMM("%.1f"), inRTT(c.FromLaunch))
}

// head writes a section's title and, if the section failed, why.
func head(w io.Writer, title string, err error) {
	fmt.Fprintf(w, "\n## NAT lab: %s\n\n", title)
	if err != nil {
		fmt.Fprintf(w, "Failed: %s\n", firstLine(err))
	}
}

// pathCounts renders how many first bytes went on each path.
func pathCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(m))
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(out, ", ")
}

// pathsNote says which paths the direct-vs-relay rows ran on and how long the
// fallback took.
func pathsNote(dr DirectRelay) string {
	if dr.DirectBefore.Path == "" {
		return "Link never up"
	}
	s := fmt.Sprintf("Link %s to %s", dr.DirectBefore.Path, dr.DirectBefore.Endpoint)
	if dr.DirectAfter.Path != "" {
		s += fmt.Sprintf(" (still %s after its rows)", dr.DirectAfter.Path)
	}
	if dr.RelayBefore.Path != "" {
		s += fmt.Sprintf("; %s %v after the block", dr.RelayBefore.Path, dr.Fallback.Round(100*time.Millisecond))
	}
	if dr.RelayAfter.Path != "" {
		s += fmt.Sprintf(", still %s after its rows (link RTT %d ms)", dr.RelayAfter.Path, dr.RelayAfter.RTTMillis)
	}
	return s
}

// ccNote explains the first baseline's congestion control: the lab's default.
func ccNote(cc string, i int) string {
	switch {
	case i == 0 && cc == "bbr":
		return " (the lab's default, from the host; hardly backs off on random loss)"
	case i == 0:
		return " (the lab's default, from the host)"
	case cc == "cubic":
		return " (Linux's usual default; backs off on every loss)"
	}
	return ""
}

func defaultCC(wan WAN) string {
	if len(wan.TCP) == 0 {
		return ""
	}
	return ", " + wan.TCP[0].CC
}

func ppRow(w io.Writer, name string, s bench.Series, base99 float64) {
	fmt.Fprintf(w, "| %s | %d | %.1f | %.1f | %.1f | %s |\n", name, len(s), s.Median(), s.Quantile(0.99), s.Max(),
		bench.Ratio(base99, s.Quantile(0.99)))
}

// linkNote says which path b1's link to a1 was on, before and after the run,
// and what the WAN box dropped.
func linkNote(wan WAN) string {
	if wan.Before.Path == "" {
		return "never up"
	}
	s := fmt.Sprintf("%s to %s before the run", wan.Before.Path, wan.Before.Endpoint)
	if wan.After.Path != "" {
		s += fmt.Sprintf(", %s after (link RTT %d ms)", wan.After.Path, wan.After.RTTMillis)
	}
	if wan.DropsUp+wan.DropsDown > 0 {
		s += fmt.Sprintf("; the WAN box dropped %d packets toward the internet and %d toward site A meanwhile", wan.DropsUp, wan.DropsDown)
	}
	return s
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return strings.ReplaceAll(s, "|", "/")
}

func size(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
