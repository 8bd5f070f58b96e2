package testbed

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/testbed/lab"
	"github.com/meshnode/meshnode/testbed/labtest"
	"github.com/meshnode/meshnode/testbed/natprobe"
)

// Paths the product can take between two nodes.
const (
	pathRelay  = api.PathRelay
	pathDirect = api.PathDirect
)

// natKinds are the values of SITE_A_NAT / SITE_B_NAT.
var natKinds = []string{"open", "fullcone", "addrrestricted", "portrestricted", "symmetric", "udpblock"}

// matrixCell is one pair of NAT kinds (site A, site B; the matrix is
// symmetric, so only a <= b in natKinds order is listed).
type matrixCell struct {
	a, b string
	// punch: plain UDP hole punching (both send to each other's mapping at
	// once) works; learn: it works when a side replies to the source it
	// actually sees (ICE peer-reflexive candidates). Measured, see TESTBED.md.
	punch, learn bool
	// path the product must use in this cell (scenario tests): direct where
	// ICE can punch (learn), relay elsewhere.
	path api.Path
	// pending, when set, says why the product does not meet this cell's
	// expectation yet: the cell is run and reported as a known gap (counted
	// in the output), not failed — and it fails once it passes, so the mark
	// gets removed.
	pending string
}

func (c matrixCell) name() string { return c.a + "-" + c.b }

// natMatrix is the NAT-pair matrix with expectations per cell.
var natMatrix = []matrixCell{
	{a: "open", b: "open", punch: true, learn: true, path: pathDirect},
	{a: "open", b: "fullcone", punch: true, learn: true, path: pathDirect},
	{a: "open", b: "addrrestricted", punch: true, learn: true, path: pathDirect},
	{a: "open", b: "portrestricted", punch: true, learn: true, path: pathDirect},
	{a: "open", b: "symmetric", punch: false, learn: true, path: pathDirect},
	{a: "open", b: "udpblock", punch: false, learn: false, path: pathRelay},
	{a: "fullcone", b: "fullcone", punch: true, learn: true, path: pathDirect},
	{a: "fullcone", b: "addrrestricted", punch: true, learn: true, path: pathDirect},
	{a: "fullcone", b: "portrestricted", punch: true, learn: true, path: pathDirect},
	{a: "fullcone", b: "symmetric", punch: false, learn: true, path: pathDirect},
	{a: "fullcone", b: "udpblock", punch: false, learn: false, path: pathRelay},
	{a: "addrrestricted", b: "addrrestricted", punch: true, learn: true, path: pathDirect},
	{a: "addrrestricted", b: "portrestricted", punch: true, learn: true, path: pathDirect},
	{a: "addrrestricted", b: "symmetric", punch: false, learn: true, path: pathDirect},
	{a: "addrrestricted", b: "udpblock", punch: false, learn: false, path: pathRelay},
	{a: "portrestricted", b: "portrestricted", punch: true, learn: true, path: pathDirect},
	{a: "portrestricted", b: "symmetric", punch: false, learn: false, path: pathRelay},
	{a: "portrestricted", b: "udpblock", punch: false, learn: false, path: pathRelay},
	{a: "symmetric", b: "symmetric", punch: false, learn: false, path: pathRelay},
	{a: "symmetric", b: "udpblock", punch: false, learn: false, path: pathRelay},
	{a: "udpblock", b: "udpblock", punch: false, learn: false, path: pathRelay},
}

// matrixTally counts outcomes across cells and prints the summary.
type matrixTally struct {
	mu      sync.Mutex
	ok      []string
	pending []string
	failed  []string
}

func (m *matrixTally) add(list *[]string, name string) {
	m.mu.Lock()
	*list = append(*list, name)
	m.mu.Unlock()
}

// record files a cell's result: err == nil means it met its expectation.
func (m *matrixTally) record(t *testing.T, c matrixCell, err error) {
	t.Helper()
	switch {
	case err == nil && c.pending != "":
		m.add(&m.failed, c.name())
		t.Errorf("cell %s meets its expectation now: remove its pending mark (%q)", c.name(), c.pending)
	case err == nil:
		m.add(&m.ok, c.name())
	case c.pending != "":
		m.add(&m.pending, c.name())
		t.Logf("KNOWN GAP %s (pending: %s): %v", c.name(), c.pending, err)
	default:
		m.add(&m.failed, c.name())
		t.Error(err)
	}
}

func (m *matrixTally) summary() string {
	return fmt.Sprintf("%d cells as expected, %d known gaps %v, %d failed %v",
		len(m.ok), len(m.pending), m.pending, len(m.failed), m.failed)
}

// runMatrix runs fn for every cell in its own subtest, workers at a time
// (labs are cheap but the machine is small; -parallel does not limit this).
func runMatrix(t *testing.T, cells []matrixCell, workers int, fn func(t *testing.T, c matrixCell) error) *matrixTally {
	tally := &matrixTally{}
	work := make(chan matrixCell)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				t.Run(c.name(), func(t *testing.T) { tally.record(t, c, fn(t, c)) })
			}
		}()
	}
	for _, c := range cells {
		work <- c
	}
	close(work)
	wg.Wait()
	return tally
}

func TestMatrixTableComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range natMatrix {
		seen[c.name()] = true
		if c.path != pathRelay && c.path != pathDirect {
			t.Errorf("cell %s: path %q", c.name(), c.path)
		}
		if (c.path == pathDirect) != c.learn {
			t.Errorf("cell %s: path %s, but ICE learning works=%v", c.name(), c.path, c.learn)
		}
		if c.punch && !c.learn {
			t.Errorf("cell %s: punching without learning works but with learning does not?", c.name())
		}
	}
	for i, a := range natKinds {
		for _, b := range natKinds[i:] {
			if !seen[a+"-"+b] {
				t.Errorf("cell %s-%s missing from natMatrix", a, b)
			}
		}
	}
	if want := len(natKinds) * (len(natKinds) + 1) / 2; len(natMatrix) != want {
		t.Errorf("natMatrix has %d cells, want %d", len(natMatrix), want)
	}
}

// TestHolePunchMatrix builds a fresh lab per NAT pair and checks that plain
// UDP hole punching between a1 and b1 succeeds or fails as the table (and
// TESTBED.md) says, without and with learning the peer's real source.
func TestHolePunchMatrix(t *testing.T) {
	labtest.RequireRoot(t)
	t.Parallel()
	tally := runMatrix(t, natMatrix, 5, func(t *testing.T, c matrixCell) error {
		l := up(t, map[string]string{"SITE_A_NAT": c.a, "SITE_B_NAT": c.b})
		target := labtest.ProbeServer(t, l, "rdv", "eth1")
		var errs []string
		for _, learn := range []bool{false, true} {
			want := c.punch
			if learn {
				want = c.learn
			}
			got, detail, err := punch(t, l, target, learn)
			if err != nil {
				return err
			}
			t.Logf("learn=%v: punched=%v (%s)", learn, got, detail)
			if got != want {
				errs = append(errs, fmt.Sprintf("hole punch %s learn=%v: got %v, want %v (%s)", c.name(), learn, got, want, detail))
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("%s", strings.Join(errs, "; "))
		}
		return nil
	})
	t.Logf("hole-punch matrix: %s", tally.summary())
}

// punch opens fresh sockets on a1 and b1, learns their mappings from the
// probe server and lets them punch at each other.
func punch(t *testing.T, l *lab.Lab, target natprobe.Target, learn bool) (bool, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var peers [2]natprobe.Peer
	for i, node := range []string{"a1", "b1"} {
		local := labtest.Addr(t, l, node, "eth1")
		c, err := l.ListenPacket(node, "udp4", netip.AddrPortFrom(local, 0).String())
		if err != nil {
			return false, "", err
		}
		defer c.Close()
		m, err := natprobe.Mapped(ctx, c, target.Primary, time.Second, 100*time.Millisecond)
		if err != nil {
			return false, "", err
		}
		if !m.IsValid() {
			return false, node + " has no UDP mapping", nil
		}
		peers[i] = natprobe.Peer{Conn: c, Public: m}
	}
	res, err := natprobe.Punch(ctx, peers[0], peers[1], learn, 1500*time.Millisecond)
	if err != nil {
		return false, "", err
	}
	detail := fmt.Sprintf("a1 %v got=%v from %v; b1 %v got=%v from %v",
		peers[0].Public, res.AGot, res.AFrom, peers[1].Public, res.BGot, res.BFrom)
	return res.OK(), detail, nil
}
