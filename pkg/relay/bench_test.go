package relay

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
)

// BenchmarkRelayForward measures one-way relaying of 1350-byte datagrams between
// two clients through a server, all on loopback. MB/s counts datagrams offered;
// delivered-MB/s those that reached the receiver (the rest were dropped by the
// server because the receiver's queue was full, as a UDP path would).
func BenchmarkRelayForward(b *testing.B) {
	checkGoroutines(b)
	srv := startServer(b, ServerConfig{}, "")
	group := testGroup(b, "bench")
	var received, receivedBytes atomic.Int64
	joined := make(chan struct{}, 1)
	run := func(cfg ClientConfig) (*Client, func()) {
		cfg.Addr, cfg.Group, cfg.Key = srv.addr, group, newKey(b)
		c, err := NewClient(cfg)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); c.Run(ctx) }()
		return c, func() { cancel(); <-done }
	}
	dst, stopDst := run(ClientConfig{OnPacket: func(_ identity.PublicKey, p []byte, _ bool) {
		received.Add(1)
		receivedBytes.Add(int64(len(p)))
	}})
	defer stopDst()
	src, stopSrc := run(ClientConfig{OnPresence: func(ev PresenceEvent) {
		if ev.Kind == PeerJoined {
			joined <- struct{}{}
		}
	}})
	defer stopSrc()
	select {
	case <-joined:
	case <-time.After(5 * time.Second):
		b.Fatal("clients did not meet")
	}
	dstKey := dst.pub
	p := payload(1350, 9)

	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	start := time.Now()
	sent := 0
	for b.Loop() {
		for {
			err := src.Send(dstKey, p)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrQueueFull) {
				b.Fatal(err)
			}
		}
		sent++
	}
	// Wait until every datagram was delivered or dropped by the server.
	deadline := time.Now().Add(10 * time.Second)
	dropped := func() int64 {
		st := srv.Stats()
		return int64(st.DroppedQueueFull + st.DroppedFairShare + st.DroppedMemory)
	}
	for received.Load()+dropped() < int64(sent) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	st := srv.Stats()
	b.ReportMetric(float64(receivedBytes.Load())/elapsed.Seconds()/1e6, "delivered-MB/s")
	b.ReportMetric(100*float64(st.DroppedQueueFull+st.DroppedFairShare+st.DroppedMemory)/float64(max(sent, 1)), "%dropped")
}

func TestSendDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	checkGoroutines(t)
	srv := startServer(t, ServerConfig{}, "")
	a := startClient(t, srv.addr, "home", "alice", nil)
	b := startClient(t, srv.addr, "home", "bob", func(c *ClientConfig) { c.OnPacket = nil })
	a.waitEvent(t, PeerJoined, b.pub)
	p := payload(1350, 1)
	// Fill the buffer pool first: a full send queue holds ~1500 frames.
	for range 4000 {
		a.Send(b.pub, p)
	}
	allocs := testing.AllocsPerRun(2000, func() {
		if err := a.Send(b.pub, p); err != nil && !errors.Is(err, ErrQueueFull) {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Fatalf("Send allocates %.0f times per call", allocs)
	}
}

// TestSendWaitDoesNotAllocate: with the rendezvous not reading (its socket and
// our queue full), each Send waits for room and drops with ErrQueueFull, still
// without allocating (its timer is pooled).
func TestSendWaitDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	srv := startServer(t, ServerConfig{}, "")
	px := startStallProxy(t, srv.addr)
	a := startClient(t, px.addr, "home", "alice", func(c *ClientConfig) { c.SendQueueBytes = 128 << 10 })
	b := startClient(t, srv.addr, "home", "bob", func(c *ClientConfig) { c.OnPacket = nil })
	a.waitEvent(t, PeerJoined, b.pub)
	px.stall()
	p := payload(1350, 1)
	full := false
	for i := 0; i < 1<<16 && !full; i++ { // fill the kernel's buffers, then our queue
		err := a.Send(b.pub, p)
		if err != nil && !errors.Is(err, ErrQueueFull) {
			t.Fatal(err)
		}
		full = errors.Is(err, ErrQueueFull)
	}
	if !full {
		t.Fatal("the queue never filled with the rendezvous not reading")
	}
	allocs := testing.AllocsPerRun(20, func() {
		if err := a.Send(b.pub, p); !errors.Is(err, ErrQueueFull) {
			t.Fatalf("Send with a full queue: %v, want ErrQueueFull", err)
		}
	})
	if allocs > 0 {
		t.Fatalf("Send with a full queue allocates %.0f times per call", allocs)
	}
}

// stallProxy forwards TCP connections to a target until stall is called;
// then it stops reading from the client (the target's side keeps flowing).
type stallProxy struct {
	addr    string
	stalled chan struct{}
	done    chan struct{} // closed when the test ends: the connections close
}

func (p *stallProxy) stall() {
	select {
	case <-p.stalled:
	default:
		close(p.stalled)
	}
}

func startStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	p := &stallProxy{stalled: make(chan struct{}), done: make(chan struct{})}
	p.addr = fakeServer(t, func(fc *fakeConn) {
		s, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer s.Close()
		go io.Copy(fc.nc, s) // ends when s closes
		buf := make([]byte, 32<<10)
		for {
			select {
			case <-p.stalled:
				<-p.done // stop reading: the client's writes back up
				return
			default:
			}
			n, err := fc.nc.Read(buf)
			if n > 0 {
				if _, werr := s.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
	t.Cleanup(func() { close(p.done) }) // before fakeServer's cleanup waits for the handlers
	return p
}
