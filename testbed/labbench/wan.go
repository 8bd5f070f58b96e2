package labbench

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/meshnode/meshnode/internal/bench"
	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/testbed/lab"
)

// LossyEnv is the emulated WAN of the lossy rows: site A's WAN box (wa) holds
// every frame 20 ms and drops 3% in each direction (egress of both its ports),
// so every a1 <-> b1 packet crosses 40 ms RTT and 3% loss each way; site B's
// uplink is clean. Both sites are "open" (public LANs, no NAT), so b1 reaches
// a1's address with plain TCP and the mesh link between them goes direct:
// baseline and mapping cross the same WAN boxes.
var LossyEnv = map[string]string{
	"SITE_A_NAT": "open", "SITE_B_NAT": "open",
	"SITE_A_DELAY_MS": "20", "SITE_A_LOSS_PCT": "3",
}

// WAN is the lossy-WAN comparison: b1 -> a1, plain TCP vs a mapping.
type WAN struct {
	TCP           []Baseline   // plain TCP throughput: the nodes' default congestion control first
	Mesh          bench.Series // mapping throughput, MB/s per repetition
	TCPPP, MeshPP bench.Series // ping-pong round trips, ms (TCP with the default congestion control)
	Before, After api.PeerInfo
	DropsUp       int64 // packets site A's WAN box dropped toward the ISP during the run
	DropsDown     int64 // and toward the site
	Err           error
}

// Baseline is plain TCP throughput with one congestion control.
type Baseline struct {
	CC   string       // e.g. bbr, cubic
	MBps bench.Series // per repetition
}

// baselineCCs returns the congestion controls of the plain TCP baselines:
// the lab's default (inherited from the host: bbr hardly backs off on random
// loss) and cubic (most systems' default), once each.
func baselineCCs(ctx context.Context, l *lab.Lab) ([]string, error) {
	out, err := l.Exec(ctx, "b1", "cat", "/proc/sys/net/ipv4/tcp_congestion_control")
	if err != nil {
		return nil, err
	}
	def := strings.TrimSpace(out)
	if def == "cubic" {
		return []string{def}, nil
	}
	return []string{def, "cubic"}, nil
}

// lossyPair is the product in a lab with LossyEnv: a sink and an echo in a1
// (also serveids 700 and 701 of a1's node), mapped on b1 once its link to a1
// is direct, and dialers from b1 to each, plain and through the mappings.
type lossyPair struct {
	pair
	ccs                []string // plain TCP's congestion controls (baselineCCs)
	sinkAddr           string   // a1's sink, for plain TCP with a chosen congestion control
	tcpEcho            dialFunc
	meshSink, meshEcho dialFunc
}

// startLossyPair starts the pair and its mappings; the caller closes p.srv.
func startLossyPair(ctx context.Context, l *lab.Lab) (p lossyPair, what string, err error) {
	if p.pair, what, err = startPair(ctx, l, "0.0.0.0"); err != nil {
		return p, what, err
	}
	fail := func(what string, err error) (lossyPair, string, error) {
		p.srv.Close()
		return p, what, err
	}
	maps := map[string]string{}
	for _, id := range []string{"700", "701"} {
		mi, err := p.ctlB.AddMapping(ctx, api.MappingRequest{Target: id})
		if err != nil {
			return fail("map "+id+" on b1", err)
		}
		maps[id] = mi.Listen
	}
	a1, err := l.Addr("a1", "eth1")
	if err != nil {
		return fail("a1's address", err)
	}
	if p.ccs, err = baselineCCs(ctx, l); err != nil {
		return fail("congestion control", err)
	}
	p.sinkAddr = net.JoinHostPort(a1.String(), port(p.srv.Sink))
	p.tcpEcho = dialFrom(l, "b1", net.JoinHostPort(a1.String(), port(p.srv.Echo)))
	p.meshSink, p.meshEcho = dialFrom(l, "b1", maps["700"]), dialFrom(l, "b1", maps["701"])
	return p, "", nil
}

// inLossyLab brings up a lab with LossyEnv and runs section once a
// lossyPair is up in it; what names the section in errors.
func (r *Runner) inLossyLab(ctx context.Context, what string, section func(ctx context.Context, l *lab.Lab, lp lossyPair) error) error {
	return r.inLab(ctx, LossyEnv, 30*time.Minute, func(ctx context.Context, l *lab.Lab) error {
		lp, step, err := startLossyPair(ctx, l)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", what, step, err)
		}
		defer lp.srv.Close()
		if err := section(ctx, l, lp); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
}

// pingPongs does p.Pings 64-byte round trips over plain TCP b1 -> a1 (the
// lab's default congestion control) and then through b1's mapping.
func (lp lossyPair) pingPongs(ctx context.Context, p Params) (tcp, mesh bench.Series, err error) {
	if tcp, err = pingPong(ctx, lp.tcpEcho, p.Pings); err != nil {
		return nil, nil, fmt.Errorf("plain TCP ping-pong: %w", err)
	}
	if mesh, err = pingPong(ctx, lp.meshEcho, p.Pings); err != nil {
		return nil, nil, fmt.Errorf("mapping ping-pong: %w", err)
	}
	return tcp, mesh, nil
}

// LossyWAN brings up a lab with LossyEnv and, from b1 through a lossyPair,
// measures single-stream throughput (p.BulkReps times p.Bulk bytes, plain
// TCP to a1's address and the mapping in turn) and p.Pings 64-byte round
// trips on one connection each. Plain TCP runs with the lab's default
// congestion control and, for throughput, also cubic.
func (r *Runner) LossyWAN(ctx context.Context, p Params) (res WAN) {
	res.Err = r.inLossyLab(ctx, "lossy WAN", func(ctx context.Context, l *lab.Lab, lp lossyPair) (err error) {
		res.Before = lp.before
		for _, cc := range lp.ccs {
			res.TCP = append(res.TCP, Baseline{CC: cc})
		}
		for i := range p.BulkReps {
			line := fmt.Sprintf("lossy WAN throughput %d/%d:", i+1, p.BulkReps)
			for j := range res.TCP {
				b := &res.TCP[j]
				v, err := throughput(ctx, dialCC(l, "b1", lp.sinkAddr, b.CC), p.Bulk)
				if err != nil {
					return fmt.Errorf("plain TCP (%s) throughput: %w", b.CC, err)
				}
				b.MBps = append(b.MBps, v)
				line += fmt.Sprintf(" plain TCP %s %.2f MB/s,", b.CC, v)
			}
			v, err := throughput(ctx, lp.meshSink, p.Bulk)
			if err != nil {
				return fmt.Errorf("mapping throughput: %w", err)
			}
			res.Mesh = append(res.Mesh, v)
			r.logf("%s mapping %.2f MB/s", line, v)
		}
		if res.TCPPP, res.MeshPP, err = lp.pingPongs(ctx, p); err != nil {
			return err
		}
		r.logf("lossy WAN ping-pong p50/p99: plain TCP %.1f/%.1f ms, mapping %.1f/%.1f ms",
			res.TCPPP.Median(), res.TCPPP.Quantile(0.99), res.MeshPP.Median(), res.MeshPP.Quantile(0.99))
		if pi, ok, err := peer(ctx, lp.ctlB, "a1"); err == nil && ok {
			res.After = pi
		}
		if res.DropsUp, res.DropsDown, err = wanDrops(ctx, l); err != nil {
			return fmt.Errorf("loss counters: %w", err)
		}
		return nil
	})
	return res
}

// wanDrops reads the loss counters of site A's WAN box: packets dropped toward
// the ISP (up) and toward the site (down).
func wanDrops(ctx context.Context, l *lab.Lab) (up, down int64, err error) {
	out, err := l.Exec(ctx, "wa", "nft", "list", "table", "netdev", "wanloss")
	if err != nil {
		return 0, 0, err
	}
	var counts []int64
	for _, f := range strings.Split(out, "counter packets ")[1:] {
		var n int64
		if _, err := fmt.Sscan(f, &n); err != nil {
			return 0, 0, fmt.Errorf("wa's loss counters: %w", err)
		}
		counts = append(counts, n)
	}
	if len(counts) != 2 {
		return 0, 0, fmt.Errorf("wa's loss counters: want 2, got %d in\n%s", len(counts), out)
	}
	return counts[0], counts[1], nil
}
