package labbench

import (
	"context"
	"fmt"
	"time"

	"github.com/meshnode/meshnode/internal/bench"
	"github.com/meshnode/meshnode/testbed/lab"
)

// TTD is the time from both nodes up to a direct path for one NAT pair.
type TTD struct {
	A, B     string       // NAT kinds of site A (a1, started first) and site B (b1)
	Ms       bench.Series // per repetition
	Endpoint string       // b1's view of a1 on the last direct path
	Err      error
}

// TimeToDirect measures, reps times in a fresh lab each, the ms from
// launching b1 (site B, NAT kind b) while a1 (kind a) already runs and is on
// the rendezvous, to both nodes reporting an up link on path "direct" to the
// other (control API, polled every 10 ms: a figure may be up to ~10 ms late).
func (r *Runner) TimeToDirect(ctx context.Context, a, b string, reps int) TTD {
	res := TTD{A: a, B: b}
	for i := range reps {
		ms, ep, err := r.timeToDirectOnce(ctx, a, b)
		if err != nil {
			res.Err = fmt.Errorf("%s <-> %s, repetition %d: %w", a, b, i+1, err)
			return res
		}
		r.logf("time to direct %s <-> %s: %.0f ms (%s)", a, b, ms, ep)
		res.Ms = append(res.Ms, ms)
		res.Endpoint = ep
	}
	return res
}

func (r *Runner) timeToDirectOnce(ctx context.Context, a, b string) (took float64, endpoint string, err error) {
	err = r.inLab(ctx, map[string]string{"SITE_A_NAT": a, "SITE_B_NAT": b}, 90*time.Second, func(ctx context.Context, l *lab.Lab) error {
		rdv, err := startRendezvous(ctx, l)
		if err != nil {
			return err
		}
		_, ctlA, err := startNode(ctx, l, "a1", rdv, nodeSpec{})
		if err != nil {
			return err
		}
		start := time.Now()
		_, ctlB, err := launchNode(ctx, l, "b1", rdv, nodeSpec{})
		if err != nil {
			return err
		}
		wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
		defer wcancel()
		var doneA, doneB bool
		var lastA, lastB string
		for !doneA || !doneB {
			if !doneA {
				p, ok, err := peer(wctx, ctlA, "b1")
				doneA, lastA = isDirect(p, ok), describe(p, ok, err)
			}
			if !doneB {
				p, ok, err := peer(wctx, ctlB, "a1") // fails until b1's control socket is up
				doneB, lastB = isDirect(p, ok), describe(p, ok, err)
				endpoint = p.Endpoint
			}
			if doneA && doneB {
				break
			}
			select {
			case <-wctx.Done():
				return fmt.Errorf("no direct path after %v: a1 sees b1: %s; b1 sees a1: %s",
					time.Since(start).Round(time.Millisecond), lastA, lastB)
			case <-time.After(10 * time.Millisecond):
			}
		}
		took = ms(time.Since(start))
		return nil
	})
	return took, endpoint, err
}
