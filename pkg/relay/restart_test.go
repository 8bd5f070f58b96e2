package relay

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/transport"
)

// gatedTransport is real TCP whose Dial waits while the gate is closed, so a test
// decides when a client may reconnect.
type gatedTransport struct {
	mu   sync.Mutex
	open chan struct{} // closed while the gate is open
}

func newGate() *gatedTransport {
	g := &gatedTransport{open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *gatedTransport) Name() string { return "gated-tcp" }

func (g *gatedTransport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return transport.TCP().Dial(ctx, addr)
}

func (g *gatedTransport) close() {
	g.mu.Lock()
	g.open = make(chan struct{})
	g.mu.Unlock()
}

func (g *gatedTransport) reopen() {
	g.mu.Lock()
	close(g.open)
	g.mu.Unlock()
}

func TestServerRestartPresenceDiff(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, ServerConfig{}, "")
	addr := srv.addr
	gate := newGate()
	x := startClient(t, addr, "home", "x", func(c *ClientConfig) { c.Transport = gate })
	x.waitState(t, true)
	keep := startClient(t, addr, "home", "keep", nil)
	x.waitEvent(t, PeerJoined, keep.pub)
	leaver := startClient(t, addr, "home", "leaver", nil)
	x.waitEvent(t, PeerJoined, leaver.pub)

	// The rendezvous goes away. x reports the outage but no departures.
	gate.close()
	srv.stop()
	st := x.waitState(t, false)
	if st.Err == nil {
		t.Fatal("disconnect without a reason")
	}
	x.log.waitLog(t, "level=WARN", `msg="lost rendezvous connection"`, "rendezvous closed the connection: server shutting down")
	x.noEvents(t)
	if p := x.Peers(); len(p) != 2 {
		t.Fatalf("peers while disconnected: %+v", p)
	}
	leaver.stop()

	// It comes back on the same address; keep reconnects by itself, fresh joins.
	srv2 := startServer(t, ServerConfig{}, addr)
	fresh := startClient(t, addr, "home", "fresh", nil)
	waitFor(t, "keep and fresh on the new server", func() bool { return srv2.Stats().Conns == 2 })

	// x reconnects and reports only the difference.
	gate.reopen()
	x.waitState(t, true)
	x.waitEvent(t, PeerLeft, leaver.pub)
	x.waitEvent(t, PeerJoined, fresh.pub)
	// Datagrams flow again, and keep never flapped.
	x.sendRetry(t, keep.pub, []byte("after restart"))
	if got := keep.waitPacket(t); got.src != x.pub || string(got.payload) != "after restart" {
		t.Fatalf("keep got %q", got.payload)
	}
	keep.sendRetry(t, x.pub, []byte("welcome back"))
	if got := x.waitPacket(t); got.src != keep.pub {
		t.Fatal("wrong source")
	}
	x.noEvents(t)
	if p := x.Peers(); len(p) != 2 || p[0] == leaver.pub || p[1] == leaver.pub {
		t.Fatalf("peers after restart: %+v", p)
	}
	if s := x.Status(); s.Connects != 2 {
		t.Fatalf("status %+v", s)
	}
}

func TestSlowReceiverDoesNotStallOthers(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, ServerConfig{SendQueueBytes: 128 << 10}, "")
	a := startClient(t, srv.addr, "home", "alice", nil)
	b := startClient(t, srv.addr, "home", "bob", nil)
	a.waitEvent(t, PeerJoined, b.pub)

	// slow joins and never reads again; a small receive buffer makes TCP push back soon.
	slow := dialRaw(t, srv.addr)
	slow.Conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	if err := slow.handshake(t, ClientConfig{Group: testGroup(t, "home")}); err != nil {
		t.Fatal(err)
	}
	a.waitEvent(t, PeerJoined, slow.pub)

	// alice floods slow and talks to bob in between; every datagram alice got
	// out for bob arrives, quickly.
	big := payload(1350, 1)
	sentToB := 0
	start := time.Now()
	for i := 0; i < 4000; i++ {
		a.Send(slow.pub, big)
		if i%10 == 0 {
			if a.Send(b.pub, []byte{byte(i / 10)}) == nil {
				sentToB++
			}
		}
	}
	for i := 0; i < sentToB; i++ {
		b.waitPacket(t)
	}
	elapsed := time.Since(start)
	st := srv.Stats()
	dropped := st.DroppedQueueFull + st.DroppedFairShare
	t.Logf("%d to bob delivered in %v; server dropped %d for the slow receiver", sentToB, elapsed, dropped)
	if sentToB < 300 {
		t.Fatalf("only %d of 400 datagrams to bob were accepted", sentToB)
	}
	if dropped == 0 {
		t.Fatal("no drops counted for the slow receiver")
	}
	if elapsed > 3*time.Second {
		t.Fatalf("relaying to bob took %v", elapsed)
	}
}

func TestSendNeverBlocksLong(t *testing.T) {
	checkGoroutines(t)
	hold := make(chan struct{})
	defer close(hold)
	// A rendezvous that completes the handshake and then stops reading.
	addr := fakeServer(t, func(fs *fakeConn) {
		fs.nc.(*net.TCPConn).SetReadBuffer(4 << 10)
		fs.acceptHandshake()
		<-hold
	})
	a := startClient(t, addr, "home", "alice", func(c *ClientConfig) { c.SendQueueBytes = 128 << 10 })
	a.waitState(t, true)
	dst := newKey(t).Public()
	p := payload(1350, 3)
	full := 0
	var worst time.Duration
	for i := 0; i < 5000 && full < 20; i++ {
		start := time.Now()
		err := a.Send(dst, p)
		worst = max(worst, time.Since(start))
		switch err {
		case nil:
		case ErrQueueFull:
			full++
		default:
			t.Fatalf("Send: %v", err)
		}
	}
	if full == 0 {
		t.Fatal("the queue never filled")
	}
	if worst > 100*time.Millisecond {
		t.Fatalf("a Send took %v", worst)
	}
	if d := a.Status().Drops; d != uint64(full) {
		t.Fatalf("drops = %d, want %d", d, full)
	}
}
