package ice

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Path is the direct route a Session found: datagrams to and from the peer over
// the selected candidate pair. Inbound datagrams go to the Session's onPacket
// callback. A Path dies (Done closes) when consent checks stop getting answers for
// Config.DisconnectedTimeout (pion's "disconnected" state: the Path does not wait
// for "failed"), when the peer closes or restarts its attempt, or on Close; the
// caller then falls back to the relay and starts a new Session later.
type Path struct{ s *Session }

// PathStats are a Path's counters and its last consent round trip.
type PathStats struct {
	PacketsIn, BytesIn   uint64 // datagrams delivered to onPacket (including before selection)
	PacketsOut, BytesOut uint64 // datagrams handed to the kernel
	SendDrops            uint64 // datagrams Send dropped (ErrDropped)
	InFromOther          uint64 // datagrams from an address other than the selected remote
	RTT                  time.Duration
}

// Send queues one datagram for the peer (b is copied: the caller may reuse it)
// and returns; a goroutine of the Path's sends what queued up, many datagrams
// per system call (sender.go). It never blocks: when the queue is full the
// datagram is dropped and counted, and Send returns an error wrapping
// ErrDropped; so is a datagram the kernel refuses later (EPERM, ENOBUFS: a
// firewall, a full device queue), which only the counters show. Treat both as
// packet loss. It returns ErrNotSendable for a datagram of more than 8192 bytes
// or one that parses as STUN (first byte 0..3 and the STUN magic cookie: the
// peer would hand it to its agent), and an error wrapping the Path's death
// reason (see Err) once the Path is dead. Safe for concurrent use.
func (p *Path) Send(b []byte) error {
	d := p.s.d
	select {
	case <-p.s.dead:
		return p.Err()
	default:
	}
	if len(b) > maxDatagram || isSTUN(b) {
		return fmt.Errorf("ice: %w: %d bytes (limit %d), looks like STUN: %v", ErrNotSendable, len(b), maxDatagram, isSTUN(b))
	}
	if err := d.sender.enqueue(b); err != nil {
		if errors.Is(err, net.ErrClosed) {
			return p.Err()
		}
		d.sendDrops.Add(1)
		return fmt.Errorf("ice: %w: %v", ErrDropped, err)
	}
	return nil
}

// Local returns the selected pair's local candidate: its address ("ip:port") and
// type ("host", "srflx").
func (p *Path) Local() (addr, candType string) {
	r := p.s.d.route.Load()
	return r.localAddr, r.localType
}

// Remote returns the selected pair's remote candidate: address and type ("host",
// "srflx", "prflx" when learned from the peer's checks).
func (p *Path) Remote() (addr, candType string) {
	r := p.s.d.route.Load()
	return r.remoteAddr, r.remoteTyp
}

// Methods that found a Path (Path.Method).
const (
	// MethodICE: plain ICE (host, server-reflexive, peer-reflexive candidates).
	MethodICE = "ice"
	// MethodPortmap: a candidate that exists thanks to a port mapping on a
	// gateway (the peer's mapped candidate was selected, or our mapped socket
	// talks to a peer outside our LAN).
	MethodPortmap = "portmap"
	// MethodPredict: a predicted candidate of a peer behind a sequential
	// symmetric NAT was selected.
	MethodPredict = "predict"
)

// Method says what made the Path possible (MethodICE, MethodPortmap).
func (p *Path) Method() string { return p.s.d.route.Load().method }

// Stats returns the Path's counters; RTT is the last consent check's round trip
// (0 before one completed or after the Path died).
func (p *Path) Stats() PathStats {
	d := p.s.d
	st := PathStats{
		PacketsIn: d.pktsIn.Load(), BytesIn: d.bytesIn.Load(),
		PacketsOut: d.pktsOut.Load(), BytesOut: d.bytesOut.Load(),
		SendDrops: d.sendDrops.Load(), InFromOther: d.inOther.Load(),
	}
	select {
	case <-p.s.dead:
	default:
		if p.s.raw != nil {
			st.RTT = p.s.raw.rawRTT()
		} else if ps, ok := p.s.agent.GetSelectedCandidatePairStats(); ok {
			st.RTT = time.Duration(ps.CurrentRoundTripTime * float64(time.Second))
		}
	}
	return st
}

// Done is closed when the Path is dead; Err then says why.
func (p *Path) Done() <-chan struct{} { return p.s.dead }

// Err returns why the Path died (wrapping ErrDisconnected, ErrPeerClosed,
// ErrPeerRestarted or ErrClosed), or nil while it lives.
func (p *Path) Err() error { return p.s.failure() }

// Close closes the Session the Path belongs to (see Session.Close).
func (p *Path) Close() error { return p.s.Close() }
