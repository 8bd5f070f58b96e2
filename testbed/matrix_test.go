package testbed

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/testbed/lab"
	"github.com/meshnode/meshnode/testbed/labbench"
	"github.com/meshnode/meshnode/testbed/labtest"
	"github.com/meshnode/meshnode/testbed/natprobe"
)

// Paths the product can take between two nodes.
const (
	pathRelay  = api.PathRelay
	pathDirect = api.PathDirect
)

// natKinds are the values of SITE_A_NAT / SITE_B_NAT, easiest first.
var natKinds = []string{"open", "fullcone", "addrrestricted", "portrestricted", "symseq", "symmetric", "upnp", "udpblock"}

// Methods that take a pair direct (matrixCell.method).
const (
	methodICE      = "ice"      // plain ICE: host, server-reflexive, peer-reflexive learning
	methodPortmap  = "portmap"  // the upnp side's port mapping (PCP/NAT-PMP/UPnP) as a candidate
	methodPredict  = "predict"  // the sequential side's next ports, predicted and probed
	methodBirthday = "birthday" // many sockets on the random side, random probes from the other
	methodLockstep = "lockstep" // both sides sequential: each probes the other's next ports in the same order
)

// matrixCell is one pair of NAT kinds (site A, site B; the matrix is
// symmetric, so only a <= b in natKinds order is listed).
type matrixCell struct {
	a, b string
	// punch: plain UDP hole punching (both send to each other's mapping at
	// once) works; learn: it works when a side replies to the source it
	// actually sees (ICE peer-reflexive candidates). Measured, see TESTBED.md.
	punch, learn bool
	// path the product must use in this cell (scenario tests), and the
	// method that gets it there (methodICE...; "" on the relay).
	path   api.Path
	method string
	// pending, when set, says why the product does not meet this cell's
	// expectation yet: the cell is run and reported as a known gap (counted
	// in the output), not failed — and it fails once it passes, so the mark
	// gets removed.
	pending string
}

func (c matrixCell) name() string { return c.a + "-" + c.b }

// natMatrix is the NAT-pair matrix with expectations per cell. A symseq or
// upnp NAT punches like a symmetric one: only the product's own methods
// (prediction, the port mapping) make the difference.
var natMatrix = []matrixCell{
	{a: "open", b: "open", punch: true, learn: true, path: pathDirect, method: methodICE},
	{a: "open", b: "fullcone", punch: true, learn: true, path: pathDirect, method: methodICE},
	{a: "open", b: "addrrestricted", punch: true, learn: true, path: pathDirect, method: methodICE},
	{a: "open", b: "portrestricted", punch: true, learn: true, path: pathDirect, method: methodICE},
	{a: "open", b: "symseq", punch: false, learn: true, path: pathDirect, method: methodICE},
	{a: "open", b: "symmetric", punch: false, learn: true, path: pathDirect, method: methodICE},
	{a: "open", b: "upnp", punch: false, learn: true, path: pathDirect, method: methodICE},
	{a: "open", b: "udpblock", path: pathRelay},
	{a: "fullcone", b: "fullcone", punch: true, learn: true, path: pathDirect, method: methodICE},
	{a: "fullcone", b: "addrrestricted", punch: true, learn: true, path: pathDirect, method: methodICE},
	{a: "fullcone", b: "portrestricted", punch: true, learn: true, path: pathDirect, method: methodICE},
	{a: "fullcone", b: "symseq", punch: false, learn: true, path: pathDirect, method: methodICE},
	{a: "fullcone", b: "symmetric", punch: false, learn: true, path: pathDirect, method: methodICE},
	{a: "fullcone", b: "upnp", punch: false, learn: true, path: pathDirect, method: methodICE},
	{a: "fullcone", b: "udpblock", path: pathRelay},
	{a: "addrrestricted", b: "addrrestricted", punch: true, learn: true, path: pathDirect, method: methodICE},
	{a: "addrrestricted", b: "portrestricted", punch: true, learn: true, path: pathDirect, method: methodICE},
	{a: "addrrestricted", b: "symseq", punch: false, learn: true, path: pathDirect, method: methodICE},
	{a: "addrrestricted", b: "symmetric", punch: false, learn: true, path: pathDirect, method: methodICE},
	{a: "addrrestricted", b: "upnp", punch: false, learn: true, path: pathDirect, method: methodICE},
	{a: "addrrestricted", b: "udpblock", path: pathRelay},
	{a: "portrestricted", b: "portrestricted", punch: true, learn: true, path: pathDirect, method: methodICE},
	{a: "portrestricted", b: "symseq", path: pathDirect, method: methodPredict},
	{a: "portrestricted", b: "symmetric", path: pathDirect, method: methodBirthday},
	{a: "portrestricted", b: "upnp", path: pathDirect, method: methodPortmap},
	{a: "portrestricted", b: "udpblock", path: pathRelay},
	{a: "symseq", b: "symseq", path: pathDirect, method: methodLockstep},
	{a: "symseq", b: "symmetric", path: pathRelay},
	{a: "symseq", b: "upnp", path: pathDirect, method: methodPortmap},
	{a: "symseq", b: "udpblock", path: pathRelay},
	{a: "symmetric", b: "symmetric", path: pathRelay},
	{a: "symmetric", b: "upnp", path: pathDirect, method: methodPortmap},
	{a: "symmetric", b: "udpblock", path: pathRelay},
	{a: "upnp", b: "upnp", path: pathDirect, method: methodPortmap},
	{a: "upnp", b: "udpblock", path: pathRelay},
	{a: "udpblock", b: "udpblock", path: pathRelay},
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
		if (c.path == pathDirect) != (c.method != "") {
			t.Errorf("cell %s: path %s with method %q", c.name(), c.path, c.method)
		}
		if (c.method == methodICE) != c.learn {
			t.Errorf("cell %s: method %q, but ICE learning works=%v", c.name(), c.method, c.learn)
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
	for _, c := range natMatrix {
		if e := labbench.MatrixExpect(c.a, c.b); e.Path != string(c.path) || e.Method != c.method {
			t.Errorf("cell %s: lab-bench expects %s/%q, the scenario table %s/%q", c.name(), e.Path, e.Method, c.path, c.method)
		}
	}
	if !slices.Equal(labbench.MatrixKinds, natKinds) {
		t.Errorf("lab-bench's NAT kinds %v differ from the scenario table's %v", labbench.MatrixKinds, natKinds)
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
	// pending marks are about the product, not about plain punching.
	cells := make([]matrixCell, len(natMatrix))
	for i, c := range natMatrix {
		c.pending = ""
		cells[i] = c
	}
	tally := runMatrix(t, cells, 5, func(t *testing.T, c matrixCell) error {
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
