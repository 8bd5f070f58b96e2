package e2e

import (
	"context"
	"errors"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshnode/meshnode/internal/meshproc"
	"github.com/meshnode/meshnode/pkg/control/api"
)

// TestRelayMappingBulk moves 64 MiB each way through one mapped connection over the
// relay and 50 concurrent connections of 1 MiB each.
func TestRelayMappingBulk(t *testing.T) {
	r := startRendezvous(t, "")
	echo := startEcho(t)
	a := startNode(t, r, nodeOpts{Name: "alpha", Serve: []string{"700=" + echo.addr() + ",name=echo"}, Extra: []string{"--relay-only"}})
	b := startNode(t, r, nodeOpts{Name: "beta", Extra: []string{"--relay-only"}})
	listen := mapService(t, b, "700")

	if err := echoRoundTrip(listen, 64<<20, 1, 3*time.Minute); err != nil {
		t.Fatalf("64 MiB round trip: %v", err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := echoRoundTrip(listen, 1<<20, uint64(100+i), 2*time.Minute); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent connection: %v", err)
	}
	if conns := echo.connCount(); conns != 51 {
		t.Errorf("echo service saw %d connections, want 51", conns)
	}
	// The path is the relay, and the reason says why.
	ps, err := b.Ctl.Peers(context.Background())
	if err != nil || len(ps) != 1 || ps[0].Path != api.PathRelay || ps[0].State != api.LinkStateUp || ps[0].Name != "alpha" ||
		!strings.Contains(ps[0].Why, "--relay-only") {
		t.Errorf("peers of beta: %+v %v", ps, err)
	}
	_ = a
}

// TestRendezvousRestart kills the rendezvous; both nodes reconnect by themselves and
// new mapped connections work again.
func TestRendezvousRestart(t *testing.T) {
	r := startRendezvous(t, "")
	echo := startEcho(t)
	a := startNode(t, r, nodeOpts{Name: "alpha", Serve: []string{"700=" + echo.addr()}})
	b := startNode(t, r, nodeOpts{Name: "beta"})
	listen := mapService(t, b, "700")
	if err := echoRoundTrip(listen, 1<<20, 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	addr := r.Addr
	r.Kill()
	for _, n := range []*meshproc.Node{a, b} {
		waitLog(t, n.Proc, regexp.MustCompile(`lost rendezvous connection|rendezvous connection lost`), 20*time.Second)
	}
	r2 := startRendezvous(t, addr)
	for _, n := range []*meshproc.Node{a, b} {
		waitUntil(t, 40*time.Second, func() error {
			st, err := n.Ctl.Status(context.Background())
			if err != nil {
				return err
			}
			if !st.Rendezvous.Connected {
				return errors.New(n.Name + " not reconnected")
			}
			return nil
		})
	}
	waitLog(t, r2.Proc, regexp.MustCompile(`(?s)joined.*joined`), 10*time.Second)
	if err := echoRoundTrip(listen, 1<<20, 2, time.Minute); err != nil {
		t.Fatalf("after the rendezvous restarted: %v", err)
	}
}

// TestWrongSecret: a node with a wrong secret lands in a namespace of its own at
// the rendezvous: it sees no member, moves no bytes, and both sides log why.
func TestWrongSecret(t *testing.T) {
	r := startRendezvous(t, "")
	echo := startEcho(t)
	a := startNode(t, r, nodeOpts{Name: "alpha", Serve: []string{"700=" + echo.addr()}})
	m := startNode(t, r, nodeOpts{Name: "mallory", Secret: "not-the-group-secret"})
	// Neither can tell whose secret is wrong; both are alone in their namespace.
	why := regexp.MustCompile(`with a different group secret, and none with ours: check the secret`)
	waitLog(t, m.Proc, why, 20*time.Second)
	waitLog(t, a.Proc, why, 20*time.Second)

	out, err := cli(m, "map", "700", "0")
	if err == nil || !strings.Contains(out, "unknown serveid 700") {
		t.Fatalf("map with a wrong secret: err=%v output=%q", err, out)
	}
	if !strings.Contains(out, `1 node(s) use group "testgroup" with a different group secret`) {
		t.Errorf("map error does not say why the service is unknown: %q", out)
	}
	if out, err := cli(m, "status"); err != nil || !strings.Contains(out, `1 node(s) use group "testgroup" with a different group secret`) {
		t.Errorf("status does not say that others use the group with another secret: %v\n%s", err, out)
	}
	if conns := echo.connCount(); conns != 0 {
		t.Fatalf("the service saw %d connections from a wrong-secret node", conns)
	}
	for _, n := range []*meshproc.Node{a, m} {
		ps, err := n.Ctl.Peers(context.Background())
		if err != nil || len(ps) != 0 {
			t.Fatalf("%s's peers: %+v %v", n.Name, ps, err)
		}
	}
}

// TestServiceTargetDown: a service whose target refuses connections closes mapped
// connections promptly, and the serving node logs why.
func TestServiceTargetDown(t *testing.T) {
	r := startRendezvous(t, "")
	dead := freeAddr(t)
	a := startNode(t, r, nodeOpts{Name: "alpha", Serve: []string{"701=" + dead}})
	b := startNode(t, r, nodeOpts{Name: "beta"})
	listen := mapService(t, b, "701")
	c, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello"))
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := c.Read(make([]byte, 10))
	if n != 0 || err == nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		t.Fatalf("read from a mapping to a dead target: n=%d err=%v, want a prompt close", n, err)
	}
	waitLog(t, a.Proc, regexp.MustCompile(`service target unreachable.*serveid=701.*connection refused`), 10*time.Second)
	waitLog(t, b.Proc, regexp.MustCompile(`mapped connection failed.*connection refused`), 10*time.Second)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestMapErrors: bad `map` input fails with a message naming the problem, and the
// node keeps working.
func TestMapErrors(t *testing.T) {
	r := startRendezvous(t, "")
	echo := startEcho(t)
	startNode(t, r, nodeOpts{Name: "alpha", Serve: []string{"700=" + echo.addr()}})
	b := startNode(t, r, nodeOpts{Name: "beta"})
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"map", "999", "0"}, "unknown serveid 999"},
		{[]string{"map", "700", itoa(busyPort)}, "the port is in use"},
		{[]string{"map", "abc", "0"}, `service "abc"`},
		{[]string{"map", "700", "70000"}, "not a port number"},
		{[]string{"map", "700"}, "map wants SERVICE LOCALPORT"},
		{[]string{"map", "--bind", "localhost", "700", "0"}, "is not an IP address"},
		{[]string{"unmap", "1"}, "no mapping on port 1"},
	} {
		out, err := cli(b, tc.args...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("meshnode %v: err=%v output=%q, want %q", tc.args, err, out, tc.want)
		}
	}
	// Still working.
	if err := echoRoundTrip(mapService(t, b, "700"), 64<<10, 3, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// TestUpErrors: bad flags for `up` fail before anything starts, naming the problem.
func TestUpErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"up", "--rendezvous", "127.0.0.1:1", "--secret", "abcdefgh12"}, `"group" not set`},
		{[]string{"up", "--group", "g", "--rendezvous", "127.0.0.1:1"}, "no group secret"},
		{[]string{"up", "--group", "g", "--rendezvous", "127.0.0.1:1", "--secret", "short"}, "too short"},
		{[]string{"up", "--group", "g", "--rendezvous", "nohostport", "--secret", "abcdefgh12"}, `--rendezvous: tcp transport: address "nohostport": want host:port`},
		{[]string{"up", "--group", "g", "--rendezvous", "127.0.0.1:1", "--secret", "abcdefgh12", "--serve", "700"}, "want SERVEID=HOST:PORT"},
		{[]string{"up", "--group", "g", "--rendezvous", "127.0.0.1:1", "--secret", "abcdefgh12", "--serve", "5=127.0.0.1:1", "--serve", "5=127.0.0.1:2"}, "serveid 5 is already served"},
		{[]string{"up", "--group", "g", "--rendezvous", "127.0.0.1:1", "--secret", "abcdefgh12", "--log-level", "loud"}, "--log-level"},
	} {
		dir, _ := makeTemp(t)
		out, err := runCLI(append([]string{"--state", dir}, tc.args...)...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("meshnode %v: err=%v output=%q, want %q", tc.args, err, out, tc.want)
		}
		if strings.Contains(out, "abcdefgh12") {
			t.Errorf("meshnode %v printed the secret: %q", tc.args, out)
		}
	}
}

// TestMappingPersists: a mapping comes back after the node restarts.
func TestMappingPersists(t *testing.T) {
	r := startRendezvous(t, "")
	echo := startEcho(t)
	startNode(t, r, nodeOpts{Name: "alpha", Serve: []string{"700=" + echo.addr()}})
	b := startNode(t, r, nodeOpts{Name: "beta"})
	listen := mapService(t, b, "700")
	if err := b.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	b2 := startNode(t, r, nodeOpts{Name: "beta", State: b.State})
	ms, err := b2.Ctl.Mappings(context.Background())
	if err != nil || len(ms) != 1 || ms[0].Listen != listen {
		t.Fatalf("mappings after restart: %+v %v (want one on %s)", ms, err, listen)
	}
	if err := echoRoundTrip(listen, 1<<20, 4, time.Minute); err != nil {
		t.Fatalf("restored mapping: %v", err)
	}
	if out, err := cli(b2, "unmap", itoa(ms[0].Port)); err != nil {
		t.Fatalf("unmap: %v %s", err, out)
	}
	if c, err := net.Dial("tcp", listen); err == nil {
		c.Close()
		t.Fatal("unmapped port still accepts connections")
	}
}
