package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
)

// serverConn is one client connection: a reader goroutine (handshake, then frames
// from the client) and, once joined, a writer goroutine draining its send queue.
type serverConn struct {
	s      *Server
	nc     net.Conn
	remote string
	start  time.Time
	q      sendQueue

	// Set by the handshake before join; read-only afterwards.
	groupID identity.GroupID
	key     identity.PublicKey
	name    string
	group   *group // set by Server.join
	joined  atomic.Bool

	closeMu sync.Mutex
	reason  string // why the connection ended; the first reason wins
	warn    bool   // reason is a protocol violation or a misbehaving client
	grace   *time.Timer

	// Reader goroutine only.
	readDeadlineSet time.Time
	goneWindow      time.Time
	goneCount       int
}

// maxGoneRepliesPerSec bounds the PeerGone answers to datagrams for unknown nodes.
const maxGoneRepliesPerSec = 10

func newServerConn(s *Server, nc net.Conn) *serverConn {
	c := &serverConn{
		s:      s,
		nc:     nc,
		remote: nc.RemoteAddr().String(),
		start:  time.Now(),
		q:      newSendQueue(&s.pool, s.cfg.SendQueueBytes),
	}
	c.q.shrinkIdle = true
	return c
}

func (c *serverConn) run() {
	defer c.s.wg.Done()
	defer c.s.forget(c)
	cr := newConnReader(c.nc, &c.s.readers)
	defer cr.release()
	h, err := c.handshake(cr.small)
	if err != nil {
		c.s.rejected.Add(1)
		var rj *rejection
		if errors.As(err, &rj) && rj.reply != "" {
			c.nc.SetWriteDeadline(time.Now().Add(time.Second))
			c.nc.Write(appendError(nil, rj.reply))
			closeGracefully(c.nc)
		} else {
			c.nc.Close()
		}
		c.s.log.Warn("connection rejected", "remote", c.remote, "reason", err.Error())
		return
	}
	c.groupID, c.key, c.name = h.group, h.key, h.name

	writerDone := make(chan struct{})
	c.s.wg.Add(1)
	go func() {
		defer c.s.wg.Done()
		defer close(writerDone)
		c.writeLoop()
	}()

	c.joined.Store(true)
	old := c.s.join(c)
	attrs := []any{"group", c.groupID.Short(), "node", c.key.Short(), "name", c.name, "remote", c.remote}
	if old != nil {
		c.s.log.Info("node joined", append(attrs, "replaced", old.remote)...)
		old.closeWithError("replaced by a newer connection from "+c.remote, 2*time.Second)
	} else {
		c.s.log.Info("node joined", attrs...)
	}

	err = c.readLoop(cr)
	c.kill(c.readErrReason(err))
	c.s.leave(c)
	<-writerDone

	c.closeMu.Lock()
	reason, warn := c.reason, c.warn
	if c.grace != nil {
		c.grace.Stop()
	}
	c.closeMu.Unlock()
	level := slog.LevelInfo
	if warn {
		level = slog.LevelWarn
	}
	c.s.log.Log(context.Background(), level, "node left", append(attrs, "reason", reason,
		"duration", time.Since(c.start).Round(time.Millisecond))...)
}

// connEnd is a reason for closing a connection.
type connEnd struct {
	reason string
	warn   bool
}

// setReason records why the connection ends, unless a reason is already known.
func (c *serverConn) setReason(e connEnd) {
	c.closeMu.Lock()
	if c.reason == "" {
		c.reason, c.warn = e.reason, e.warn
	}
	c.closeMu.Unlock()
}

// kill closes the connection now, discarding queued frames.
func (c *serverConn) kill(e connEnd) {
	c.setReason(e)
	c.nc.Close()
	c.q.close()
}

// closeWithError sends Error{msg} after what is already queued and then closes the
// connection; after grace it closes it regardless.
func (c *serverConn) closeWithError(msg string, grace time.Duration) {
	c.setReason(connEnd{reason: msg})
	if !c.joined.Load() {
		c.nc.Close()
		return
	}
	fb := c.s.pool.get(headerLen + len(msg))
	fb.b = appendError(fb.b[:0], msg)
	if c.q.push(fb, true) != pushed {
		c.s.pool.put(fb)
		c.kill(connEnd{reason: msg})
		return
	}
	c.q.finish()
	t := time.AfterFunc(grace, func() { c.kill(connEnd{reason: msg}) })
	c.closeMu.Lock()
	if c.grace == nil {
		c.grace = t
	} else {
		t.Stop()
	}
	c.closeMu.Unlock()
}

func (c *serverConn) writeLoop() {
	w := connWriter{nc: c.nc, q: &c.q, timeout: c.s.cfg.IdleTimeout, bwPool: &c.s.writers}
	err := w.run(nil)
	switch {
	case errors.Is(err, errFinished):
		c.nc.Close()
	case err != nil:
		c.kill(connEnd{reason: fmt.Sprintf("write to client failed: %v", err)})
	}
}

// readErrReason explains why the read loop ended.
func (c *serverConn) readErrReason(err error) connEnd {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		return connEnd{reason: "client closed the connection"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return connEnd{reason: "client closed the connection in the middle of a frame", warn: true}
	case errors.Is(err, ErrProtocol):
		return connEnd{reason: err.Error(), warn: true}
	case errors.Is(err, net.ErrClosed):
		return connEnd{reason: "connection closed"} // the closer recorded the real reason
	case errors.As(err, &ne) && ne.Timeout():
		return connEnd{reason: fmt.Sprintf("idle timeout: nothing received for %v", c.s.cfg.IdleTimeout)}
	}
	return connEnd{reason: fmt.Sprintf("read from client failed: %v", err)}
}

// readLoop handles the client's frames until an error.
func (c *serverConn) readLoop(cr *connReader) error {
	idle := c.s.cfg.IdleTimeout
	for {
		br := cr.reader()
		// Before a read that may block, make sure the idle deadline is at least 7/8
		// of the timeout away (moving it on every frame would cost a timer update
		// each time; a frame already buffered cannot block).
		if !frameBuffered(br) {
			if now := time.Now(); now.Sub(c.readDeadlineSet) > idle/8 {
				c.nc.SetReadDeadline(now.Add(idle))
				c.readDeadlineSet = now
			}
		}
		hdr, err := br.Peek(headerLen)
		if err != nil {
			return eofMidFrame(err, len(hdr))
		}
		t, n, err := parseHeader(hdr)
		if err != nil {
			return err
		}
		switch {
		case t == frameSend:
			if n < keyLen {
				return protoErr("Send of %d bytes is shorter than a key", n)
			}
			fb := c.s.pool.get(headerLen + n)
			if _, err := io.ReadFull(br, fb.b); err != nil {
				c.s.pool.put(fb)
				return eofMidFrame(err, 1)
			}
			c.forward(fb)
		case t == framePing || t == framePong:
			_, body, err := readFrame(br, pingLen)
			if err != nil {
				return err
			}
			p, err := parsePing(t, body)
			if err != nil {
				return err
			}
			if t == framePing {
				c.sendPing(framePong, p)
			}
		case t.optional():
			if _, err := br.Discard(headerLen + n); err != nil {
				return eofMidFrame(err, 1)
			}
		default:
			return protoErr("unexpected %v frame from a client", t)
		}
	}
}

// forward relays a Send frame (fb, owned) to its destination in c's group as a
// Recv frame, rewriting it in place.
func (c *serverConn) forward(fb *frameBuf) {
	var dst identity.PublicKey
	copy(dst[:], fb.b[headerLen:])
	g := c.group
	g.mu.RLock()
	m := g.members[dst]
	if m == nil {
		// Answer under the group lock, so the answer cannot overtake a PeerPresent
		// for dst that a concurrent join queues.
		c.replyGone(dst)
		g.mu.RUnlock()
		c.s.dropUnknownDst.Add(1)
		c.s.pool.put(fb)
		return
	}
	g.mu.RUnlock()
	n := len(fb.b) - headerLen - keyLen
	fb.b[0] = byte(frameRecv)
	copy(fb.b[headerLen:], c.key[:])
	switch m.q.push(fb, false) {
	case pushed:
		c.s.framesRelayed.Add(1)
		c.s.bytesRelayed.Add(uint64(n))
	case pushFull:
		c.s.dropQueueFull.Add(1)
		c.s.pool.put(fb)
	default: // the destination is closing
		c.s.dropUnknownDst.Add(1)
		c.s.pool.put(fb)
	}
}

// replyGone tells the sender, rate-limited, that dst is not in its group.
func (c *serverConn) replyGone(dst identity.PublicKey) {
	now := time.Now()
	if now.Sub(c.goneWindow) > time.Second {
		c.goneWindow, c.goneCount = now, 0
	}
	if c.goneCount >= maxGoneRepliesPerSec {
		return
	}
	c.goneCount++
	c.sendPeerGone(dst)
}

// pushControl queues a control frame (fb, owned). A client whose queue overflows
// with control frames is disconnected: it will reconnect and resync.
func (c *serverConn) pushControl(fb *frameBuf) {
	switch c.q.push(fb, true) {
	case pushed:
		return
	case pushOverflow:
		c.s.pool.put(fb)
		c.kill(connEnd{reason: "send queue overflow: the client does not read its control frames", warn: true})
	default:
		c.s.pool.put(fb)
	}
}

func (c *serverConn) sendEmpty(t frameType) {
	fb := c.s.pool.get(headerLen)
	fb.b = appendEmpty(fb.b[:0], t)
	c.pushControl(fb)
}

// sendRaw queues a copy of an encoded control frame.
func (c *serverConn) sendRaw(frame []byte) {
	fb := c.s.pool.get(len(frame))
	copy(fb.b, frame)
	c.pushControl(fb)
}

func (c *serverConn) sendPeerPresent(k identity.PublicKey, name string) {
	fb := c.s.pool.get(headerLen + keyLen + len(name))
	fb.b = appendPeerPresent(fb.b[:0], k, name)
	c.pushControl(fb)
}

func (c *serverConn) sendPeerGone(k identity.PublicKey) {
	fb := c.s.pool.get(headerLen + keyLen)
	fb.b = appendPeerGone(fb.b[:0], k)
	c.pushControl(fb)
}

func (c *serverConn) sendPing(t frameType, p [pingLen]byte) {
	fb := c.s.pool.get(headerLen + pingLen)
	fb.b = appendPing(fb.b[:0], t, p)
	c.pushControl(fb)
}
