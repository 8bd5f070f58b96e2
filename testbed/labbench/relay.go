package labbench

import (
	"context"
	"fmt"
	"time"

	"github.com/meshnode/meshnode/internal/bench"
	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/control/client"
	"github.com/meshnode/meshnode/testbed/lab"
)

// RelayEnv is the lab of the direct-vs-relay rows: both sites behind
// port-restricted NATs (the link goes direct by hole punching), no WAN delay
// or loss.
var RelayEnv = map[string]string{"SITE_A_NAT": "portrestricted", "SITE_B_NAT": "portrestricted"}

const pathRelay = api.PathRelay

// DirectRelay is single-stream throughput b1 -> a1 through one mapping on the
// same pair of nodes, first on the direct path, then on the relay once UDP
// between the sites is blocked.
type DirectRelay struct {
	Direct, Relay bench.Series // MB/s per repetition
	// b1's view of its link to a1 before and after each row's repetitions.
	DirectBefore, DirectAfter api.PeerInfo
	RelayBefore, RelayAfter   api.PeerInfo
	Fallback                  time.Duration // from blocking UDP to b1 reporting path relay (10 ms polls)
	Err                       error
}

// DirectVsRelay brings up a lab with RelayEnv, serves a sink in a1 (serveid
// 700 of a1's node), maps it on b1 once the link is direct and measures
// p.BulkReps times p.Bulk bytes through the mapping (a new connection each);
// then it drops UDP between the two ISPs on inet, waits (at most 30 s) for b1
// to report path "relay" to a1 and measures the same again on the same
// mapping.
func (r *Runner) DirectVsRelay(ctx context.Context, p Params) (res DirectRelay) {
	res.Err = r.inLab(ctx, RelayEnv, 30*time.Minute, func(ctx context.Context, l *lab.Lab) error {
		fail := func(what string, err error) error { return fmt.Errorf("direct vs relay: %s: %w", what, err) }
		pr, what, err := startPair(ctx, l, "127.0.0.1")
		if err != nil {
			return fail(what, err)
		}
		defer pr.srv.Close()
		ctlB := pr.ctlB
		res.DirectBefore = pr.before
		mi, err := ctlB.AddMapping(ctx, api.MappingRequest{Target: "700"})
		if err != nil {
			return fail("map 700 on b1", err)
		}
		sink := dialFrom(l, "b1", mi.Listen)

		measure := func(row string) (bench.Series, api.PeerInfo, error) {
			var s bench.Series
			for i := range p.BulkReps {
				v, err := throughput(ctx, sink, p.Bulk)
				if err != nil {
					return s, api.PeerInfo{}, fmt.Errorf("%s throughput: %w", row, err)
				}
				s = append(s, v)
				r.logf("direct vs relay throughput %d/%d: %s %.2f MB/s", i+1, p.BulkReps, row, v)
			}
			pi, ok, err := peer(ctx, ctlB, "a1")
			if err == nil && !ok {
				err = fmt.Errorf("b1 has no link to a1")
			}
			return s, pi, err
		}
		if res.Direct, res.DirectAfter, err = measure("direct"); err != nil {
			return fail("direct", err)
		}
		if res.DirectAfter.Path != pathDir {
			return fail("direct", fmt.Errorf("the link left the direct path during the run: %s", describe(res.DirectAfter, true, nil)))
		}

		start := time.Now()
		if err := BlockSitesUDP(ctx, l, true); err != nil {
			return fail("blocking UDP between the sites", err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		res.RelayBefore, err = waitPath(wctx, ctlB, "a1", pathRelay)
		wcancel()
		if err != nil {
			return fail("b1 -> a1 after blocking UDP", err)
		}
		res.Fallback = time.Since(start)
		r.logf("direct vs relay: b1 reports path relay to a1 %v after blocking UDP (%s)", res.Fallback.Round(time.Millisecond), res.RelayBefore.Why)
		if res.Relay, res.RelayAfter, err = measure("relay"); err != nil {
			return fail("relay", err)
		}
		if res.RelayAfter.Path != pathRelay {
			return fail("relay", fmt.Errorf("the link left the relay during the run: %s", describe(res.RelayAfter, true, nil)))
		}
		return nil
	})
	return res
}

// BlockSitesUDP drops (on) or passes again (off) UDP between the two ISPs on
// the internet core (inet) of two-sites.clab.yml, so the sites cannot reach
// each other directly while both still reach the rendezvous (TCP relay,
// STUN). The table goes with the lab.
func BlockSitesUDP(ctx context.Context, l *lab.Lab, on bool) error {
	if !on {
		_, err := l.Exec(ctx, "inet", "nft", "delete", "table", "inet", "mnblock")
		return err
	}
	for _, cmd := range [][]string{
		{"add", "table", "inet", "mnblock"},
		{"add", "chain", "inet", "mnblock", "gate", "{ type filter hook forward priority -10; policy accept; }"},
		{"add", "rule", "inet", "mnblock", "gate", "iifname", "eth2", "oifname", "eth3", "meta", "l4proto", "udp", "drop"},
		{"add", "rule", "inet", "mnblock", "gate", "iifname", "eth3", "oifname", "eth2", "meta", "l4proto", "udp", "drop"},
	} {
		if _, err := l.Exec(ctx, "inet", "nft", cmd...); err != nil {
			return err
		}
	}
	return nil
}

// waitPath polls ctl every 10 ms until its link to name is up on path.
func waitPath(ctx context.Context, ctl *client.Client, name string, path api.Path) (api.PeerInfo, error) {
	var last string
	for {
		p, ok, err := peer(ctx, ctl, name)
		if ok && err == nil && p.State == api.LinkStateUp && p.Path == path {
			return p, nil
		}
		last = describe(p, ok, err)
		select {
		case <-ctx.Done():
			return p, fmt.Errorf("no %s path to %s (last: %s): %w", path, name, last, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
