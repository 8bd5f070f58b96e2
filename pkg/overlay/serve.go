package overlay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/xtaci/smux"
)

func (n *Node) runContext() context.Context {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ctx == nil {
		return context.Background()
	}
	return n.ctx
}

// isClosing says whether the node is shutting down.
func (n *Node) isClosing() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closing
}

// headerTimeout bounds how long an accepted stream may take to say what it wants.
const headerTimeout = 10 * time.Second

// handleStream serves one stream the peer of l opened on generation g.
func (n *Node) handleStream(l *link, g *generation, st *smux.Stream) {
	st.SetReadDeadline(time.Now().Add(headerTimeout))
	open, err := readStreamOpen(st)
	if err != nil {
		l.log.Warn("peer opened a bad stream; closing it", "err", err)
		st.Close()
		return
	}
	switch open.Kind {
	case streamCatalog: // a peer fetches our entry
		defer st.Close()
		st.SetWriteDeadline(time.Now().Add(headerTimeout))
		if err := writeCatalog(st, n.localEntry()); err != nil {
			l.log.Debug("cannot answer a catalog fetch", "err", err)
		}
	case streamGossip:
		st.SetReadDeadline(time.Time{})
		g := n.gossip.Load()
		if g == nil {
			st.Close()
			return
		}
		g.tr.deliverStream(st)
	case streamService, streamServiceFrom:
		st.SetReadDeadline(time.Time{})
		n.serveStream(l, g, st, open.ServeID, open.From)
	case streamAdhoc:
		n.serveAdhoc(n.runContext(), l, st, open.Adhoc)
	}
}

// serveStream connects a peer's stream to the local target of a service.
// from is the client's address when the opener sent it (invalid otherwise).
func (n *Node) serveStream(l *link, g *generation, st *smux.Stream, id ServeID, from netip.AddrPort) {
	defer st.Close()
	refuse := func(code byte, reason string) {
		st.SetWriteDeadline(time.Now().Add(headerTimeout))
		st.Write(marshalStatus(code, reason))
	}
	n.mu.Lock()
	ls := n.services[id]
	n.mu.Unlock()
	if ls == nil {
		reason := fmt.Sprintf("serveid %d is not served by node %s", id, n.name)
		l.log.Warn("peer asked for a service we do not serve", "serveid", id, "name", l.peerName())
		refuse(statusNoService, reason)
		return
	}
	if !ls.lim.slots.tryAcquire() {
		ls.lim.refused.Add(1)
		n.warn(fmt.Sprintf("service busy: %d", id), "service connection limit reached; refusing a connection",
			"serveid", id, "max_conns", cap(ls.lim.slots), "peer", l.peer.Short(), "refused_total", ls.lim.refused.Load())
		refuse(statusBusy, fmt.Sprintf("serveid %d has %d connections open, its max-conns", id, cap(ls.lim.slots)))
		return
	}
	defer ls.lim.slots.release()
	if ls.adhoc != nil { // runs before the release: expiry sees no gap
		defer func() { ls.adhoc.lastClose.Store(time.Now().UnixNano()) }()
	}
	ls.total.Add(1)

	if ls.Proto == "udp" {
		n.serveUDP(l, newStreamConn(st, g), ls)
		return
	}
	d := net.Dialer{Timeout: n.cfg.DialTimeout}
	c, err := d.DialContext(n.runContext(), "tcp", ls.Target)
	if err != nil {
		ls.failed.Add(1)
		l.log.Warn("service target unreachable", "serveid", id, "target", ls.Target, "err", err)
		refuse(statusDialFailed, fmt.Sprintf("serveid %d: %v", id, err))
		return
	}
	if err := writeProxyHeader(c, proxyVersion(ls.Limits), from, addrPortOf(c.RemoteAddr()), l.peer.String()); err != nil {
		c.Close()
		ls.failed.Add(1)
		l.log.Warn("service target: cannot send the PROXY header", "serveid", id, "target", ls.Target, "err", err)
		refuse(statusDialFailed, fmt.Sprintf("serveid %d: PROXY header: %v", id, err))
		return
	}
	if _, err := st.Write(marshalStatus(statusOK, "")); err != nil {
		c.Close()
		return
	}
	var target halfCloser = c.(*net.TCPConn)
	var lc *limitedConn
	if ls.lim.shapes() {
		lc = ls.lim.wrap(n.runContext(), c.(*net.TCPConn))
		defer lc.done()
		target = lc
	}
	in, out, err := spliceCounted(newStreamConn(st, g), target, &ls.bytesIn, &ls.bytesOut)
	switch {
	case lc != nil && lc.Idled():
		l.log.Info("served connection closed: idle", "serveid", id, "idle_timeout", ls.lim.idle, "bytes_in", in, "bytes_out", out)
	case errors.Is(err, errLinkDown):
		// The client's node died, went silent or restarted: the target's
		// connection was reset, so it does not take the cut-off for an end.
		name := l.peerName()
		n.warn("served connection cut off: "+l.peer.String(), "served connection cut off",
			"serveid", id, "peer", l.peer.Short(), "name", name, "err", err, "bytes_in", in, "bytes_out", out)
	case err != nil:
		// The client's side aborted (its application reset the connection,
		// or its mapping stopped) or the target failed: the other end got a
		// reset.
		l.log.Debug("served connection ended with an error", "serveid", id, "err", err, "bytes_in", in, "bytes_out", out)
	default:
		l.log.Debug("served connection closed", "serveid", id, "bytes_in", in, "bytes_out", out)
	}
}
