package overlay

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xtaci/kcp-go/v5"
)

// kcpConn is the net.PacketConn a link generation's KCP session runs over. WriteTo
// hands a KCP segment to the link (which seals it and sends it on the current
// route); the link hands opened segments to deliver, which feeds them to the
// session on the caller's goroutine (kcp-go's PacketPusher: no read goroutine,
// no queue between the route's reader and KCP).
// It never fails a write: a lost or refused datagram is packet loss, which KCP
// repairs (FACTS.md: peers that treat EPERM/ENOBUFS as fatal drop their sessions).
type kcpConn struct {
	addr  *linkAddr
	send  func(seg []byte)
	done  chan struct{}
	once  sync.Once
	drops atomic.Uint64 // inbound segments dropped (before the session, or after close)

	sess atomic.Pointer[kcp.UDPSession] // the session fed by it, once created (see steerACKs)

	// mu serialises deliveries: two routes' readers may deliver at once
	// during a path switch, and the session takes one packet at a time.
	mu      sync.Mutex
	recv    func(b []byte, addr net.Addr, err error) // the session's input; nil before and after it
	early   []*[]byte                                // segments that came before the session
	closed  bool
	ackLazy bool // the session's ACK mode as last set
}

// kcpEarly bounds the segments kept for a session still being created.
const kcpEarly = 64

func newKCPConn(addr *linkAddr, send func(seg []byte)) *kcpConn {
	return &kcpConn{addr: addr, send: send, done: make(chan struct{})}
}

// SetPacketReceiver is kcp-go's PacketPusher: the session gives its input
// function when it is created and nil when it closes.
func (c *kcpConn) SetPacketReceiver(fn func(b []byte, addr net.Addr, err error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recv = fn
	if fn == nil {
		return
	}
	for _, b := range c.early {
		fn((*b)[1:], c.addr, nil)
		putBuf(b)
	}
	c.early = nil
}

// deliver feeds one opened link message holding a KCP segment (its first byte
// is the message kind) to the session; ownership of b passes to the conn.
// more says that another segment from the same peer follows at once (the rest
// of a receive batch): its ACK may wait for that one (steerACKs).
func (c *kcpConn) deliver(b *[]byte, more bool) {
	c.mu.Lock()
	switch {
	case c.closed:
		c.drops.Add(1)
	case c.recv == nil:
		if len(c.early) < kcpEarly {
			c.early = append(c.early, b)
			c.mu.Unlock()
			return
		}
		c.drops.Add(1)
	default:
		c.steerACKs(more)
		c.recv((*b)[1:], c.addr, nil)
	}
	c.mu.Unlock()
	putBuf(b)
}

// ReadFrom is never called: the session takes its packets from deliver.
func (c *kcpConn) ReadFrom(p []byte) (int, net.Addr, error) {
	<-c.done
	return 0, nil, net.ErrClosed
}

// steerACKs sets how KCP acknowledges the segment being delivered. While more
// segments of the same burst follow, their ACKs collect; the last one of the
// burst flushes them all in one packet. One ACK per segment (kcp-go's
// ACK-no-delay) costs a sealed datagram sent and received per data segment (a
// loopback mapping moved 75-86 MB/s with it, 123-140 with this); KCP's own
// delayed ACKs wait for its 10 ms clock, which inflates the RTT estimate and
// so every retransmission timeout under loss (request p99 at 3% loss went
// from 93 to 126 ms in the lab). Here an ACK is late by the rest of one
// receive batch. Called with c.mu held.
func (c *kcpConn) steerACKs(more bool) {
	s := c.sess.Load()
	if s == nil {
		return
	}
	if more != c.ackLazy {
		c.ackLazy = more
		s.SetACKNoDelay(!more)
	}
}

func (c *kcpConn) WriteTo(p []byte, _ net.Addr) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	c.send(p)
	return len(p), nil
}

func (c *kcpConn) Close() error {
	c.once.Do(func() {
		close(c.done)
		c.mu.Lock()
		c.closed = true
		for _, b := range c.early {
			putBuf(b)
		}
		c.early = nil
		c.mu.Unlock()
	})
	return nil
}

func (c *kcpConn) LocalAddr() net.Addr                { return c.addr }
func (c *kcpConn) SetDeadline(t time.Time) error      { return nil }
func (c *kcpConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *kcpConn) SetWriteDeadline(t time.Time) error { return nil }

// linkAddr names the peer of a link as a net.Addr. kcp-go compares the String of
// every packet's source with its remote's, so the string is computed once.
type linkAddr struct{ s string }

func (a *linkAddr) Network() string { return "meshnode" }
func (a *linkAddr) String() string  { return a.s }

// Packet buffers: one pool for every datagram-sized buffer in the package.
const bufSize = 2048

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, bufSize); return &b }}

func getBuf() *[]byte { b := bufPool.Get().(*[]byte); *b = (*b)[:0]; return b }

func putBuf(b *[]byte) {
	if cap(*b) == bufSize {
		bufPool.Put(b)
	}
}
