package testbed

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/meshnode/meshnode/internal/bench"
	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/testbed/lab"
	"github.com/meshnode/meshnode/testbed/labbench"
	"github.com/meshnode/meshnode/testbed/labtest"
)

// TestLabBenchQuick runs the lab benchmark's quick mode (`just lab-bench
// --quick`) so the harness cannot rot: every row is produced with sane values.
// No number is judged against a target.
func TestLabBenchQuick(t *testing.T) {
	labtest.RequireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := &labbench.Runner{Logf: t.Logf, Up: func(_ context.Context, env map[string]string) (*lab.Lab, error) {
		return up(t, env), nil
	}}
	p := labbench.Quick()
	// The matrix's harness on one cell (TestProductMatrix runs them all).
	p.MatrixPairs = [][2]string{{"portrestricted", "upnp"}}
	rep, err := r.Run(ctx, p)
	md := rep.Markdown()
	t.Logf("quick run in %v:\n%s", rep.Took.Round(time.Millisecond), md)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.TTD) != len(labbench.Pairs) {
		t.Fatalf("%d time-to-direct results for %d NAT pairs", len(rep.TTD), len(labbench.Pairs))
	}
	for _, d := range rep.TTD {
		positive(t, "time to direct "+d.A+" <-> "+d.B+" (ms)", d.Ms, p.TTDReps)
	}
	w := rep.WAN
	if len(w.TCP) == 0 {
		t.Error("no plain TCP baseline")
	}
	for _, b := range w.TCP {
		positive(t, "plain TCP "+b.CC+" MB/s", b.MBps, p.BulkReps)
	}
	positive(t, "mapping MB/s", w.Mesh, p.BulkReps)
	lossyPingPongs(t, "lossy WAN", w.TCPPP, w.MeshPP, w.Before.Path, p.Pings)
	if w.DropsUp+w.DropsDown == 0 {
		t.Error("the lossy WAN box dropped nothing")
	}
	h := rep.Hog
	lossyPingPongs(t, "lossy WAN with a CPU hog", h.TCPPP, h.MeshPP, h.Before.Path, p.Pings)
	// The hog must have been on: well over one core of the machine busy.
	if want := 0.5 * float64(h.Hogs); h.Hogs == 0 || h.HogCores < want {
		t.Errorf("the CPU hog kept %.2f cores busy with %d processes, want >= %.1f", h.HogCores, h.Hogs, want)
	}
	if len(rep.Matrix) != 1 || rep.Matrix[0].OK != 1 || rep.Matrix[0].Methods["portmap"] != 1 {
		t.Errorf("matrix smoke run: %+v, want port-restricted <-> miniupnpd router direct by portmap", rep.Matrix)
	}
	dr := rep.Paths
	positive(t, "direct MB/s (same nodes)", dr.Direct, p.BulkReps)
	positive(t, "relay MB/s (same nodes)", dr.Relay, p.BulkReps)
	if dr.DirectBefore.Path != api.PathDirect || dr.DirectAfter.Path != api.PathDirect {
		t.Errorf("direct row measured on paths %q..%q, want direct", dr.DirectBefore.Path, dr.DirectAfter.Path)
	}
	if dr.RelayBefore.Path != api.PathRelay || dr.RelayAfter.Path != api.PathRelay {
		t.Errorf("relay row measured on paths %q..%q, want relay", dr.RelayBefore.Path, dr.RelayAfter.Path)
	}
	c := rep.Cold
	positive(t, "cold mapped connection (ms)", c.Cold, p.ColdReps)
	positive(t, "launch to first byte (ms)", c.FromLaunch, p.ColdReps)
	positive(t, "relay round trip (ms)", c.RelayRTT, 50)
	// 40 ms emulated RTT between a1 and the rendezvous: every figure includes it.
	if lo := min(c.RelayRTT.Min(), c.Cold.Min()); lo < 40 {
		t.Errorf("a relayed round trip took %.1f ms through a 40 ms RTT WAN", lo)
	}
	for _, want := range []string{"time from both nodes up to a direct path", "port-restricted <-> port-restricted",
		"full cone <-> symmetric", "single-stream throughput", "ping-pong", "issue target",
		"lossy WAN with a CPU hog", "mapping over the direct link, CPU hog", "NAT lab: issue 17 targets",
		"direct vs relay on the same nodes", "relay (same nodes, UDP between the sites blocked)",
		"a fresh node's first connection", "cold mapped connection to first echoed byte"} {
		if !strings.Contains(md, want) {
			t.Errorf("rows lack %q", want)
		}
	}
	if strings.Contains(md, "failed") {
		t.Error("rows report a failure")
	}
}

// lossyPingPongs checks a lossy-WAN section's ping-pongs: n round trips
// each, none faster than the WAN's 40 ms RTT (else the WAN box is not on),
// the mapping's on a direct link.
func lossyPingPongs(t *testing.T, section string, tcp, mesh bench.Series, path api.Path, n int) {
	t.Helper()
	positive(t, section+": plain TCP ping-pong (ms)", tcp, n)
	positive(t, section+": mapping ping-pong (ms)", mesh, n)
	if path != api.PathDirect {
		t.Errorf("%s measured on path %q, want direct", section, path)
	}
	if lo := min(tcp.Min(), mesh.Min()); lo < 40 {
		t.Errorf("%s: a ping-pong round trip took %.1f ms through a 40 ms RTT WAN", section, lo)
	}
}

// positive checks a series has n values, all > 0, and p99 >= p50.
func positive(t *testing.T, what string, s bench.Series, n int) {
	t.Helper()
	if len(s) != n {
		t.Errorf("%s: %d values, want %d", what, len(s), n)
		return
	}
	if s.Min() <= 0 {
		t.Errorf("%s: a value <= 0 in %v", what, s)
	}
	if s.Quantile(0.99) < s.Median() {
		t.Errorf("%s: p99 %.3f < p50 %.3f", what, s.Quantile(0.99), s.Median())
	}
}
