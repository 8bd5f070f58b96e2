package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshnode/meshnode/internal/meshproc"
	"github.com/meshnode/meshnode/pkg/seal"
)

// TestCipherAuto: nodes on the default cipher ("auto") seal with AES-256-GCM
// between them when this CPU has AES instructions (else ChaCha20-Poly1305),
// and with ChaCha20-Poly1305 toward a node set to chacha20poly1305 (as an
// older node is): the "auto" side falls back quietly, bytes flow on every
// link, and each side's peers list shows the suite in use.
func TestCipherAuto(t *testing.T) {
	r := startRendezvous(t, "")
	echo := startEcho(t)
	a := startNode(t, r, nodeOpts{Name: "alpha", Serve: []string{"700=" + echo.addr()}, Extra: []string{"--metrics", "127.0.0.1:0"}})
	aMetrics := "http://" + waitLog(t, a.Proc, nodeMetricsRE, 5*time.Second)[1] + "/metrics"
	b := startNode(t, r, nodeOpts{Name: "beta"})
	c := startNode(t, r, nodeOpts{Name: "gamma", Extra: []string{"--cipher", "chacha20poly1305"}})

	auto := seal.SuiteChaChaPoly
	if seal.AESHardware() {
		auto = seal.SuiteAESGCM
	}
	for _, tc := range []struct {
		from *meshproc.Node
		want string
	}{{b, auto}, {c, seal.SuiteChaChaPoly}} {
		listen := mapService(t, tc.from, "700")
		if err := echoRoundTrip(listen, 4<<20, 17, time.Minute); err != nil {
			t.Fatalf("%s -> alpha: %v", tc.from.Name, err)
		}
		for _, pair := range [][2]*meshproc.Node{{tc.from, a}, {a, tc.from}} {
			waitUntil(t, 30*time.Second, func() error { return suiteIs(pair[0], pair[1].Name, tc.want) })
		}
	}
	// The "auto" node fell back without calling it a failure: no log line,
	// no failed handshake counted, sessions counted.
	_, fams := scrapeFamilies(t, aMetrics, "")
	if v := metricValue(fams, "meshnode_handshakes_failed_total", "reason", "suite_mismatch"); v != 0 {
		t.Fatalf("alpha counted %v suite mismatches", v)
	}
	if v := metricValue(fams, "meshnode_handshakes_ok_total"); v < 2 {
		t.Fatalf("alpha counted %v handshakes, want one per peer at least", v)
	}
	if lines := regexp.MustCompile(`(?i)cipher suites differ`).FindAllString(a.Out.String(), -1); len(lines) != 0 {
		t.Fatalf("alpha reported a suite mismatch: %q", lines)
	}
	if st, err := a.Ctl.Status(context.Background()); err != nil || !strings.HasPrefix(st.Cipher, auto) {
		t.Fatalf("alpha's status cipher %q (%v), want it to start with %s", st.Cipher, err, auto)
	}
}

// suiteIs checks n's link to the peer named peer uses suite.
func suiteIs(n *meshproc.Node, peer, suite string) error {
	ps, err := n.Ctl.Peers(context.Background())
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.Name == peer {
			if p.Suite != suite {
				return fmt.Errorf("%s's link to %s: suite %q, want %q", n.Name, peer, p.Suite, suite)
			}
			return nil
		}
	}
	return fmt.Errorf("%s does not list %s", n.Name, peer)
}
