package overlay

import (
	"errors"
	"time"

	"github.com/meshnode/meshnode/pkg/seal"
)

// The receive side of a link, top to bottom:
//
//	a datagram from the peer, on the route it came by: the direct path's socket
//	  reader (pkg/ice, batches per system call) or the rendezvous connection's
//	  reader (pkg/relay; Node.onPacket finds the link)
//	-> receive: seal.Channel.Receive (handshake, or AEAD open and replay check)
//	-> by the message's kind byte: a KCP segment to the generation's kcpConn
//	  (fed to the KCP session on this goroutine: kcpconn.go), gossip to memberlist,
//	  ICE signaling to the pathFinder, NAT info, pings, the peer's info, bye.
//
// It runs on the route reader's goroutine: nothing here may block.

// receive handles one sealed packet from the peer (any route). It runs on the
// route's reader goroutine; more says that the reader has another packet from
// the peer at hand (see kcpConn.steerACKs).
func (l *link) receive(pkt []byte, more bool) {
	l.bytesIn.Add(uint64(len(pkt)))
	b := getBuf()
	pt, err := l.ch.Receive((*b)[:0], pkt)
	if err != nil {
		putBuf(b)
		if !errors.Is(err, seal.ErrClosed) {
			l.log.Debug("dropped link packet", "err", err)
		}
		return
	}
	l.lastSeen.Store(time.Now().UnixNano()) // authentic: a handshake, keepalive or data
	if len(pt) == 0 {
		putBuf(b)
		return
	}
	switch pt[0] {
	case msgKCP:
		l.mu.Lock()
		g := l.gen
		l.mu.Unlock()
		if g == nil {
			putBuf(b)
			return
		}
		*b = pt
		g.conn.deliver(b, more)
	case msgGossip:
		if gs := l.n.gossip.Load(); gs != nil {
			gs.tr.deliverPacket(l.peer, pt[1:])
		}
		putBuf(b)
	case msgBye:
		putBuf(b)
		l.byeAt.Store(time.Now().UnixNano())
	case msgICE:
		if l.finder != nil {
			l.finder.signal(pt[1:])
		}
		putBuf(b)
	case msgInfo:
		h, err := parseHello(pt[1:])
		putBuf(b)
		if err != nil {
			l.log.Debug("dropped bad link info", "err", err)
			return
		}
		l.takeInfo(h)
	case msgHard:
		m, err := parseHardNATMsg(pt[1:])
		putBuf(b)
		if err != nil {
			l.log.Debug("dropped bad hard-NAT message", "err", err)
			return
		}
		if l.finder != nil {
			l.finder.hardNAT(m)
		}
	case msgNAT:
		ni, err := parseNATInfo(pt[1:])
		putBuf(b)
		if err != nil {
			l.log.Debug("dropped bad nat info", "err", err)
			return
		}
		l.mu.Lock()
		l.peerNAT = ni
		l.mu.Unlock()
	case msgPing, msgPong:
		l.handlePing(pt[0], pt[1:])
		putBuf(b)
	default:
		putBuf(b)
		l.log.Debug("dropped link message of unknown kind", "kind", pt[0])
	}
}
