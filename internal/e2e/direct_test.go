package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshnode/meshnode/internal/meshproc"
	"github.com/meshnode/meshnode/pkg/control/api"
)

// Direct paths on loopback: the rendezvous answers STUN on 127.0.0.1 and nodes
// take host candidates from lo only (--ice-interfaces lo, set by startNode).
// The NAT pairs, the upgrade under a running transfer and the fallback run in
// the lab (testbed/).

// waitPath waits until n's link to peer is up on path.
func waitPath(t *testing.T, n *meshproc.Node, peer string, path api.Path, timeout time.Duration) {
	t.Helper()
	waitUntil(t, timeout, func() error {
		ps, err := n.Ctl.Peers(context.Background())
		if err != nil {
			return err
		}
		for _, p := range ps {
			if p.Name == peer && p.State == api.LinkStateUp && p.Path == path {
				return nil
			}
		}
		return fmt.Errorf("%s's peers: %+v", n.Name, ps)
	})
}

// TestDirectPath: two nodes on one host go direct; data moves intact; peers,
// ping, netcheck and the logs say so.
func TestDirectPath(t *testing.T) {
	r := startRendezvous(t, "")
	echo := startEcho(t)
	b := startNode(t, r, nodeOpts{Name: "beta"})
	// beta's event stream, watched from before alpha exists.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan api.Event, 16)
	go b.Ctl.Events(ctx, func(ev api.Event) error { events <- ev; return nil })
	time.Sleep(100 * time.Millisecond) // the stream is open before alpha starts
	a := startNode(t, r, nodeOpts{Name: "alpha", Serve: []string{"700=" + echo.addr()}})
	listen := mapService(t, b, "700")
	waitPath(t, b, "alpha", "direct", 30*time.Second)
	for want := map[api.EventKind]bool{api.EventJoin: true, api.EventPath: true}; len(want) > 0; {
		select {
		case ev := <-events:
			if ev.Name == "alpha" && (ev.Kind == api.EventJoin || ev.Kind == api.EventPath && ev.Path == api.PathDirect) {
				delete(want, ev.Kind)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("events of beta: missing %v", want)
		}
	}
	waitPath(t, a, "beta", "direct", 30*time.Second)
	waitLog(t, b.Proc, regexp.MustCompile(`msg="peer path changed".*name=alpha path=direct was=relay`), 5*time.Second)

	if err := echoRoundTrip(listen, 32<<20, 7, 2*time.Minute); err != nil {
		t.Fatalf("32 MiB over the direct path: %v", err)
	}
	ps, err := b.Ctl.Peers(context.Background())
	if err != nil || len(ps) != 1 || ps[0].Path != api.PathDirect || !strings.HasPrefix(ps[0].Endpoint, "127.0.0.1:") || ps[0].Why != "" {
		t.Fatalf("peers of beta after the transfer: %+v %v", ps, err)
	}

	out, err := cli(b, "ping", "--count", "3", "--interval", "50ms", "alpha")
	if err != nil || !strings.Contains(out, "3/3 answered") || !strings.Contains(out, "path direct via 127.0.0.1:") {
		t.Errorf("meshnode ping alpha: %v\n%s", err, out)
	}
	out, err = cli(b, "ping", "nobody")
	if err == nil || !strings.Contains(out, `no peer named "nobody"`) {
		t.Errorf("ping of an unknown peer: %v\n%s", err, out)
	}
	out, err = cli(b, "peers")
	if err != nil || !regexp.MustCompile(`alpha .* direct .* via 127\.0\.0\.1:\d+ \((host|srflx|prflx)\)`).MatchString(out) {
		t.Errorf("meshnode peers: %v\n%s", err, out)
	}
	out, err = cli(b, "netcheck")
	for _, want := range []string{"udp       yes", "public    127.0.0.1:", "nat       no", "mapping   endpoint-independent", "verdict   no NAT"} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("meshnode netcheck: want %q: %v\n%s", want, err, out)
		}
	}
}

// TestRelayOnlyPeer: one side with --relay-only keeps the link on the relay,
// and the other side knows why.
func TestRelayOnlyPeer(t *testing.T) {
	r := startRendezvous(t, "")
	echo := startEcho(t)
	startNode(t, r, nodeOpts{Name: "alpha", Serve: []string{"700=" + echo.addr()}, Extra: []string{"--relay-only"}})
	b := startNode(t, r, nodeOpts{Name: "beta"})
	listen := mapService(t, b, "700")
	if err := echoRoundTrip(listen, 4<<20, 8, time.Minute); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, func() error {
		ps, err := b.Ctl.Peers(context.Background())
		if err != nil || len(ps) != 1 || ps[0].Path != api.PathRelay || ps[0].Why != "forced: --relay-only on the peer" {
			return fmt.Errorf("peers of beta: %+v %v", ps, err)
		}
		return nil
	})
	out, err := cli(b, "ping", "alpha")
	if err != nil || !strings.Contains(out, "path relay (forced: --relay-only on the peer)") {
		t.Errorf("meshnode ping alpha: %v\n%s", err, out)
	}
}

// TestCatalogWithoutRendezvous: with the rendezvous gone, nodes on direct
// links still gossip catalog changes and map each other's services.
func TestCatalogWithoutRendezvous(t *testing.T) {
	r := startRendezvous(t, "")
	nodes := startNodes(t, r, "n", 3)
	for _, n := range nodes {
		for _, p := range nodes {
			if p != n {
				waitPath(t, n, p.Name, "direct", 30*time.Second)
			}
		}
	}
	r.Kill()
	for _, n := range nodes {
		waitLog(t, n.Proc, regexp.MustCompile(`lost rendezvous connection`), 10*time.Second)
	}
	echo := startEcho(t)
	if out, err := cli(nodes[0], "serve", "add", "--name", "late", "710", echo.addr()); err != nil {
		t.Fatalf("serve add: %v\n%s", err, out)
	}
	waitCatalogs(t, nodes, 15*time.Second, "added while the rendezvous is down", has("710:late@n0"))
	listen := mapService(t, nodes[2], "late@n0")
	if err := echoRoundTrip(listen, 1<<20, 9, time.Minute); err != nil {
		t.Fatalf("mapping without the rendezvous: %v", err)
	}
	if out, err := cli(nodes[0], "serve", "rm", "710"); err != nil {
		t.Fatalf("serve rm: %v\n%s", err, out)
	}
	waitCatalogs(t, nodes, 15*time.Second, "removed while the rendezvous is down", not(has("710:late@n0")))
}

// TestDirectOnly: a --direct-only node moves gossip and data only once the
// direct path is up, and then works like any other.
func TestDirectOnly(t *testing.T) {
	r := startRendezvous(t, "")
	echo := startEcho(t)
	startNode(t, r, nodeOpts{Name: "alpha", Serve: []string{"700=" + echo.addr()}, Extra: []string{"--direct-only", "--ice-interfaces", "lo"}})
	b := startNode(t, r, nodeOpts{Name: "beta"})
	waitPath(t, b, "alpha", "direct", 30*time.Second)
	listen := mapService(t, b, "700")
	if err := echoRoundTrip(listen, 4<<20, 10, time.Minute); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI("up", "--group", "g", "--rendezvous", r.Addr, "--secret", "long-enough-secret", "--relay-only", "--direct-only")
	if err == nil || !strings.Contains(out, "exclude each other") {
		t.Errorf("up --relay-only --direct-only: %v\n%s", err, out)
	}
}
