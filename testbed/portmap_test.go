package testbed

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/meshnode/meshnode/testbed/labtest"
)

// miniupnpdRules lists the port forwarding rules miniupnpd holds on a upnp
// router (its DNAT chain).
func miniupnpdRules(t *testing.T, ctx context.Context, l interface {
	Exec(context.Context, string, string, ...string) (string, error)
}, router string) []string {
	t.Helper()
	out, err := l.Exec(ctx, router, "nft", "list", "chain", "inet", "mnupnp", "prerouting_miniupnpd")
	if err != nil {
		t.Fatalf("list miniupnpd's rules: %v\n%s", err, out)
	}
	var rules []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "dnat") {
			rules = append(rules, strings.TrimSpace(line))
		}
	}
	return rules
}

// TestProductPortMapping: b1 behind the miniupnpd router (symmetric
// otherwise), a1 behind a port-restricted NAT. netcheck shows the protocol
// that answered and the external address; the direct path is found by the
// port mapping; a clean stop deletes the mappings at the router.
func TestProductPortMapping(t *testing.T) {
	labtest.RequireRoot(t)
	t.Parallel()
	l := up(t, map[string]string{"SITE_A_NAT": "portrestricted", "SITE_B_NAT": "upnp"})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	m, err := startMesh(ctx, t, l)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.directPath(ctx, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	pa, err := m.peerOf(ctx, m.ctlA, "b1")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("b1: %s via %s local %s method %s; a1: via %s method %s", p.Path, p.Endpoint, p.Local, p.Method, pa.Endpoint, pa.Method)
	if p.Path != pathDirect || (p.Method != methodPortmap && pa.Method != methodPortmap) {
		t.Fatalf("path %s found by %q/%q, want direct by portmap (why: %s)", p.Path, p.Method, pa.Method, p.Why)
	}
	nc, err := m.ctlB.Netcheck(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pm := nc.Report.PortMapping
	t.Logf("netcheck port mapping: %+v", pm)
	if pm.Protocol != "pcp" || !pm.PCP || !pm.NATPMP || !pm.UPnP || pm.External != "198.18.12.2" || pm.Gateway != "10.22.0.1" || len(pm.Mapped) == 0 {
		t.Errorf("netcheck port mapping %+v: want pcp (all three answering) via 10.22.0.1, external 198.18.12.2, a mapping held", pm)
	}
	if err := m.transfer(ctx, 1<<20); err != nil {
		t.Fatal(err)
	}
	if rules := miniupnpdRules(t, ctx, l, "rb"); len(rules) == 0 {
		t.Fatal("miniupnpd holds no rule while b1 has a mapped path")
	}
	if err := m.procs[1].Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if rules := miniupnpdRules(t, ctx, l, "rb"); len(rules) != 0 {
		t.Errorf("after b1 stopped cleanly, miniupnpd still forwards: %v", rules)
	}
}

// TestProductNoPortMapping: with --no-port-mapping the same pair asks the
// router for nothing and stays relayed (symmetric <-> port-restricted).
func TestProductNoPortMapping(t *testing.T) {
	labtest.RequireRoot(t)
	t.Parallel()
	l := up(t, map[string]string{"SITE_A_NAT": "portrestricted", "SITE_B_NAT": "upnp"})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	m, err := startMeshWith(ctx, t, l, map[string][]string{"b1": {"--no-port-mapping"}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.settledPath(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Path != pathRelay {
		t.Errorf("path %s (%s, method %s) with --no-port-mapping, want relay", p.Path, p.Endpoint, p.Method)
	}
	nc, err := m.ctlB.Netcheck(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pm := nc.Report.PortMapping; pm.Protocol != "" || !strings.Contains(pm.Why, "--no-port-mapping") {
		t.Errorf("netcheck port mapping %+v: want off, saying --no-port-mapping", pm)
	}
	if rules := miniupnpdRules(t, ctx, l, "rb"); len(rules) != 0 {
		t.Errorf("miniupnpd forwards %v though b1 runs --no-port-mapping", rules)
	}
}
