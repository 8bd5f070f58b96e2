package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/meshnode/meshnode/pkg/identity"
)

// serverConn is one client connection: a reader goroutine (handshake, then frames
// from the client) and, once joined, a writer goroutine draining its send queue.
type serverConn struct {
	s      *Server
	nc     net.Conn
	ip     netip.Addr
	id     uint64 // set by admit: the sender id in receivers' fair queues
	remote string
	start  time.Time
	q      sendQueue

	// Set by the handshake before join; read-only afterwards.
	groupID  identity.GroupID
	groupKey identity.GroupKey
	key      identity.PublicKey
	instance [instanceLen]byte
	authKey  *AuthKey           // nil on an open server
	limiter  *rate.Limiter      // RelayRate; nil = none
	ctx      context.Context    // ends with the connection (rate waits)
	cancel   context.CancelFunc //
	group    *group             // set by Server.join
	joined   atomic.Bool        //
	evicted  atomic.Bool        // closed by admit to make room for a newer handshake
	pong     chan struct{}      // cap 1: a Pong arrived (clash probes)

	// Datagram payload bytes relayed from this node to others, and from
	// others to it (the admin API's list).
	relayedOut, relayedIn atomic.Uint64

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

func newServerConn(s *Server, nc net.Conn, ip netip.Addr) *serverConn {
	c := &serverConn{
		s:      s,
		nc:     nc,
		ip:     ip,
		remote: nc.RemoteAddr().String(),
		start:  time.Now(),
		q:      newSendQueue(&s.pool, s.cfg.SendQueueBytes),
		pong:   make(chan struct{}, 1),
	}
	c.q.shrinkIdle = true
	c.q.fair = true
	c.q.budget = &s.budget
	c.q.floor = budgetFloor
	return c
}

func (c *serverConn) run() {
	defer c.s.wg.Done()
	defer c.s.forget(c)
	cr := newConnReader(c.nc, &c.s.readers)
	defer cr.release()
	h, key, err := c.handshake(cr.small)
	c.s.handshakeDone(c)
	if err == nil {
		c.groupID, c.groupKey, c.key, c.instance, c.authKey = h.group, h.groupKey, h.key, h.instance, key
		err = c.enter()
	}
	if err != nil {
		c.s.rejected.Add(1)
		var rj *rejection
		if errors.As(err, &rj) {
			c.s.countRejection(rj.code)
		} else {
			c.s.handshakeErrs.Add(1)
		}
		if rj != nil && rj.reply != "" {
			if rj.auth {
				c.s.rejectedAuth.Add(1)
			}
			c.nc.SetWriteDeadline(time.Now().Add(time.Second))
			c.nc.Write(appendError(nil, rj.code, rj.reply))
			closeGracefully(c.nc)
		} else {
			c.nc.Close()
		}
		if c.evicted.Load() {
			err = fmt.Errorf("evicted: %d connections were handshaking and this one was the oldest (%v)", c.s.cfg.MaxHandshaking, err)
		}
		c.s.refusals.log(c.s.log, c.ip, "connection rejected", "remote", c.remote, "reason", err.Error())
		return
	}
	defer c.cancel()
	limitUnsent(c.nc)

	writerDone := make(chan struct{})
	c.s.wg.Add(1)
	go func() {
		defer c.s.wg.Done()
		defer close(writerDone)
		c.writeLoop()
	}()
	// enter joined the group before the writer ran: its queue holds the
	// presence list already.

	attrs := []any{"group", c.groupID.Short(), "gk", c.groupKey.Short(), "node", c.key.Short(), "remote", c.remote}
	if c.authKey != nil {
		attrs = append(attrs, "auth", c.authKey.Name())
	}
	c.s.log.Info("node joined", attrs...)

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

// enter joins c's namespace: it sets up the rate limiter and settles a clash with
// another connection of the same node key (see proto.go).
func (c *serverConn) enter() error {
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if r := c.s.cfg.RelayRate; r > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(r), int(c.s.cfg.RelayBurst))
	}
	c.joined.Store(true)
	res, other := c.s.join(c, false)
	if res == joinClash {
		if other.answers(c.s.cfg.ClashProbe) {
			c.joined.Store(false)
			c.cancel()
			c.s.clashes.Add(1)
			return reject(CodeNodeKeyInUse, fmt.Sprintf("node %s is already connected from %s (another process with the same key)",
				c.key.Short(), other.remote), clashMessage(other))
		}
		c.s.log.Info("replacing a connection that did not answer", "node", c.key.Short(), "old", other.remote, "new", c.remote)
		res, other = c.s.join(c, true)
	}
	switch res {
	case joinFull:
		c.joined.Store(false)
		c.cancel()
		return reject(CodeGroupFull, fmt.Sprintf("group %s is full (%d members)", c.groupKey.Short(), c.s.cfg.MaxGroupMembers),
			fmt.Sprintf("the group has %d members, the most this rendezvous allows", c.s.cfg.MaxGroupMembers))
	case joinedReplace:
		other.closeWithError(CodeReplaced, "replaced by a newer connection from "+c.remote, 2*time.Second)
	}
	return nil
}

// answers pings the connection and reports whether it answers within d.
func (c *serverConn) answers(d time.Duration) bool {
	select {
	case <-c.pong: // a stale one
	default:
	}
	c.sendPing(framePing, [pingLen]byte{'c', 'l', 'a', 's', 'h'})
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.pong:
		return true
	case <-t.C:
		return false
	}
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
	if c.cancel != nil {
		c.cancel()
	}
}

// closeWithError sends Error{code, msg} after what is already queued and then
// closes the connection; after grace it closes it regardless.
func (c *serverConn) closeWithError(code Code, msg string, grace time.Duration) {
	c.setReason(connEnd{reason: msg})
	if !c.joined.Load() {
		c.nc.Close()
		return
	}
	fb := c.s.pool.get(headerLen + 1 + len(msg))
	fb.b = appendError(fb.b[:0], code, msg)
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
	w := connWriter{nc: c.nc, q: &c.q, timeout: c.s.cfg.WriteTimeout, bwPool: &c.s.writers}
	err := w.run(nil)
	switch {
	case errors.Is(err, errFinished):
		c.nc.Close()
	case errors.Is(err, net.ErrClosed):
		// Closed under the writer: by kill, whose caller recorded why, or by
		// the transport itself after a read-side violation (a WebSocket
		// message over the limit), which the read loop is about to report.
		// Either way the writer's view is not the reason.
		c.kill(connEnd{})
	case err != nil:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.kill(connEnd{reason: fmt.Sprintf("the client took no data for %v", c.s.cfg.WriteTimeout), warn: true})
			return
		}
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
			if err := c.pace(n); err != nil {
				c.s.pool.put(fb)
				return err
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
			} else {
				signal(c.pong)
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

// pace holds the reader back while the node (or its group) is over its relay
// rate: the client's TCP window then fills and it sends no faster than allowed.
func (c *serverConn) pace(n int) error {
	if c.limiter != nil {
		if err := c.limiter.WaitN(c.ctx, n); err != nil {
			return net.ErrClosed
		}
	}
	if g := c.group.limiter; g != nil {
		if err := g.WaitN(c.ctx, n); err != nil {
			return net.ErrClosed
		}
	}
	return nil
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
	fb.src = c.id
	switch m.q.push(fb, false) {
	case pushed:
		c.s.framesRelayed.Add(1)
		c.s.bytesRelayed.Add(uint64(n))
		c.relayedOut.Add(uint64(n))
		m.relayedIn.Add(uint64(n))
	case pushFull:
		c.s.dropQueueFull.Add(1)
		c.s.pool.put(fb)
	case pushUnfair:
		c.s.dropUnfair.Add(1)
		c.s.pool.put(fb)
	case pushBudget:
		c.s.dropMemory.Add(1)
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

func (c *serverConn) sendPeerPresent(k identity.PublicKey) {
	fb := c.s.pool.get(headerLen + keyLen)
	fb.b = appendPeerPresent(fb.b[:0], k)
	c.pushControl(fb)
}

func (c *serverConn) sendGroupInfo(others int) {
	fb := c.s.pool.get(headerLen + groupInfoLen)
	fb.b = appendGroupInfo(fb.b[:0], GroupInfo{Others: others})
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
