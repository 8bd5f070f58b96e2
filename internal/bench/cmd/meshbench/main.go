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
}

func main() {
	bin := flag.String("bin", "./bin", "directory with the meshnode and rendezvous binaries")
	quick := flag.Bool("quick", false, "a fast smoke run (small sizes, one repetition)")
	rawPeer := flag.Bool("raw-kcp-peer", false, "internal: serve the raw kcp baseline's other process")
	out := flag.String("out", "bench-results/latest.md", "also write the table here (\"\" = don't)")
	flag.Parse()
	if *rawPeer {
		if err := bench.ServeRawPeer(); err != nil {
			fmt.Fprintln(os.Stderr, "meshbench raw kcp peer:", err)
			os.Exit(1)
		}
		return
	}
	p := params{bulkTCP: 1 << 30, bulkMesh: 128 << 20, reps: 5, pings: 2000, connects: 200, many: 1000,
		catalogSizes: []int{10, 30}, catalogReps: 5, idleWindow: 10 * time.Second, rdvNodes: []int{100, 1000}, fresh: 5}
	if *quick {
		p = params{bulkTCP: 32 << 20, bulkMesh: 4 << 20, reps: 1, pings: 100, connects: 10, many: 50,
			catalogSizes: []int{3}, catalogReps: 1, idleWindow: 2 * time.Second, rdvNodes: []int{20}, fresh: 1}
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
	rdv, err := meshproc.StartRendezvous(ctx, filepath.Join(bin, "rendezvous"), "", nil,
		"--stun", "127.0.0.1:0", "--stun2", "127.0.0.1:0", "--ws-listen", "127.0.0.1:0")
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

	// Throughput.
	tcp, err := repeat(p.reps, func() (float64, error) { return bench.Throughput(srv.Sink.Addr().String(), p.bulkTCP) })
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
	raw2, err := repeat(p.reps, func() (float64, error) { return peer.Throughput(p.bulkMesh) })
	if err != nil {
		return fmt.Errorf("raw kcp between processes: %w", err)
	}
	direct, err := repeat(p.reps, func() (float64, error) { return bench.Throughput(dSinkMap, p.bulkMesh) })
	if err != nil {
		return fmt.Errorf("direct throughput: %w", err)
	}
	stop := make(chan struct{})
	peakA, peakB := bench.PeakRSS(a.Cmd.Process.Pid, stop), bench.PeakRSS(b.Cmd.Process.Pid, stop)
	relay, err := repeat(p.reps, func() (float64, error) { return bench.Throughput(sinkMap, p.bulkMesh) })
	close(stop)
	bulkA, bulkB := <-peakA, <-peakB
	if err != nil {
		return fmt.Errorf("relay throughput: %w", err)
	}
	// The same two paths with the reference plugins (processes beside the nodes).
	pc, err := pluginThroughput(ctx, meshnode, rdv.Addr, srv, "bench-cipher", p,
		append([]string{"--cipher", "aesgcm"}, directFlags...), "direct")
	if err != nil {
		return fmt.Errorf("cipher plugin throughput: %w", err)
	}
	pw, err := pluginThroughput(ctx, meshnode, rdv.WSAddr, srv, "bench-ws", p,
		append([]string{"--transport", "websocket"}, relayFlags...), "relay")
	if err != nil {
		return fmt.Errorf("transport plugin throughput: %w", err)
	}

	fmt.Fprintf(w, "\n## Single-stream throughput (MB/s)\n\n| path | how | MB/s min / median / max | vs raw kcp+smux | vs direct | vs plain TCP |\n|---|---|---|---|---|---|\n")
	fmt.Fprintf(w, "| plain TCP (baseline) | %s to a sink, %d reps | %s | - | - | 1.00x |\n", size(p.bulkTCP), p.reps, tcp.MMM("%.0f"))
	fmt.Fprintf(w, "| raw kcp-go+smux over UDP, no crypto (baseline) | %s, product's KCP settings, in-process | %s | 1.00x | - | %s |\n", size(p.bulkMesh), raw.MMM("%.1f"), bench.Ratio(raw.Median(), tcp.Median()))
	fmt.Fprintf(w, "| raw kcp-go+smux between two processes, no crypto (baseline) | %s, product's KCP settings, this process to a child | %s | %s | - | %s |\n", size(p.bulkMesh), raw2.MMM("%.1f"), bench.Ratio(raw2.Median(), raw.Median()), bench.Ratio(raw2.Median(), tcp.Median()))
	fmt.Fprintf(w, "| raw kcp-go+smux, kcp-go's delayed ACKs (context) | %s, the same but ACK-no-delay off: an ACK packet per 10 ms interval or ~57 segments instead of per segment (the product holds ACKs only while more segments are queued: at 3%% loss delayed ACKs cost it 35%% on request p99) | %s | %s | - | %s |\n", size(p.bulkMesh), rawLazy.MMM("%.1f"), bench.Ratio(rawLazy.Median(), raw.Median()), bench.Ratio(rawLazy.Median(), tcp.Median()))
	fmt.Fprintf(w, "| mapping over a direct link | %s through `map` (TCP->node->UDP->node->TCP), sealed | %s | %s | 1.00x | %s |\n", size(p.bulkMesh), direct.MMM("%.1f"), bench.Ratio(direct.Median(), raw.Median()), bench.Ratio(direct.Median(), tcp.Median()))
	fmt.Fprintf(w, "| mapping over the relay | %s through `map` (TCP->node->rendezvous->node->TCP), sealed | %s | %s | %s | %s |\n", size(p.bulkMesh), relay.MMM("%.1f"), bench.Ratio(relay.Median(), raw.Median()), bench.Ratio(relay.Median(), direct.Median()), bench.Ratio(relay.Median(), tcp.Median()))

	fmt.Fprintf(w, "\n### With the reference plugins (as a ratio to the built-in on the same path)\n\n| path | how | MB/s min / median / max | vs built-in |\n|---|---|---|---|\n")
	fmt.Fprintf(w, "| direct, cipher plugin `aesgcm` (Noise AESGCM_SHA512 handshake in the plugin, AES-256-GCM in-process) | %s x %d | %s | %s of built-in chacha20poly1305 direct |\n", size(p.bulkMesh), p.reps, pc.MMM("%.1f"), bench.Ratio(pc.Median(), direct.Median()))
	fmt.Fprintf(w, "| relay, transport plugin `websocket` (node->plugin unix socket->WebSocket->rendezvous) | %s x %d | %s | %s of built-in TCP relay |\n", size(p.bulkMesh), p.reps, pw.MMM("%.1f"), bench.Ratio(pw.Median(), relay.Median()))

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
	fmt.Fprintf(w, "\n## 64-byte ping-pong on one connection (ms)\n\n| path | round trips | p50 | p99 | max | p50 vs raw kcp |\n|---|---|---|---|---|---|\n")
	ppRow(w, "plain TCP (baseline)", tcpPP, rawPP)
	ppRow(w, "raw kcp-go+smux (baseline)", rawPP, rawPP)
	ppRow(w, "raw kcp-go+smux between two processes (baseline)", raw2PP, rawPP)
	ppRow(w, "mapping over a direct link", directPP, rawPP)
	ppRow(w, "mapping over the relay", relayPP, rawPP)
	fmt.Fprintf(w, "\nAgainst raw kcp between two processes (every product path crosses processes; on 2 cores each datagram waking another process is most of a small round trip): direct p50 %s, relay p50 %s; direct throughput %s.\n",
		bench.Ratio(directPP.Quantile(0.5), raw2PP.Quantile(0.5)), bench.Ratio(relayPP.Quantile(0.5), raw2PP.Quantile(0.5)), bench.Ratio(direct.Median(), raw2.Median()))

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
		r, err := meshproc.StartRendezvous(ctx, filepath.Join(bin, "rendezvous"), "", nil)
		if err != nil {
			return err
		}
		per, err := bench.RendezvousPerNode(ctx, r.Addr, r.Cmd.Process.Pid, n, 10)
		total, _ := bench.RSS(r.Cmd.Process.Pid)
		r.Kill()
		if err != nil {
			return fmt.Errorf("rendezvous memory: %w", err)
		}
		fmt.Fprintf(w, "| rendezvous, %d idle nodes | groups of 10; RSS growth / nodes | %.1f KiB per node (%s total) |\n", n, per/1024, mib(total))
	}

	return catalogRows(w, bin, p.catalogSizes, p.catalogReps, p.idleWindow)
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

// pluginThroughput starts a serving and a mapping node in their own group with
// extra flags, waits for the link's path and measures single-stream throughput.
func pluginThroughput(ctx context.Context, bin, rdv string, srv *bench.Servers, group string, p params, extra []string, path string) (bench.Series, error) {
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

func ppRow(w io.Writer, name string, s, base bench.Series) {
	fmt.Fprintf(w, "| %s | %d | %.3f | %.3f | %.3f | %s |\n", name, len(s), s.Quantile(0.5), s.Quantile(0.99), s.Max(), bench.Ratio(s.Quantile(0.5), base.Quantile(0.5)))
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
