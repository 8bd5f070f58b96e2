package testbed

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/meshnode/meshnode/testbed/labtest"
	"github.com/meshnode/meshnode/testbed/natprobe"
)

// natExpect is what the probe must measure from a site's host a1/b1.
type natExpect struct {
	kind    string // natprobe.Result.Kind()
	public  string // the address the internet sees ("" = the host's own)
	hairpin bool
}

// TestNATKinds builds labs with each NAT kind (two sites per lab) and checks
// that each classifies as TESTBED.md's table says, so a wrong rule set fails
// here instead of making scenario results lie.
func TestNATKinds(t *testing.T) {
	labtest.RequireRoot(t)
	cases := []struct {
		name string
		env  map[string]string
		a, b natExpect
	}{
		{"open+fullcone", map[string]string{"SITE_A_NAT": "open", "SITE_B_NAT": "fullcone"},
			natExpect{"open", "", true}, natExpect{"fullcone", "198.18.12.2", false}},
		{"addrrestricted+portrestricted", map[string]string{"SITE_A_NAT": "addrrestricted", "SITE_B_NAT": "portrestricted"},
			natExpect{"addrrestricted", "198.18.11.2", false}, natExpect{"portrestricted", "198.18.12.2", false}},
		{"symmetric+udpblock", map[string]string{"SITE_A_NAT": "symmetric", "SITE_B_NAT": "udpblock"},
			natExpect{"symmetric", "198.18.11.2", false}, natExpect{"udpblock", "198.18.12.2", false}},
		{"symseq+upnp", map[string]string{"SITE_A_NAT": "symseq", "SITE_B_NAT": "upnp"},
			natExpect{"symseq", "198.18.11.2", false}, natExpect{"symmetric", "198.18.12.2", false}},
		{"hairpin", map[string]string{"SITE_A_NAT": "fullcone", "SITE_A_HAIRPIN": "1", "SITE_B_NAT": "portrestricted", "SITE_B_HAIRPIN": "1"},
			natExpect{"fullcone", "198.18.11.2", true}, natExpect{"portrestricted", "198.18.12.2", true}},
		{"cgnat", map[string]string{"SITE_A_NAT": "fullcone", "SITE_A_CGN": "symmetric", "SITE_B_NAT": "portrestricted", "SITE_B_CGN": "fullcone"},
			natExpect{"symmetric", "198.18.1.2", false}, natExpect{"portrestricted", "198.18.2.2", false}},
		{"cgnat-open+symmetric-hairpin", map[string]string{"SITE_A_NAT": "open", "SITE_A_CGN": "addrrestricted", "SITE_B_NAT": "symmetric", "SITE_B_HAIRPIN": "1"},
			natExpect{"addrrestricted", "198.18.1.2", false}, natExpect{"symmetric", "198.18.12.2", true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := up(t, c.env)
			target := labtest.ProbeServer(t, l, "rdv", "eth1")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			for _, s := range []struct {
				node string
				want natExpect
			}{{"a1", c.a}, {"b1", c.b}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := labtest.Classify(ctx, l, s.node, "eth1", target)
					if err != nil {
						t.Errorf("%s: probe: %v", s.node, err)
						return
					}
					t.Logf("%s: %v", s.node, res)
					checkNAT(t, s.node, res, s.want)
				}()
			}
			wg.Wait()
		})
	}
}

func checkNAT(t *testing.T, node string, res natprobe.Result, want natExpect) {
	t.Helper()
	if got := res.Kind(); got != want.kind {
		t.Errorf("%s: NAT kind %q, want %q (%v)", node, got, want.kind, res)
	}
	if want.kind == "udpblock" {
		if !res.TCP || res.TCPMapped.Addr().String() != want.public {
			t.Errorf("%s: TCP through a UDP-blocking NAT: ok=%v mapped=%v, want ok from %s", node, res.TCP, res.TCPMapped, want.public)
		}
		return
	}
	if !res.TCP {
		t.Errorf("%s: TCP to the internet failed", node)
	}
	public := want.public
	if public == "" {
		public = res.Local.Addr().String()
	}
	for _, m := range res.Mapped {
		if m.Addr() != netip.MustParseAddr(public) {
			t.Errorf("%s: the internet sees %v, want %s", node, m, public)
		}
	}
	if res.Hairpin != want.hairpin {
		t.Errorf("%s: hairpin %v, want %v", node, res.Hairpin, want.hairpin)
	}
	if want.kind != "symmetric" && want.kind != "symseq" && !res.PortPreserved {
		t.Errorf("%s: external port %v differs from local %v (Linux NAT keeps free ports)", node, res.Mapped[0], res.Local)
	}
}
