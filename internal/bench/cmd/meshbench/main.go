// Command meshbench measures meshnode against baselines measured in the same run
// and prints a markdown table (also written to --out).
//
//	go run ./internal/bench/cmd/meshbench --bin ./bin [--quick] [--out FILE]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/meshnode/meshnode/internal/bench"
	"github.com/meshnode/meshnode/internal/meshproc"
	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/seal"
)

type params struct {
	bulkTCP, bulkMesh int64 // bytes per throughput repetition
	reps              int   // repetitions of each throughput measurement
	pings             int   // ping-pong round trips
	connects          int   // new connections for connect-to-first-byte
	many              int   // concurrent connections held open
	catalogSizes      []int // group sizes for catalog convergence
	catalogReps       int
	idleWindow        time.Duration
	rdvNodes          []int // idle nodes connected to a rendezvous for its memory
	fresh             int   // fresh nodes started for cold connects and time to direct
	streams           int   // concurrent streams over one link (the bytes of one repetition split over them)
	fwdPairs          int   // relayed pairs through one rendezvous at once
	fwdWindow         time.Duration
	fwdReps           int
}

func main() {
	bin := flag.String("bin", "./bin", "directory with the meshnode and rendezvous binaries")
	quick := flag.Bool("quick", false, "a fast smoke run (small sizes, one repetition)")
	rawPeer := flag.Bool("raw-kcp-peer", false, "internal: serve the raw kcp baseline's other process")
	proxyTo := flag.String("tcp-proxy-to", "", "internal: be a plain TCP proxy to `ADDR` (the ping-pong floor's processes)")
	out := flag.String("out", "bench-results/latest.md", "also write the table here (\"\" = don't)")
	flag.Parse()
	if *proxyTo != "" {
		if err := bench.ServeTCPProxy(*proxyTo); err != nil {
			fmt.Fprintln(os.Stderr, "meshbench tcp proxy:", err)
			os.Exit(1)
		}
		return
	}
	if *rawPeer {
		if err := bench.ServeRawPeer(); err != nil {
			fmt.Fprintln(os.Stderr, "meshbench raw kcp peer:", err)
			os.Exit(1)
		}
		return
	}
	p := params{bulkTCP: 1 << 30, bulkMesh: 128 << 20, reps: 5, pings: 2000, connects: 200, many: 1000,
		catalogSizes: []int{10, 30}, catalogReps: 5, idleWindow: 10 * time.Second, rdvNodes: []int{100, 1000}, fresh: 5,
		streams: 4, fwdPairs: 8, fwdWindow: 2 * time.Second, fwdReps: 3}
	if *quick {
		p = params{bulkTCP: 32 << 20, bulkMesh: 4 << 20, reps: 1, pings: 100, connects: 10, many: 50,
			catalogSizes: []int{3}, catalogReps: 1, idleWindow: 2 * time.Second, rdvNodes: []int{20}, fresh: 1,
			streams: 4, fwdPairs: 8, fwdWindow: 300 * time.Millisecond, fwdReps: 1}
	}
	var w strings.Builder
	err := run(&w, *bin, p)
	fmt.Print(w.String())
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshbench:", err)
		os.Exit(1)
	}
	if *out != "" {
		os.MkdirAll(filepath.Dir(*out), 0o755)
		if err := os.WriteFile(*out, []byte(w.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "meshbench:", err)
			os.Exit(1)
		}
	}
}

func run(w io.Writer, bin string, p params) error {
	ctx := context.Background()
	fmt.Fprintf(w, "# meshnode bench — %s, %s/%s, %d CPUs\n\n", time.Now().UTC().Format(time.RFC3339), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	fmt.Fprintf(w, "All figures on loopback; baselines measured in this run beside the product. min / median / max over repetitions; ratio = median / baseline median.\n")

	srv, err := bench.StartServers()
	if err != nil {
		return err
	}
	defer srv.Close()
	rdvBin := filepath.Join(bin, "rendezvous")
	rdv, err := bench.StartRendezvous(ctx, rdvBin, "--ws-listen", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer rdv.Kill()
	serve := []string{"700=" + srv.Sink.Addr().String() + ",name=sink", "701=" + srv.Echo.Addr().String() + ",name=echo"}
	quiet := []string{"--log-level", "warn"}
	meshnode := filepath.Join(bin, "meshnode")
	// Two pairs on one rendezvous, each in its own group: a-b forced onto the
	// relay, c-d free to go direct (over loopback).
	relayFlags := append([]string{"--relay-only"}, quiet...)
	directFlags := append(slices.Clone(bench.DirectFlags), quiet...)
	start := func(name, group string, serve, extra []string) (*meshproc.Node, error) {
		return meshproc.StartNode(ctx, meshnode, rdv.Addr, meshproc.NodeOptions{Name: name, Group: group, Serve: serve, Extra: extra})
	}
	a, err := start("a", "bench-relay", serve, relayFlags)
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := start("b", "bench-relay", nil, relayFlags)
	if err != nil {
		return err
	}
	defer b.Close()
	c, err := start("c", "bench-direct", serve, directFlags)
	if err != nil {
		return err
	}
	defer c.Close()
	d, err := start("d", "bench-direct", nil, directFlags)
	if err != nil {
		return err
	}
	defer d.Close()
	var sinkMap, echoMap, dSinkMap, dEchoMap string
	for _, m := range []struct {
		n      *meshproc.Node
		target string
		addr   *string
	}{{b, "700", &sinkMap}, {b, "701", &echoMap}, {d, "700", &dSinkMap}, {d, "701", &dEchoMap}} {
		if *m.addr, err = m.n.Map(ctx, m.target); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = bench.WaitPath(wctx, d, "c", "direct")
	cancel()
	if err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	idleA, _ := bench.RSS(a.Cmd.Process.Pid)
	idleB, _ := bench.RSS(b.Cmd.Process.Pid)

	// Throughput, and the CPU time of the processes that move the bytes
	// (the bench's own TCP client and sink are in neither mapping's figure).
	self := os.Getpid()
	directPids, relayPids := []int{d.Pid(), c.Pid()}, []int{b.Pid(), a.Pid(), rdv.Pid()}
	each := p.bulkMesh / int64(p.streams)
	tcp, err := repeatCPU(p.reps, p.bulkTCP, []int{self}, func() (float64, error) { return bench.Throughput(srv.Sink.Addr().String(), p.bulkTCP) })
	if err != nil {
		return fmt.Errorf("plain TCP throughput: %w", err)
	}
	raw, err := repeat(p.reps, func() (float64, error) { return bench.RawKCPThroughput(p.bulkMesh) })
	if err != nil {
		return fmt.Errorf("raw kcp throughput: %w", err)
	}
	rawLazy, err := repeat(p.reps, func() (float64, error) { return bench.RawKCPThroughputDelayedACKs(p.bulkMesh) })
	if err != nil {
		return fmt.Errorf("raw kcp throughput, delayed ACKs: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	peer, err := bench.StartRawPeer(exe, "--raw-kcp-peer")
	if err != nil {
		return fmt.Errorf("raw kcp peer: %w", err)
	}
	defer peer.Close()
	raw2, err := repeatCPU(p.reps, p.bulkMesh, []int{self, peer.Pid()}, func() (float64, error) { return peer.Throughput(p.bulkMesh) })
	if err != nil {
		return fmt.Errorf("raw kcp between processes: %w", err)
	}
	raw2N, err := repeat(p.reps, func() (float64, error) { return peer.ParallelThroughput(p.streams, each) })
	if err != nil {
		return fmt.Errorf("raw kcp between processes, %d streams: %w", p.streams, err)
	}
	direct, err := repeatCPU(p.reps, p.bulkMesh, directPids, func() (float64, error) { return bench.Throughput(dSinkMap, p.bulkMesh) })
	if err != nil {
		return fmt.Errorf("direct throughput: %w", err)
	}
	directN, err := repeatCPU(p.reps, p.bulkMesh, directPids, func() (float64, error) { return bench.ParallelThroughput(dSinkMap, p.streams, each) })
	if err != nil {
		return fmt.Errorf("direct throughput, %d streams: %w", p.streams, err)
	}
	stop := make(chan struct{})
	peakA, peakB := bench.PeakRSS(a.Pid(), stop), bench.PeakRSS(b.Pid(), stop)
	relay, err := repeatCPU(p.reps, p.bulkMesh, relayPids, func() (float64, error) { return bench.Throughput(sinkMap, p.bulkMesh) })
	close(stop)
	bulkA, bulkB := <-peakA, <-peakB
	if err != nil {
		return fmt.Errorf("relay throughput: %w", err)
	}
	relayN, err := repeatCPU(p.reps, p.bulkMesh, relayPids, func() (float64, error) { return bench.ParallelThroughput(sinkMap, p.streams, each) })
	if err != nil {
		return fmt.Errorf("relay throughput, %d streams: %w", p.streams, err)
	}
	// The direct path with the other built-in suite, and the same two paths
	// with the reference plugins (processes beside the nodes).
	pch, err := variantThroughput(ctx, meshnode, rdv.Addr, srv, "bench-chacha", p,
		append([]string{"--cipher", "chacha20poly1305"}, directFlags...), "direct")
	if err != nil {
		return fmt.Errorf("chacha20poly1305 throughput: %w", err)
	}
	pc, err := variantThroughput(ctx, meshnode, rdv.Addr, srv, "bench-cipher", p,
		append([]string{"--cipher", "aesgcm"}, directFlags...), "direct")
	if err != nil {
		return fmt.Errorf("cipher plugin throughput: %w", err)
	}
	pw, err := variantThroughput(ctx, meshnode, rdv.WSAddr, srv, "bench-ws", p,
		append([]string{"--transport", "websocket"}, relayFlags...), "relay")
	if err != nil {
		return fmt.Errorf("transport plugin throughput: %w", err)
	}

	fmt.Fprintf(w, "\n## Single-stream throughput (MB/s)\n\n| path | how | MB/s min / median / max | vs raw kcp+smux | vs raw kcp, delayed ACKs | vs direct | vs plain TCP |\n|---|---|---|---|---|---|---|\n")
	vs := func(s bench.Series) string {
		return bench.Ratio(s.Median(), raw.Median()) + " | " + bench.Ratio(s.Median(), rawLazy.Median())
	}
	fmt.Fprintf(w, "| plain TCP (baseline) | %s to a sink, %d reps | %s | - | - | - | 1.00x |\n", size(p.bulkTCP), p.reps, tcp.MMM("%.0f"))
	fmt.Fprintf(w, "| raw kcp-go+smux over UDP, no crypto (baseline) | %s, product's KCP settings, in-process | %s | %s | - | %s |\n", size(p.bulkMesh), raw.MMM("%.1f"), vs(raw), bench.Ratio(raw.Median(), tcp.Median()))
	fmt.Fprintf(w, "| raw kcp-go+smux between two processes, no crypto (baseline) | %s, product's KCP settings, this process to a child | %s | %s | - | %s |\n", size(p.bulkMesh), raw2.MMM("%.1f"), vs(raw2.Series), bench.Ratio(raw2.Median(), tcp.Median()))
	fmt.Fprintf(w, "| raw kcp-go+smux, kcp-go's delayed ACKs (context; issue 17's bar for direct) | %s, the same but ACK-no-delay off: an ACK packet per 10 ms interval or ~57 segments instead of per segment (the product holds ACKs only while more segments are queued: at 3%% loss delayed ACKs cost it 35%% on request p99) | %s | %s | - | %s |\n", size(p.bulkMesh), rawLazy.MMM("%.1f"), vs(rawLazy), bench.Ratio(rawLazy.Median(), tcp.Median()))
	fmt.Fprintf(w, "| mapping over a direct link | %s through `map` (TCP->node->UDP->node->TCP), sealed (%s) | %s | %s | 1.00x | %s |\n", size(p.bulkMesh), autoSuite(), direct.MMM("%.1f"), vs(direct.Series), bench.Ratio(direct.Median(), tcp.Median()))
	fmt.Fprintf(w, "| mapping over the relay | %s through `map` (TCP->node->rendezvous->node->TCP), sealed | %s | %s | %s | %s |\n", size(p.bulkMesh), relay.MMM("%.1f"), vs(relay.Series), bench.Ratio(relay.Median(), direct.Median()), bench.Ratio(relay.Median(), tcp.Median()))

	fmt.Fprintf(w, "\n### The other built-in cipher and the reference plugins (as a ratio to the default on the same path)\n\n| path | how | MB/s min / median / max | vs default |\n|---|---|---|---|\n")
	fmt.Fprintf(w, "| direct, built-in `chacha20poly1305` (what `auto` picks when either CPU lacks AES instructions) | %s x %d | %s | %s of `auto` (%s) direct |\n", size(p.bulkMesh), p.reps, pch.MMM("%.1f"), bench.Ratio(pch.Median(), direct.Median()), autoSuite())
	fmt.Fprintf(w, "| direct, cipher plugin `aesgcm` (Noise AESGCM_SHA512 handshake in the plugin, AES-256-GCM in-process) | %s x %d | %s | %s of `auto` (%s) direct |\n", size(p.bulkMesh), p.reps, pc.MMM("%.1f"), bench.Ratio(pc.Median(), direct.Median()), autoSuite())
	fmt.Fprintf(w, "| relay, transport plugin `websocket` (node->plugin unix socket->WebSocket->rendezvous) | %s x %d | %s | %s of built-in TCP relay |\n", size(p.bulkMesh), p.reps, pw.MMM("%.1f"), bench.Ratio(pw.Median(), relay.Median()))

	fmt.Fprintf(w, "\n## %d streams over one link (aggregate MB/s)\n\n%d connections at once, %s each (the %s of one single-stream repetition split over them), timed from the first byte to the last acknowledgement; %d reps.\n\n", p.streams, p.streams, size(each), size(p.bulkMesh), p.reps)
	fmt.Fprintf(w, "| path | how | 1 stream MB/s median | %d streams MB/s min / median / max | %d streams / 1 stream |\n|---|---|---|---|---|\n", p.streams, p.streams)
	fmt.Fprintf(w, "| raw kcp-go+smux between two processes (baseline) | %d smux streams on one KCP session, this process to a child | %.1f | %s | %s |\n", p.streams, raw2.Median(), raw2N.MMM("%.1f"), bench.Ratio(raw2N.Median(), raw2.Median()))
	fmt.Fprintf(w, "| mapping over a direct link | %d mapped connections through one `map` on one link | %.1f | %s | %s |\n", p.streams, direct.Median(), directN.MMM("%.1f"), bench.Ratio(directN.Median(), direct.Median()))
	fmt.Fprintf(w, "| mapping over the relay | the same over the relayed link | %.1f | %s | %s |\n", relay.Median(), relayN.MMM("%.1f"), bench.Ratio(relayN.Median(), relay.Median()))

	fmt.Fprintf(w, "\n## CPU per GB moved (CPU-s/GB)\n\nutime+stime from /proc/PID/stat (10 ms ticks) before and after all repetitions of the throughput rows above; GB = 10^9 bytes moved. "+
		"A mapping's figure is its two node processes only (the bench's TCP client and sink are in the plain TCP row); cores busy = their CPU time / wall time.\n\n")
	fmt.Fprintf(w, "| path | how | moved | sender node | receiver node | both nodes | rendezvous | both vs raw kcp | cores busy (both) |\n|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(w, "| plain TCP (baseline) | both ends in this process | %s | - | - | %.2f | - | %s | %.2f |\n", size(tcp.bytes), tcp.perGB(0), bench.Ratio(tcp.perGB(0), raw2.perGB(0, 1)), tcp.cores(0))
	cpuRow(w, "raw kcp-go+smux between two processes (baseline)", "sender this process, receiver the child", raw2, raw2)
	cpuRow(w, "mapping over a direct link", "1 stream", direct, raw2)
	cpuRow(w, "mapping over a direct link", fmt.Sprintf("%d streams", p.streams), directN, raw2)
	cpuRow(w, "mapping over the relay", "1 stream; rendezvous apart", relay, raw2)
	cpuRow(w, "mapping over the relay", fmt.Sprintf("%d streams; rendezvous apart", p.streams), relayN, raw2)

	// Ping-pong.
	tcpPP, err := bench.PingPong(srv.Echo.Addr().String(), p.pings)
	if err != nil {
		return fmt.Errorf("plain TCP ping-pong: %w", err)
	}
	rawPP, err := bench.RawKCPPingPong(p.pings)
	if err != nil {
		return fmt.Errorf("raw kcp ping-pong: %w", err)
	}
	raw2PP, err := peer.PingPong(p.pings)
	if err != nil {
		return fmt.Errorf("raw kcp ping-pong between processes: %w", err)
	}
	directPP, err := bench.PingPong(dEchoMap, p.pings)
	if err != nil {
		return fmt.Errorf("direct ping-pong: %w", err)
	}
	relayPP, err := bench.PingPong(echoMap, p.pings)
	if err != nil {
		return fmt.Errorf("relay ping-pong: %w", err)
	}
	chainPP, err := proxyChainPingPong(exe, srv.Echo.Addr().String(), p.pings)
	if err != nil {
		return fmt.Errorf("TCP proxy chain ping-pong: %w", err)
	}
	fmt.Fprintf(w, "\n## 64-byte ping-pong on one connection (ms)\n\n| path | round trips | p50 | p99 | max | p50 vs raw kcp | p50 vs raw kcp between two processes |\n|---|---|---|---|---|---|---|\n")
	ppRow(w, "plain TCP (baseline)", tcpPP, rawPP, raw2PP)
	ppRow(w, "raw kcp-go+smux (baseline)", rawPP, rawPP, raw2PP)
	ppRow(w, "raw kcp-go+smux between two processes (baseline)", raw2PP, rawPP, raw2PP)
	ppRow(w, "two plain TCP proxy processes in a chain (context: a mapping's TCP legs through two processes, no KCP, no crypto)", chainPP, rawPP, raw2PP)
	ppRow(w, "mapping over a direct link", directPP, rawPP, raw2PP)
	ppRow(w, "mapping over the relay", relayPP, rawPP, raw2PP)
	floor := chainPP.Quantile(0.5) + raw2PP.Quantile(0.5)
	fmt.Fprintf(w, "\nThe last column is the fair one for the product (every product path crosses processes; on 2 cores each datagram waking another process is most of a small round trip). "+
		"Direct throughput against the same two-process baseline: %s.\n\n"+
		"A direct mapping's round trip crosses both: its TCP legs through two processes (the proxy chain, p50 %.3f ms) and a KCP hop between two processes (p50 %.3f ms). "+
		"Their sum, %.3f ms, is %s of the two-process KCP baseline; the mapping's p50 is %s of that sum.\n",
		bench.Ratio(direct.Median(), raw2.Median()), chainPP.Quantile(0.5), raw2PP.Quantile(0.5), floor, bench.Ratio(floor, raw2PP.Quantile(0.5)), bench.Ratio(directPP.Quantile(0.5), floor))

	// New connections.
	tcpC, err := bench.ConnectFirstByte(srv.Echo.Addr().String(), p.connects)
	if err != nil {
		return fmt.Errorf("plain TCP connect: %w", err)
	}
	directC, err := bench.ConnectFirstByte(dEchoMap, p.connects)
	if err != nil {
		return fmt.Errorf("direct connect: %w", err)
	}
	relayC, err := bench.ConnectFirstByte(echoMap, p.connects)
	if err != nil {
		return fmt.Errorf("relay connect: %w", err)
	}
	freshC, err := bench.FreshNodeFirstByte(ctx, meshnode, rdv.Addr, "bench-direct", "701", p.fresh, bench.DirectFlags)
	if err != nil {
		return fmt.Errorf("fresh node connect: %w", err)
	}
	relayRTT, _ := bench.PingPong(echoMap, 20) // relay RTT for the cold target (<= 3 relay RTTs)
	fmt.Fprintf(w, "\n## New connection: dial to first echoed byte (ms)\n\n| path | connections | p50 | p99 | max | p50 vs TCP |\n|---|---|---|---|---|---|\n")
	ppRow(w, "plain TCP (baseline)", tcpC, tcpC)
	ppRow(w, "mapping, direct link already up", directC, tcpC)
	ppRow(w, "mapping, relayed link already up", relayC, tcpC)
	ppRow(w, "fresh node: `up`, `map`, first connection at once (link on the relay, ICE still running)", freshC, tcpC)
	fmt.Fprintf(w, "\nFresh-node first byte p50 = %.1f relay RTTs (relay ping-pong p50 %.3f ms). On loopback a round trip is shorter than a new process's first pass through its code; "+
		"the NAT lab's cold-start rows (`just lab-bench`) count round trips over a 40 ms RTT WAN (issue target: <= 3).\n", freshC.Quantile(0.5)/relayRTT.Quantile(0.5), relayRTT.Quantile(0.5))

	// Time to a direct path.
	ttd, err := bench.TimeToDirect(ctx, meshnode, rdv.Addr, p.fresh, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n## Time from both nodes up to a direct path (ms)\n\n| where | reps | min / median / max |\n|---|---|---|\n")
	fmt.Fprintf(w, "| loopback, no NAT (host candidates) | %d | %s |\n", p.fresh, ttd.MMM("%.0f"))

	// Many connections.
	failed, took := bench.ManyConnections(echoMap, p.many, 1024)
	fmt.Fprintf(w, "\n## %d concurrent mapped connections, all open at once, each echoing 1 KiB\n\n| errors | time for all |\n|---|---|\n| %d | %v |\n", p.many, failed, took.Round(time.Millisecond))

	// Memory.
	for _, n := range []*meshproc.Node{a, b, c, d} {
		n.Close()
	}
	fmt.Fprintf(w, "\n## Memory (RSS)\n\n| what | how | RSS |\n|---|---|---|\n")
	fmt.Fprintf(w, "| idle node | after start, one peer, two mappings | %s, %s |\n", mib(idleA), mib(idleB))
	fmt.Fprintf(w, "| node moving a bulk transfer | peak while the relay throughput rows ran | sender %s, receiver %s |\n", mib(bulkB), mib(bulkA))
	for _, n := range p.rdvNodes {
		r, err := bench.StartRendezvous(ctx, rdvBin, "--max-conns-per-ip", "0") // all clients come from 127.0.0.1
		if err != nil {
			return err
		}
		per, err := bench.RendezvousPerNode(ctx, r.Addr, r.Pid(), n, 10)
		total, _ := bench.RSS(r.Pid())
		r.Kill()
		if err != nil {
			return fmt.Errorf("rendezvous memory: %w", err)
		}
		fmt.Fprintf(w, "| rendezvous, %d idle nodes | groups of 10; RSS growth / nodes | %.1f KiB per node (%s total) |\n", n, per/1024, mib(total))
	}

	fwd, err := forwardRows(ctx, w, rdvBin, p)
	if err != nil {
		return err
	}
	if err := catalogRows(w, bin, p.catalogSizes, p.catalogReps, p.idleWindow); err != nil {
		return err
	}
	bench.WriteTargets(w, "Issue 17 targets", []bench.Target{
		{What: "direct mapping, single stream, >= 1.0x raw kcp-go+smux with kcp-go's delayed ACKs", From: "single-stream throughput",
			Got: ratio(direct.Median(), rawLazy.Median()), Want: 1, Unit: "x"},
		{What: "direct mapping, single stream, >= 3x today's direct figure", From: "single-stream throughput, MB/s",
			Got: direct.Median(), Unit: " MB/s"},
		{What: fmt.Sprintf("%d streams over one (direct) link: aggregate >= 1.5x the single stream", p.streams), From: "streams over one link",
			Got: ratio(directN.Median(), direct.Median()), Want: 1.5, Unit: "x"},
		{What: fmt.Sprintf("the same over the relayed link (%d streams / 1 stream)", p.streams), From: "streams over one link",
			Got: ratio(relayN.Median(), relay.Median()), Want: 1.5, Unit: "x"},
		{What: "relay mapping >= 0.8x direct", From: "single-stream throughput",
			Got: ratio(relay.Median(), direct.Median()), Want: 0.8, Unit: "x"},
		{What: fmt.Sprintf("the rendezvous forwards >= 300 MB/s aggregate for %d relayed pairs", fwd.Pairs), From: "rendezvous forwarding",
			Got: fwd.MBps.Median(), Want: 300, Unit: " MB/s"},
		{What: "64-byte ping-pong p50 over a direct mapping <= 1.2x raw kcp-go+smux between two processes", From: "ping-pong",
			Got: ratio(directPP.Quantile(0.5), raw2PP.Quantile(0.5)), Want: 1.2, AtMost: true, Unit: "x"},
		{What: "the same ratio for two plain TCP proxy processes plus the two-process KCP hop (what a mapping's round trip crosses, without crypto or the node's own work)", From: "ping-pong",
			Got: ratio(chainPP.Quantile(0.5)+raw2PP.Quantile(0.5), raw2PP.Quantile(0.5)), Unit: "x", Context: true},
		{What: "CPU seconds per GB moved, both nodes, direct: <= 0.4x today's", From: "CPU per GB, direct, 1 stream",
			Got: direct.perGB(0, 1), Unit: " CPU-s/GB"},
		{What: "the same over the relay (not a target; rendezvous apart)", From: "CPU per GB, relay, 1 stream",
			Got: relay.perGB(0, 1), Unit: " CPU-s/GB"},
	})
	return nil
}

// forwardRows measures a rendezvous of its own forwarding datagrams between
// one relayed pair (the baseline) and p.fwdPairs pairs at once.
func forwardRows(ctx context.Context, w io.Writer, rdvBin string, p params) (bench.Forward, error) {
	r, err := bench.StartRendezvous(ctx, rdvBin, "--max-conns-per-ip", "0")
	if err != nil {
		return bench.Forward{}, err
	}
	defer r.Kill()
	groups, err := bench.DeriveGroups(p.fwdPairs)
	if err != nil {
		return bench.Forward{}, err
	}
	one, err := bench.RendezvousForward(ctx, r.Addr, r.Pid(), groups[:1], p.fwdWindow, p.fwdReps)
	if err != nil {
		return one, fmt.Errorf("rendezvous forwarding, 1 pair: %w", err)
	}
	all, err := bench.RendezvousForward(ctx, r.Addr, r.Pid(), groups, p.fwdWindow, p.fwdReps)
	if err != nil {
		return all, fmt.Errorf("rendezvous forwarding, %d pairs: %w", p.fwdPairs, err)
	}
	fmt.Fprintf(w, "\n## Rendezvous forwarding: relayed pairs through one rendezvous (payload MB/s delivered)\n\n"+
		"One rendezvous process (`--max-conns-per-ip 0`, no `--relay-rate`); relay clients of pkg/relay in this process on loopback, a sender and a receiver per pair, each pair in its own group. "+
		"Every sender sends %d-byte datagrams (a link's largest) as fast as `Send` takes them; %d window(s) of %v after a warm-up. "+
		"The clients share the 2 cores with the rendezvous: their CPU is shown beside its.\n\n", bench.ForwardDatagram, p.fwdReps, p.fwdWindow)
	fmt.Fprintf(w, "| pairs | MB/s min / median / max | vs 1 pair | rendezvous cores busy | rendezvous CPU-s/GB | clients' cores busy (this process) | datagrams lost |\n|---|---|---|---|---|---|---|\n")
	for _, f := range []bench.Forward{one, all} {
		lost := "-"
		if f.Sent > 0 {
			lost = fmt.Sprintf("%.1f%%", 100*float64(f.Sent-f.Got)/float64(f.Sent))
		}
		fmt.Fprintf(w, "| %d | %s | %s | %.2f | %.2f | %.2f | %s |\n", f.Pairs, f.MBps.MMM("%.1f"), bench.Ratio(f.MBps.Median(), one.MBps.Median()),
			f.RdvCPU.Seconds()/f.Wall.Seconds(), bench.PerGB(f.RdvCPU, f.Bytes), f.ClientsCPU.Seconds()/f.Wall.Seconds(), lost)
	}
	return all, nil
}

// catalogRows measures gossip convergence and idle traffic for each group size.
func catalogRows(w io.Writer, bin string, sizes []int, reps int, window time.Duration) error {
	fmt.Fprintf(w, "\n## Catalog: a service added on one node, seen by all (gossip over relayed links: the slower case)\n\n")
	fmt.Fprintf(w, "| nodes | how | convergence ms min / median / max | idle link bytes/s per node min / median / max |\n|---|---|---|---|\n")
	for _, n := range sizes {
		r, err := bench.Catalog(context.Background(), filepath.Join(bin, "meshnode"), filepath.Join(bin, "rendezvous"), n, reps, window)
		if err != nil {
			return fmt.Errorf("catalog N=%d: %w", n, err)
		}
		fmt.Fprintf(w, "| %d | %d additions; idle over %v (gossip + link keepalives, all peers) | %s | %s |\n",
			n, reps, window, r.Convergence.MMM("%.0f"), r.IdleBytes.MMM("%.0f"))
	}
	return nil
}

// variantThroughput starts a serving and a mapping node in their own group with
// extra flags, waits for the link's path and measures single-stream throughput.
func variantThroughput(ctx context.Context, bin, rdv string, srv *bench.Servers, group string, p params, extra []string, path api.Path) (bench.Series, error) {
	if rdv == "" {
		return nil, fmt.Errorf("the rendezvous has no WebSocket listener")
	}
	s, err := meshproc.StartNode(ctx, bin, rdv, meshproc.NodeOptions{Name: "ps", Group: group,
		Serve: []string{"700=" + srv.Sink.Addr().String()}, Extra: extra})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	m, err := meshproc.StartNode(ctx, bin, rdv, meshproc.NodeOptions{Name: "pm", Group: group, Extra: extra})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	addr, err := m.Map(ctx, "700")
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = bench.WaitPath(wctx, m, "ps", path)
	cancel()
	if err != nil {
		return nil, err
	}
	return repeat(p.reps, func() (float64, error) { return bench.Throughput(addr, p.bulkMesh) })
}

// ppRow is a latency row with its p50 against each of bases' p50.
func ppRow(w io.Writer, name string, s bench.Series, bases ...bench.Series) {
	fmt.Fprintf(w, "| %s | %d | %.3f | %.3f | %.3f |", name, len(s), s.Quantile(0.5), s.Quantile(0.99), s.Max())
	for _, b := range bases {
		fmt.Fprintf(w, " %s |", bench.Ratio(s.Quantile(0.5), b.Quantile(0.5)))
	}
	fmt.Fprintln(w)
}

// measured is a throughput series with the CPU time of the processes that
// moved its bytes.
type measured struct {
	bench.Series
	bytes int64           // moved over all repetitions
	cpu   []time.Duration // per process (sender, receiver, rendezvous)
	wall  time.Duration   // of all repetitions
}

// repeatCPU is repeat that also measures the CPU time of pids; each
// repetition moves each bytes.
func repeatCPU(n int, each int64, pids []int, f func() (float64, error)) (m measured, err error) {
	start := time.Now()
	m.cpu, err = bench.CPUDuring(pids, func() (err error) { m.Series, err = repeat(n, f); return err })
	m.bytes, m.wall = int64(n)*each, time.Since(start)
	return m, err
}

// sum is the CPU time of the processes at idx.
func (m measured) sum(idx ...int) time.Duration {
	var t time.Duration
	for _, i := range idx {
		t += m.cpu[i]
	}
	return t
}

// perGB is CPU seconds per GB moved of the processes at idx together.
func (m measured) perGB(idx ...int) float64 { return bench.PerGB(m.sum(idx...), m.bytes) }

// cores is how many cores the processes at idx kept busy on average.
func (m measured) cores(idx ...int) float64 { return m.sum(idx...).Seconds() / m.wall.Seconds() }

// cpuRow is a row of the CPU table for two nodes (and a rendezvous, if m has
// a third process), against base's two processes.
func cpuRow(w io.Writer, name, how string, m, base measured) {
	rdv := "-"
	if len(m.cpu) > 2 {
		rdv = fmt.Sprintf("%.2f", m.perGB(2))
	}
	fmt.Fprintf(w, "| %s | %s | %s | %.2f | %.2f | %.2f | %s | %s | %.2f |\n", name, how, size(m.bytes), m.perGB(0), m.perGB(1), m.perGB(0, 1), rdv,
		bench.Ratio(m.perGB(0, 1), base.perGB(0, 1)), m.cores(0, 1))
}

// ratio is a/b (0 when b is).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func repeat(n int, f func() (float64, error)) (bench.Series, error) {
	var s bench.Series
	for range n {
		v, err := f()
		if err != nil {
			return nil, err
		}
		s = append(s, v)
	}
	return s, nil
}

func size(n int64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// autoSuite is what the default cipher ("auto") uses between two nodes on
// this machine.
func autoSuite() string {
	if seal.AESHardware() {
		return "AES-256-GCM: this CPU has AES instructions"
	}
	return "ChaCha20-Poly1305: this CPU has no AES instructions"
}

// proxyChainPingPong measures ping-pong through two plain TCP proxy processes
// (this executable with --tcp-proxy-to) in front of the echo server.
func proxyChainPingPong(exe, echo string, rounds int) (bench.Series, error) {
	first, err := bench.StartTCPProxy(exe, "--tcp-proxy-to", echo)
	if err != nil {
		return nil, err
	}
	defer first.Close()
	second, err := bench.StartTCPProxy(exe, "--tcp-proxy-to", first.Addr)
	if err != nil {
		return nil, err
	}
	defer second.Close()
	return bench.PingPong(second.Addr, rounds)
}
