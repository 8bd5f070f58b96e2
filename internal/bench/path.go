package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/meshnode/meshnode/internal/meshproc"
	"github.com/meshnode/meshnode/pkg/control/api"
)

// DirectFlags make a node look for direct paths over loopback only, so
// benchmarks on one host never send to other interfaces.
var DirectFlags = []string{"--ice-interfaces", "lo"}

// StartRendezvous starts the rendezvous at bin with every listener on
// loopback (its STUN ones too) and extra flags.
func StartRendezvous(ctx context.Context, bin string, extra ...string) (*meshproc.Rendezvous, error) {
	return meshproc.StartRendezvous(ctx, bin, "", nil, append([]string{"--stun", "127.0.0.1:0", "--stun2", "127.0.0.1:0"}, extra...)...)
}

// WaitPath waits until nd's link to the peer named peer is up on path.
func WaitPath(ctx context.Context, nd *meshproc.Node, peer string, path api.Path) error {
	for {
		ps, err := nd.Ctl.Peers(ctx)
		if err == nil {
			for _, p := range ps {
				if p.Name == peer && p.State == api.LinkStateUp && p.Path == path {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: no %s path to %s: %w (last peers: %+v, %v)", nd.Name, path, peer, ctx.Err(), ps, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TimeToDirect starts two fresh nodes in their own group and measures, reps
// times, the milliseconds from launching the second (the first is running) to
// both seeing a direct path to the other: rendezvous presence, link handshake,
// ICE gathering, signaling and checks.
func TimeToDirect(ctx context.Context, bin, rdv string, reps int, extra []string) (Series, error) {
	var s Series
	for i := range reps {
		group := fmt.Sprintf("ttd-%d-%d", time.Now().UnixNano(), i)
		var nodes [2]*meshproc.Node
		var start time.Time
		for j, name := range []string{"x", "y"} {
			start = time.Now()
			nd, err := meshproc.StartNode(ctx, bin, rdv, meshproc.NodeOptions{Name: name, Group: group,
				Extra: append(append([]string{"--log-level", "warn"}, DirectFlags...), extra...)})
			if err != nil {
				return nil, err
			}
			defer nd.Close()
			nodes[j] = nd
		}
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		errX := WaitPath(wctx, nodes[0], "y", "direct")
		errY := WaitPath(wctx, nodes[1], "x", "direct")
		cancel()
		if errX != nil || errY != nil {
			return nil, fmt.Errorf("time to direct: %v %v", errX, errY)
		}
		s = append(s, ms(time.Since(start)))
		nodes[0].Close()
		nodes[1].Close()
	}
	return s, nil
}

// FreshNodeFirstByte measures, reps times, a node that has just come up: it
// maps serveid (served by a member of group) at once and the milliseconds
// from its first dial of the mapping to the first echoed byte. Links start
// on the relay, so this never waits for ICE.
func FreshNodeFirstByte(ctx context.Context, bin, rdv, group, serveid string, reps int, extra []string) (Series, error) {
	var s Series
	for i := range reps {
		nd, err := meshproc.StartNode(ctx, bin, rdv, meshproc.NodeOptions{Name: fmt.Sprintf("fresh%d", i), Group: group,
			Extra: append([]string{"--log-level", "warn"}, extra...)})
		if err != nil {
			return nil, err
		}
		addr, err := nd.Map(ctx, serveid)
		if err != nil {
			nd.Close()
			return nil, err
		}
		c, err := ConnectFirstByte(addr, 1)
		nd.Close()
		if err != nil {
			return nil, err
		}
		s = append(s, c...)
	}
	return s, nil
}
