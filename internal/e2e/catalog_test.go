package e2e

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshnode/meshnode/internal/meshproc"
	"github.com/meshnode/meshnode/pkg/control/api"
)

// startNodes starts n nodes named prefix0..prefix{n-1} in parallel.
func startNodes(t *testing.T, r *meshproc.Rendezvous, prefix string, n int) []*meshproc.Node {
	t.Helper()
	nodes := make([]*meshproc.Node, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nd, err := meshproc.StartNode(context.Background(), bins.meshnode, r.Addr,
				meshproc.NodeOptions{Name: fmt.Sprintf("%s%d", prefix, i), Extra: []string{"--log-level", "debug", "--ice-interfaces", "lo"}})
			if err != nil {
				t.Error(err)
				return
			}
			nodes[i] = nd
		}()
	}
	wg.Wait()
	for _, nd := range nodes {
		if nd != nil {
			dumpOnFailure(t, nd.Proc, nd.Close)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return nodes
}

// catalogOf renders a node's view of the group's services as sorted
// "serveid:name@owner" strings.
func catalogOf(n *meshproc.Node) ([]string, error) {
	ss, err := n.Ctl.Services(context.Background())
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, fmt.Sprintf("%d:%s@%s", s.ServeID, s.Name, s.OwnerName))
	}
	sort.Strings(out)
	return out, nil
}

// waitCatalogs waits until every node's catalog satisfies ok.
func waitCatalogs(t *testing.T, nodes []*meshproc.Node, timeout time.Duration, what string, ok func([]string) bool) {
	t.Helper()
	waitUntil(t, timeout, func() error {
		for _, n := range nodes {
			c, err := catalogOf(n)
			if err != nil {
				return err
			}
			if !ok(c) {
				return fmt.Errorf("%s: %s sees %v", what, n.Name, c)
			}
		}
		return nil
	})
}

func has(entry string) func([]string) bool {
	return func(c []string) bool {
		for _, e := range c {
			if e == entry {
				return true
			}
		}
		return false
	}
}

func not(f func([]string) bool) func([]string) bool { return func(c []string) bool { return !f(c) } }

// TestCatalogTenNodes: services added on one node of ten appear everywhere,
// removed ones vanish everywhere, and a kill -9'd node's services vanish too.
func TestCatalogTenNodes(t *testing.T) {
	r := startRendezvous(t, "")
	echo := startEcho(t)
	nodes := startNodes(t, r, "n", 10)
	ctx := context.Background()

	s, err := nodes[0].Ctl.AddService(ctx, api.Service{Target: echo.addr(), Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if s.ID < 1 || s.ID >= api.MinStaticID {
		t.Fatalf("serveid 0 was assigned %d, want a dynamic one", s.ID)
	}
	web := fmt.Sprintf("%d:web@n0", s.ID)
	waitCatalogs(t, nodes, 30*time.Second, "added service everywhere", has(web))

	// Reachable from the far end of the group, by serveid and by name.
	for _, target := range []string{fmt.Sprint(s.ID), "web@n0"} {
		if err := echoRoundTrip(mapService(t, nodes[9], target), 256<<10, 7, time.Minute); err != nil {
			t.Fatalf("map %s: %v", target, err)
		}
	}

	if err := nodes[0].Ctl.RemoveService(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	waitCatalogs(t, nodes, 30*time.Second, "removed service gone everywhere", not(has(web)))

	if _, err := nodes[5].Ctl.AddService(ctx, api.Service{ID: 750, Target: echo.addr(), Name: "ssh"}); err != nil {
		t.Fatal(err)
	}
	waitCatalogs(t, nodes, 30*time.Second, "static service everywhere", has("750:ssh@n5"))
	nodes[5].Kill() // kill -9
	rest := append(append([]*meshproc.Node{}, nodes[:5]...), nodes[6:]...)
	waitCatalogs(t, rest, 60*time.Second, "a killed node's services gone", not(has("750:ssh@n5")))
	out, err := cli(nodes[1], "map", "750", "0")
	if err == nil || !strings.Contains(out, "unknown serveid 750") {
		t.Fatalf("mapping a dead node's service: %v %q", err, out)
	}
}

// TestDynamicServeIDConflict: two nodes claim one dynamic serveid; the earlier
// claim keeps it, the other moves, both log it, and every catalog agrees.
func TestDynamicServeIDConflict(t *testing.T) {
	r := startRendezvous(t, "")
	echo := startEcho(t)
	nodes := startNodes(t, r, "c", 4)
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, n := range nodes[:2] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := n.Ctl.AddService(ctx, api.Service{ID: 42, Target: echo.addr(), Name: "svc-" + n.Name}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var final []string
	waitUntil(t, 30*time.Second, func() error {
		var first []string
		for i, n := range nodes {
			c, err := catalogOf(n)
			if err != nil {
				return err
			}
			if len(c) != 2 {
				return fmt.Errorf("%s sees %v", n.Name, c)
			}
			ids := map[string]bool{}
			for _, e := range c {
				ids[strings.SplitN(e, ":", 2)[0]] = true
			}
			if len(ids) != 2 {
				return fmt.Errorf("%s sees a shared serveid: %v", n.Name, c)
			}
			if i == 0 {
				first = c
			} else if strings.Join(c, ",") != strings.Join(first, ",") {
				return fmt.Errorf("catalogs differ: %s %v vs %s %v", nodes[0].Name, first, n.Name, c)
			}
		}
		final = first
		return nil
	})
	if !has("42:svc-c0@c0")(final) && !has("42:svc-c1@c1")(final) {
		t.Fatalf("nobody kept serveid 42: %v", final)
	}
	moved := regexp.MustCompile(`dynamic serveid taken by another node; moved.*serveid=42`)
	kept := regexp.MustCompile(`this node keeps`)
	var mover, keeper int
	for _, n := range nodes[:2] {
		if moved.MatchString(n.Out.String()) {
			mover++
		}
		if kept.MatchString(n.Out.String()) {
			keeper++
		}
	}
	if mover != 1 {
		t.Errorf("%d owners logged moving; want exactly 1", mover)
	}
	waitUntil(t, 10*time.Second, func() error {
		keeper = 0
		for _, n := range nodes[:2] {
			if kept.MatchString(n.Out.String()) {
				keeper++
			}
		}
		if keeper != 1 {
			return fmt.Errorf("%d owners logged keeping serveid 42; want 1", keeper)
		}
		return nil
	})
}

// TestStaticServeIDConflict: a static serveid claimed twice is reported on both
// owners and stays claimed twice (maps of it fail by name of the problem).
func TestStaticServeIDConflict(t *testing.T) {
	r := startRendezvous(t, "")
	echo := startEcho(t)
	nodes := startNodes(t, r, "s", 3)
	ctx := context.Background()
	for _, n := range nodes[:2] {
		if _, err := n.Ctl.AddService(ctx, api.Service{ID: 700, Target: echo.addr()}); err != nil {
			t.Fatal(err)
		}
	}
	why := regexp.MustCompile(`static serveid 700 is served by this node and by node s\d`)
	for _, n := range nodes[:2] {
		waitLog(t, n.Proc, why, 30*time.Second)
	}
	var out string
	waitUntil(t, 30*time.Second, func() error {
		out, _ = cli(nodes[2], "services")
		if strings.Count(out, "claimed by 2 nodes") != 2 {
			return fmt.Errorf("services does not flag the conflict:\n%s", out)
		}
		return nil
	})
	out, err := cli(nodes[2], "map", "700", "0")
	if err == nil || !strings.Contains(out, "served by 2 nodes") {
		t.Fatalf("map of a doubly claimed static serveid: %v %q", err, out)
	}
}

// TestCleanLeave: a node stopped with SIGTERM leaves the group at once: its peers
// drop it and its services well before any failure detection would.
func TestCleanLeave(t *testing.T) {
	r := startRendezvous(t, "")
	echo := startEcho(t)
	nodes := startNodes(t, r, "l", 3)
	if _, err := nodes[2].Ctl.AddService(context.Background(), api.Service{ID: 600, Target: echo.addr(), Name: "x"}); err != nil {
		t.Fatal(err)
	}
	waitCatalogs(t, nodes, 30*time.Second, "service everywhere", has("600:x@l2"))
	if err := nodes[2].Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[:2] {
		waitLog(t, n.Proc, regexp.MustCompile(`peer left the group.*name=l2 how=left`), 10*time.Second)
	}
	waitCatalogs(t, nodes[:2], 5*time.Second, "left node's service gone", not(has("600:x@l2")))
}
