package labbench

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/meshnode/meshnode/internal/bench"
	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/control/client"
	"github.com/meshnode/meshnode/testbed/lab"
)

// ColdEnv is the WAN of the cold-start rows: site A's WAN box holds every
// frame 20 ms each way, so anything between a1 and the internet (the
// rendezvous, site B) crosses 40 ms RTT; no loss; both sites behind their
// default (port-restricted) NATs. On loopback a round trip is a fraction of
// a millisecond, less than a new process's first run through its code; here
// the protocol's round trips are what a user waits for.
var ColdEnv = map[string]string{"SITE_A_DELAY_MS": "20"}

// Cold is a fresh node's first connection through a mapping, against the
// relay's round-trip time on the same WAN.
type Cold struct {
	Cold       bench.Series // ms from the node on the rendezvous (no link yet) through `map` to the first echoed byte
	FromLaunch bench.Series // ms from launching the node to that byte
	Paths      map[string]int
	RelayRTT   bench.Series // 64-byte round trips over a relay-only mapping, ms
	Err        error
}

// ColdStart serves an echo in a1 (serveid 701) and, p.ColdReps times, launches
// a fresh node in b1 (a new state directory: new identity, no links, an
// empty catalog) and times it from getting onto the rendezvous, through
// `map 701` and a connection, to the first echoed byte. Links start on the
// relay while ICE runs, so the first byte must not wait for ICE. Then a node in b2 that
// never leaves the relay measures the relay's round trip on the same WAN.
func (r *Runner) ColdStart(ctx context.Context, p Params) (res Cold) {
	res.Err = r.inLab(ctx, ColdEnv, 10*time.Minute, func(ctx context.Context, l *lab.Lab) error {
		fail := func(what string, err error) error { return fmt.Errorf("cold start: %s: %w", what, err) }
		srv, err := startServers(l, "a1", "127.0.0.1")
		if err != nil {
			return fail("servers in a1", err)
		}
		defer srv.Close()
		rdv, err := startRendezvous(ctx, l)
		if err != nil {
			return fail("rendezvous", err)
		}
		if _, _, err := startNode(ctx, l, "a1", rdv, nodeSpec{serve: []string{"701=127.0.0.1:" + port(srv.Echo) + ",name=echo"}}); err != nil {
			return fail("node a1", err)
		}
		res.Paths = map[string]int{}
		for i := range p.ColdReps {
			cold, launch, path, err := coldOnce(ctx, l, rdv, filepath.Join(l.Dir("b1"), fmt.Sprintf("fresh%d", i)))
			if err != nil {
				return fail(fmt.Sprintf("repetition %d", i+1), err)
			}
			r.logf("cold start %d/%d: first byte %.1f ms after the node was on the rendezvous (%.1f ms after launch), path %s", i+1, p.ColdReps, cold, launch, path)
			res.Cold = append(res.Cold, cold)
			res.FromLaunch = append(res.FromLaunch, launch)
			res.Paths[path]++
		}
		_, ctl, err := startNode(ctx, l, "b2", rdv, nodeSpec{extra: []string{"--relay-only"}})
		if err != nil {
			return fail("node b2", err)
		}
		mi, err := ctl.AddMapping(ctx, api.MappingRequest{Target: "701"})
		if err != nil {
			return fail("map 701 on b2", err)
		}
		if res.RelayRTT, err = pingPong(ctx, dialFrom(l, "b2", mi.Listen), 50); err != nil {
			return fail("relay round trips", err)
		}
		r.logf("cold start: relay round trip p50 %.1f ms", res.RelayRTT.Median())
		return nil
	})
	return res
}

// coldOnce launches a node in b1 with a new state directory and, once it
// is on the rendezvous, maps 701 (which waits for the link to a1 and a1's
// catalog entry) and sends one byte through the mapping. It returns the ms
// from the node's getting onto the rendezvous (its own clock, the host's)
// and from the launch to the echoed byte, and the link's path right after.
// The node is stopped before it returns.
func coldOnce(ctx context.Context, l *lab.Lab, rdv, state string) (cold, launch float64, path string, err error) {
	start := time.Now()
	proc, ctl, err := launchNode(ctx, l, "b1", rdv, nodeSpec{state: state})
	if err != nil {
		return 0, 0, "", err
	}
	defer proc.Stop(5 * time.Second)
	onRdv, err := waitRendezvous(ctx, ctl, "b1")
	if err != nil {
		return 0, 0, "", err
	}
	mi, err := ctl.AddMapping(ctx, api.MappingRequest{Target: "701"})
	if err != nil {
		return 0, 0, "", fmt.Errorf("map 701: %w", err)
	}
	c, done, err := connect(ctx, dialFrom(l, "b1", mi.Listen), time.Minute)
	if err != nil {
		return 0, 0, "", err
	}
	defer done()
	b := []byte{42}
	if _, err := c.Write(b); err != nil {
		return 0, 0, "", err
	}
	if _, err := io.ReadFull(c, b); err != nil {
		return 0, 0, "", fmt.Errorf("first byte: %w", err)
	}
	end := time.Now()
	return ms(end.Sub(onRdv)), ms(end.Sub(start)), linkPath(ctx, ctl, "a1"), nil
}

// linkPath is ctl's path to the peer named name, or what went wrong.
func linkPath(ctx context.Context, ctl *client.Client, name string) string {
	p, ok, err := peer(ctx, ctl, name)
	switch {
	case err != nil:
		return "unknown (" + err.Error() + ")"
	case !ok:
		return "no link"
	}
	return string(p.Path)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
