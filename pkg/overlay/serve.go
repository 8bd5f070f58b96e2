package overlay

import (
	"context"
	"fmt"
	"net"
	"sort"
	"sync/atomic"
	"time"

	"github.com/xtaci/smux"
)

// localService is a service this node serves, with its connection bound.
type localService struct {
	Service
	active slots
	total  atomic.Uint64
}

// addServiceLocked declares a service; n.mu is held (or n is not running yet).
func (n *Node) addServiceLocked(s Service) error {
	if s.Proto == "" {
		s.Proto = "tcp"
	}
	if err := s.Validate(); err != nil {
		return invalid("service %d: %v", s.ID, err)
	}
	if s.Target == "" {
		return invalid("service %d has no target HOST:PORT", s.ID)
	}
	if old, ok := n.services[s.ID]; ok {
		return conflict("serveid %d is already served here (-> %s)", s.ID, old.Target)
	}
	n.services[s.ID] = &localService{Service: s, active: newSlots(n.cfg.MaxConnsPerService)}
	return nil
}

// LocalServices lists what this node serves, with targets.
func (n *Node) LocalServices() []Service {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Service, 0, len(n.services))
	for _, s := range n.services {
		out = append(out, s.Service)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// catalogMessage is this node's catalog as peers should see it. Its version grows
// with wall time, so a restarted node's catalog replaces its old one everywhere.
func (n *Node) catalogMessage() catalogMsg {
	return catalogMsg{Version: uint64(time.Now().UnixNano()), Services: n.LocalServices()}
}

// sendCatalogTo tells the peer of l what this node serves.
func (n *Node) sendCatalogTo(l *link) {
	ctx, cancel := context.WithTimeout(n.runContext(), n.cfg.OpenTimeout)
	defer cancel()
	st, err := l.openStream(ctx)
	if err != nil {
		l.log.Debug("cannot send catalog", "err", err)
		return
	}
	defer st.Close()
	st.SetWriteDeadline(time.Now().Add(n.cfg.OpenTimeout))
	if _, err := st.Write(streamOpen{Kind: streamCatalog}.marshal()); err != nil {
		l.log.Debug("cannot send catalog", "err", err)
		return
	}
	if err := writeCatalog(st, n.catalogMessage()); err != nil {
		l.log.Debug("cannot send catalog", "err", err)
	}
}

func (n *Node) runContext() context.Context {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ctx == nil {
		return context.Background()
	}
	return n.ctx
}

// headerTimeout bounds how long an accepted stream may take to say what it wants.
const headerTimeout = 10 * time.Second

// handleStream serves one stream the peer of l opened.
func (n *Node) handleStream(l *link, st *smux.Stream) {
	st.SetReadDeadline(time.Now().Add(headerTimeout))
	open, err := readStreamOpen(st)
	if err != nil {
		l.log.Warn("peer opened a bad stream; closing it", "err", err)
		st.Close()
		return
	}
	switch open.Kind {
	case streamCatalog:
		defer st.Close()
		msg, err := readCatalog(st)
		if err != nil {
			l.log.Warn("peer sent a bad catalog", "err", err)
			return
		}
		if n.catalog.update(l.peer, l.peerName(), msg) {
			l.log.Debug("peer catalog updated", "services", len(msg.Services))
		}
	case streamService:
		st.SetReadDeadline(time.Time{})
		n.serveStream(l, st, open.ServeID)
	}
}

// serveStream connects a peer's stream to the local target of a service.
func (n *Node) serveStream(l *link, st *smux.Stream, id ServeID) {
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
	if !ls.active.tryAcquire() {
		l.log.Warn("service connection limit reached; refusing", "serveid", id, "limit", cap(ls.active))
		refuse(statusBusy, fmt.Sprintf("serveid %d has %d connections open, the limit", id, cap(ls.active)))
		return
	}
	defer ls.active.release()
	ls.total.Add(1)

	d := net.Dialer{Timeout: n.cfg.DialTimeout}
	c, err := d.DialContext(n.runContext(), "tcp", ls.Target)
	if err != nil {
		l.log.Warn("service target unreachable", "serveid", id, "target", ls.Target, "err", err)
		refuse(statusDialFailed, fmt.Sprintf("serveid %d: %v", id, err))
		return
	}
	if _, err := st.Write(marshalStatus(statusOK, "")); err != nil {
		c.Close()
		return
	}
	in, out, err := splice(newChunkConn(st), c.(*net.TCPConn))
	if err != nil {
		l.log.Debug("served connection ended with an error", "serveid", id, "err", err)
	}
	l.log.Debug("served connection closed", "serveid", id, "bytes_in", in, "bytes_out", out)
}
