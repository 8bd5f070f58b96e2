package overlay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xtaci/smux"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/relay"
)

// Cut-off connections: how a stream ends decides how the local TCP connection
// ends. Only the end-of-data marker is a clean end (FIN); a link that goes down
// or a far side that aborts reaches the TCP side as a reset.

// smuxGen returns both ends of one stream over a loopback TCP connection, the
// opener's end as part of a generation (so it can go down as a link does).
func smuxGen(t *testing.T) (g *generation, opener, acceptor *smux.Stream) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc := <-accepted
	cs, err := smux.Client(cc, smuxConfig())
	if err != nil {
		t.Fatal(err)
	}
	ss, err := smux.Server(sc, smuxConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close(); ss.Close() })
	o, err := cs.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	o.Write([]byte{0}) // smux announces a stream with its first frame
	a, err := ss.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(a, make([]byte, 1))
	return &generation{mux: cs}, o, a
}

// spliced splices a new loopback TCP connection to s and returns the client's
// end and splice's result.
func spliced(t *testing.T, s halfCloser) (net.Conn, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	errc := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			errc <- err
			return
		}
		_, _, err = splice(c.(*net.TCPConn), s)
		errc <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, errc
}

// readUntilErr reads c until it fails and returns how many bytes came and the
// error (io.EOF for a clean end).
func readUntilErr(c net.Conn, timeout time.Duration) (int, error) {
	c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 64<<10)
	total := 0
	for {
		n, err := c.Read(buf)
		total += n
		if err != nil {
			return total, err
		}
	}
}

// TestSpliceLinkDown: the generation of a stream goes down in the middle of a
// transfer (as when the serving node dies, or the link is closed): the client
// gets a reset after the bytes that made it, and splice names the link and why.
func TestSpliceLinkDown(t *testing.T) {
	g, o, a := smuxGen(t)
	c, errc := spliced(t, newStreamConn(o, g))
	far := newChunkConn(a)
	if _, err := far.Write(bytes.Repeat([]byte("x"), 100<<10)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 100<<10)); err != nil {
		t.Fatal(err)
	}
	why := "the test pulled the plug"
	g.why.Store(&why) // as generation.kill does, without KCP under it
	g.mux.Close()
	if n, err := readUntilErr(c, 10*time.Second); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("client's read after the link went down: %d bytes, %v; want a connection reset", n, err)
	}
	err := <-errc
	if !errors.Is(err, errLinkDown) || !strings.Contains(err.Error(), "the test pulled the plug") {
		t.Fatalf("splice error %v, want errLinkDown with the reason", err)
	}
}

// TestSpliceCleanEnd: the far end sends its end marker and closes after both
// directions are done: the client reads every byte, then a clean EOF.
func TestSpliceCleanEnd(t *testing.T) {
	g, o, a := smuxGen(t)
	c, errc := spliced(t, newStreamConn(o, g))
	answer := bytes.Repeat([]byte("0123456789abcdef"), 256<<10) // 4 MiB
	go func() {
		far := newChunkConn(a)
		far.ReadFrom(bytes.NewReader(answer))
		far.CloseWrite()
		io.Copy(io.Discard, far) // until the client's half-close arrives
		far.Close()
	}()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	got := make([]byte, len(answer))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, answer) {
		t.Fatalf("answer: %v", err)
	}
	c.(*net.TCPConn).CloseWrite()
	if n, err := readUntilErr(c, 10*time.Second); n != 0 || err != io.EOF {
		t.Fatalf("after the answer: %d bytes, %v; want a clean EOF", n, err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("splice error %v, want none", err)
	}
}

// TestSpliceFarAbortAfterEnd: the far end finishes its direction (marker), then
// aborts the stream while the client is still sending, e.g. because its target
// reset the connection. The client's connection is reset instead of its writes
// stalling forever on a stream nobody reads.
func TestSpliceFarAbortAfterEnd(t *testing.T) {
	g, o, a := smuxGen(t)
	c, errc := spliced(t, newStreamConn(o, g))
	far := newChunkConn(a)
	far.CloseWrite()
	if n, err := readUntilErr(c, 10*time.Second); n != 0 || err != io.EOF {
		t.Fatalf("client's read: %d bytes, %v; want the far end's clean EOF", n, err)
	}
	go io.Copy(io.Discard, io.LimitReader(far, 64<<10)) // read a little, then abort
	werr := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		for {
			if _, err := c.Write(buf); err != nil {
				werr <- err
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	far.Close() // no marker from the client's direction arrived: an abort
	select {
	case err := <-werr:
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
			t.Fatalf("client's write after the far end aborted: %v, want a reset", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("client's writes still stalled 20s after the far end aborted")
	}
	if err := <-errc; !errors.Is(err, errAborted) {
		t.Fatalf("splice error %v, want errAborted", err)
	}
}

// stoppableRelay is a relay server on a fixed loopback address that a test can
// stop and start again.
type stoppableRelay struct {
	t    *testing.T
	addr string
	stop func()
}

func startStoppableRelay(t *testing.T, addr string) *stoppableRelay {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		relay.NewServer(relay.ServerConfig{Logger: testLogger(t)}).Serve(ctx, ln)
		close(done)
	}()
	r := &stoppableRelay{t: t, addr: ln.Addr().String()}
	r.stop = func() { cancel(); <-done }
	t.Cleanup(r.stop)
	return r
}

func runRelayOnlyNode(t *testing.T, rdv, name string, key identity.PrivateKey, services ...Service) *Node {
	t.Helper()
	n, err := New(Config{Group: "g", Secret: "a-long-enough-secret", Rendezvous: rdv, Name: name, Key: key,
		Services: services, Logger: testLogger(t).With("node", name), RelayOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

// TestRendezvousOutageFailsFast: while the rendezvous is down, a relayed link
// shows as down, and a new mapped connection is reset at once with the reason
// kept in the mapping's status; when the rendezvous is back, connections work.
func TestRendezvousOutageFailsFast(t *testing.T) {
	r := startStoppableRelay(t, "")
	ka, kb := newTestKey(t), newTestKey(t)
	runRelayOnlyNode(t, r.addr, "a", ka, Service{ID: 7, Proto: "tcp", Target: echoListener(t)})
	b := runRelayOnlyNode(t, r.addr, "b", kb)
	listen := mapTo(t, b, "7")
	echoOnce(t, listen, "before")

	r.stop()
	waitFor(t, "b sees the rendezvous down", func() bool {
		st := b.Status()
		return !st.Rendezvous.Connected && st.Rendezvous.LastError != ""
	})
	ps := b.Peers()
	if len(ps) != 1 || ps[0].State != api.LinkStateDownRendezvous || !strings.Contains(ps[0].Error, "reachable only through the rendezvous") {
		t.Fatalf("b's peers while the rendezvous is down: %+v", ps)
	}
	if ss := b.Services(); len(ss) != 1 || ss[0].Reachable {
		t.Errorf("b's services while the rendezvous is down: %+v, want a's service unreachable", ss)
	}

	start := time.Now()
	n, err := func() (int, error) {
		c, err := net.Dial("tcp", listen)
		if err != nil {
			return 0, err // the reset may beat connect's return on loopback
		}
		defer c.Close()
		if _, err := c.Write([]byte("hello")); err != nil {
			// The reset came before the write, which took its error (a
			// read after it sees a plain EOF).
			return 0, err
		}
		return readUntilErr(c, 10*time.Second)
	}()
	took := time.Since(start)
	if n != 0 || !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("new mapped connection while the rendezvous is down: %d bytes, %v; want a reset", n, err)
	}
	if took > 2*time.Second {
		t.Errorf("the new connection took %v to fail, want it at once", took)
	}
	ms := b.Mappings()
	if len(ms) != 1 || !strings.Contains(ms[0].LastError, "is reachable only through the rendezvous, which is unreachable since") {
		t.Fatalf("b's mapping while the rendezvous is down: %+v", ms)
	}

	startStoppableRelay(t, r.addr)
	waitFor(t, "the link is up again", func() bool {
		ps := b.Peers()
		return len(ps) == 1 && ps[0].State == api.LinkStateUp
	})
	echoOnce(t, listen, "after")
}

// TestUDPFlowLinkDown: the link generation under a UDP flow goes down. UDP has
// no end to pass on, so the flow ends (nothing waits for a dead stream), the
// mapping says why, and the client's next datagram starts a flow that works.
func TestUDPFlowLinkDown(t *testing.T) {
	rdv := startRelay(t)
	echo, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, addr, err := echo.ReadFrom(buf)
			if err != nil {
				return
			}
			echo.WriteTo(buf[:n], addr)
		}
	}()
	ka, kb := newTestKey(t), newTestKey(t)
	runNode(t, rdv, "a", ka, Service{ID: 9, Proto: "udp", Target: echo.LocalAddr().String()})
	b, _ := runNode(t, rdv, "b", kb)
	listen := mapTo(t, b, "9")
	c, err := net.Dial("udp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip := func(msg string) error {
		buf := make([]byte, 100)
		for range 50 { // UDP: retry until the flow is up
			c.Write([]byte(msg))
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if n, err := c.Read(buf); err == nil && string(buf[:n]) == msg {
				return nil
			}
		}
		return errors.New("no echo of " + msg)
	}
	if err := roundTrip("one"); err != nil {
		t.Fatal(err)
	}
	m := func() *mapping {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, m := range b.mappings {
			return m
		}
		return nil
	}()
	flows := func() int {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.flows)
	}
	if flows() != 1 {
		t.Fatalf("%d flows, want 1", flows())
	}
	genOf(linkOf(b, ka.Public())).kill("the test pulled the plug")
	waitFor(t, "the flow ends", func() bool { return flows() == 0 })
	if mi := b.Mappings()[0]; !strings.Contains(mi.LastError, "the test pulled the plug") {
		t.Errorf("mapping after the link went down: %+v", mi)
	}
	if err := roundTrip("two"); err != nil {
		t.Fatalf("after the link came back: %v", err)
	}
}
