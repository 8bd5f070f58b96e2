package labbench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/meshnode/meshnode/internal/bench"
	"github.com/meshnode/meshnode/testbed/lab"
)

// MatrixKinds are the NAT kinds of the matrix, easiest first.
var MatrixKinds = []string{"open", "fullcone", "addrrestricted", "portrestricted", "symseq", "symmetric", "upnp", "udpblock"}

// Expect is what the product must do in one cell: the path, and on a direct
// path the method that gets it there (ice, portmap, predict, birthday).
type Expect struct{ Path, Method string }

// MatrixExpect gives a cell's expectation (a, b in MatrixKinds order or
// not). testbed's TestMatrixTableComplete checks it against the scenario
// tests' table.
func MatrixExpect(a, b string) Expect {
	rank := func(k string) int {
		for i, m := range MatrixKinds {
			if m == k {
				return i
			}
		}
		return -1
	}
	if rank(a) > rank(b) {
		a, b = b, a
	}
	easy := map[string]bool{"open": true, "fullcone": true, "addrrestricted": true}
	switch {
	case a == "udpblock" || b == "udpblock":
		return Expect{Path: "relay"}
	case easy[a] || easy[b]:
		return Expect{Path: "direct", Method: "ice"} // ICE with peer-reflexive learning
	case a == "upnp" || b == "upnp":
		return Expect{Path: "direct", Method: "portmap"}
	case a == "portrestricted" && b == "portrestricted":
		return Expect{Path: "direct", Method: "ice"}
	case a == "portrestricted" && b == "symseq":
		return Expect{Path: "direct", Method: "predict"}
	case a == "symseq" && b == "symseq":
		return Expect{Path: "direct", Method: "lockstep"}
	case a == "portrestricted" && b == "symmetric":
		return Expect{Path: "direct", Method: "birthday"}
	}
	return Expect{Path: "relay"} // symseq <-> symmetric, symmetric <-> symmetric
}

// MatrixCell is one NAT pair's runs.
type MatrixCell struct {
	A, B    string
	Want    Expect
	Runs    int          // runs measured (a lab that failed to come up is retried, not counted)
	OK      int          // runs that reached the expected path (direct: within MatrixDirectLimit)
	In20s   int          // direct runs within 20 s (the bar for the hard-NAT cells)
	LabErrs int          // labs that failed to come up (load on the machine), retried
	Ms      bench.Series // time to direct of the direct runs, ms
	Methods map[string]int
	Why     string // a relayed run's reason (last one)
	Errs    []string
}

// MatrixDirectLimit is how long a run waits for a direct path.
const MatrixDirectLimit = 30 * time.Second

// Matrix runs every pair of MatrixKinds (or p.MatrixPairs) p.MatrixReps times (a fresh lab per run),
// workers cells at once: both nodes start together; a run succeeds when
// b1's link to a1 reaches the expected path (a relay verdict: after the
// first ICE attempt ended). The method is taken from either side (the side
// whose candidate made the path is sure of it).
func (r *Runner) Matrix(ctx context.Context, p Params) []MatrixCell {
	reps, workers := p.MatrixReps, p.MatrixWorkers
	var cells []*MatrixCell
	for i, a := range MatrixKinds {
		for _, b := range MatrixKinds[i:] {
			if len(p.MatrixPairs) > 0 && !slices.Contains(p.MatrixPairs, [2]string{a, b}) {
				continue
			}
			cells = append(cells, &MatrixCell{A: a, B: b, Want: MatrixExpect(a, b), Methods: map[string]int{}})
		}
	}
	work := make(chan *MatrixCell)
	var wg sync.WaitGroup
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				for c.Runs < reps && c.LabErrs <= reps && ctx.Err() == nil {
					r.matrixRun(ctx, c)
				}
				r.logf("matrix %s <-> %s: %d/%d as expected (%s), median %.0f ms", c.A, c.B, c.OK, c.Runs, c.Want.Path, c.Ms.Median())
			}
		}()
	}
	for _, c := range cells {
		work <- c
	}
	close(work)
	wg.Wait()
	out := make([]MatrixCell, len(cells))
	for i, c := range cells {
		out[i] = *c
	}
	return out
}

func (r *Runner) matrixRun(ctx context.Context, c *MatrixCell) {
	measured := false
	err := r.inLab(ctx, map[string]string{"SITE_A_NAT": c.A, "SITE_B_NAT": c.B}, 90*time.Second, func(ctx context.Context, l *lab.Lab) error {
		measured = true
		c.Runs++
		rdv, err := startRendezvous(ctx, l)
		if err != nil {
			return err
		}
		start := time.Now()
		_, ctlA, err := launchNode(ctx, l, "a1", rdv, nodeSpec{})
		if err != nil {
			return err
		}
		_, ctlB, err := launchNode(ctx, l, "b1", rdv, nodeSpec{})
		if err != nil {
			return err
		}
		deadline := start.Add(MatrixDirectLimit)
		for {
			p, ok, err := peer(ctx, ctlB, "a1")
			switch {
			case isDirect(p, ok):
				method := p.Method
				if pa, ok, _ := peer(ctx, ctlA, "b1"); ok && pa.Method != "" && pa.Method != "ice" {
					method = pa.Method
				}
				c.Methods[method]++
				if c.Want.Path == "direct" {
					c.OK++
					took := time.Since(start)
					c.Ms = append(c.Ms, ms(took))
					if took <= 20*time.Second {
						c.In20s++
					}
				}
				return nil
			case ok && err == nil && p.State == "up" && c.Want.Path == "relay" && p.ICETries > 0:
				c.OK++
				c.Why = p.Why
				return nil
			case time.Now().After(deadline):
				c.Why = describe(p, ok, err)
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	switch {
	case err != nil && !measured:
		c.LabErrs++
		r.logf("matrix %s <-> %s: lab did not come up (retried): %v", c.A, c.B, firstLine(err))
	case err != nil:
		c.Errs = append(c.Errs, firstLine(err))
	}
}

var matrixLabel = map[string]string{"open": "open", "fullcone": "full cone", "addrrestricted": "addr-restricted",
	"portrestricted": "port-restricted", "symseq": "symmetric, sequential", "symmetric": "symmetric, random",
	"upnp": "miniupnpd router", "udpblock": "UDP blocked"}

func (rep Report) writeMatrix(w io.Writer) {
	fmt.Fprintf(w, "\n## NAT lab: the NAT matrix (every pair, %d runs each)\n\n", rep.Params.MatrixReps)
	fmt.Fprintf(w, "Fresh lab per run, both nodes launched together; success = b1's link to a1 on the expected path "+
		"(direct within %v; relay once the first ICE attempt ended). Time = from launching the nodes to b1 reporting \"direct\".\n\n", MatrixDirectLimit)
	fmt.Fprintf(w, "| a1 | b1 | expected | success | direct within 20 s | time to direct median / p90 (ms) | methods seen | note |\n|---|---|---|---|---|---|---|---|\n")
	for _, c := range rep.Matrix {
		want := c.Want.Path
		if c.Want.Method != "" {
			want += " (" + c.Want.Method + ")"
		}
		t := "-"
		if len(c.Ms) > 0 {
			t = fmt.Sprintf("%.0f / %.0f", c.Ms.Median(), c.Ms.Quantile(0.9))
		}
		var methods []string
		for _, m := range []string{"ice", "portmap", "predict", "birthday", "lockstep"} {
			if c.Methods[m] > 0 {
				methods = append(methods, fmt.Sprintf("%s %d", m, c.Methods[m]))
			}
		}
		note := c.Why
		if len(c.Errs) > 0 {
			note = strings.Join(c.Errs, "; ")
		}
		in20 := "-"
		if c.Want.Path == "direct" {
			in20 = fmt.Sprintf("%d/%d", c.In20s, c.Runs)
		}
		if c.LabErrs > 0 {
			note = strings.TrimPrefix(note+fmt.Sprintf("; %d lab(s) failed to come up, retried", c.LabErrs), "; ")
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d/%d | %s | %s | %s | %s |\n", matrixLabel[c.A], matrixLabel[c.B], want, c.OK, c.Runs, in20, t,
			strings.Join(methods, ", "), strings.ReplaceAll(note, "|", "/"))
	}
}
