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
// route); the link delivers opened segments with deliver, and ReadFrom returns them.
// It never fails a write: a lost or refused datagram is packet loss, which KCP
// repairs (FACTS.md: peers that treat EPERM/ENOBUFS as fatal drop their sessions).
type kcpConn struct {
	addr  *linkAddr
	send  func(seg []byte)
	in    chan *[]byte
	done  chan struct{}
	once  sync.Once
	drops atomic.Uint64 // inbound segments dropped because KCP did not keep up

	sess    atomic.Pointer[kcp.UDPSession] // the session reading from it, once created (see steerACKs)
	ackLazy bool                           // the session's ACK mode as last set; ReadFrom's goroutine only
}

// kcpInQueue bounds the segments waiting for KCP's read loop (~1.4 MB at 1024).
const kcpInQueue = 1024

func newKCPConn(addr *linkAddr, send func(seg []byte)) *kcpConn {
	return &kcpConn{addr: addr, send: send, in: make(chan *[]byte, kcpInQueue), done: make(chan struct{})}
}

// deliver queues one opened link message holding a KCP segment (its first byte is
// the message kind, skipped by ReadFrom); ownership of b passes to the conn. It drops
// (and recycles b) when the queue is full or the conn is closed, like a UDP socket.
func (c *kcpConn) deliver(b *[]byte) {
	select {
	case <-c.done:
		putBuf(b)
		return
	default:
	}
	select {
	case c.in <- b:
	default:
		c.drops.Add(1)
		putBuf(b)
	}
}

func (c *kcpConn) ReadFrom(p []byte) (int, net.Addr, error) {
	select {
	case b := <-c.in:
		n := copy(p, (*b)[1:])
		putBuf(b)
		c.steerACKs()
		return n, c.addr, nil
	case <-c.done:
		return 0, nil, net.ErrClosed
	}
}

// steerACKs sets how KCP acknowledges the segment ReadFrom is returning (the
// session reads a segment, then processes it). While more segments wait in the
// queue, their ACKs collect; the last one of the burst flushes them all in one
// packet. One ACK per segment (kcp-go's ACK-no-delay) costs a sealed datagram
// sent and received per data segment (a loopback mapping moved 75-86 MB/s
// with it, 123-140 with this); KCP's own delayed ACKs wait for its 10 ms
// clock, which inflates the RTT estimate and so every retransmission timeout
// under loss (request p99 at 3% loss went from 93 to 126 ms in the lab). Here
// an ACK is late by the time to drain the queue.
func (c *kcpConn) steerACKs() {
	s := c.sess.Load()
	if s == nil {
		return
	}
	if lazy := len(c.in) > 0; lazy != c.ackLazy {
		c.ackLazy = lazy
		s.SetACKNoDelay(!lazy)
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
		for {
			select {
			case b := <-c.in:
				putBuf(b)
			default:
				return
			}
		}
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
