package relay

import (
	"bytes"
	"slices"
	"sync"

	"github.com/meshnode/meshnode/pkg/identity"
)

// PresenceKind says whether a peer joined or left.
type PresenceKind int

const (
	// PeerJoined: the peer is connected to the rendezvous in our group.
	PeerJoined PresenceKind = iota + 1
	// PeerLeft: the peer left the rendezvous (or is gone since our reconnect).
	PeerLeft
)

func (k PresenceKind) String() string {
	switch k {
	case PeerJoined:
		return "joined"
	case PeerLeft:
		return "left"
	}
	return "unknown"
}

// PresenceEvent is a change of the group's membership as the client sees it.
// Presence carries keys only: names travel between members, sealed.
type PresenceEvent struct {
	Kind PresenceKind
	Key  identity.PublicKey
}

// presence is the client's view of its group. Across reconnects it collects the
// server's initial list until PeersEnd and reports only the difference to what the
// node above already knows, so a rendezvous restart does not flap every peer.
type presence struct {
	self identity.PublicKey

	mu      sync.Mutex
	peers   map[identity.PublicKey]struct{} // as reported to the node above
	pending map[identity.PublicKey]struct{} // initial list being collected; nil once synced
}

func newPresence(self identity.PublicKey) *presence {
	return &presence{self: self, peers: make(map[identity.PublicKey]struct{})}
}

// resync starts collecting a new initial list (a new connection).
func (p *presence) resync() {
	p.mu.Lock()
	p.pending = make(map[identity.PublicKey]struct{})
	p.mu.Unlock()
}

// present records a PeerPresent and returns the events to report.
func (p *presence) present(k identity.PublicKey) []PresenceEvent {
	if k == p.self {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending != nil {
		p.pending[k] = struct{}{}
		return nil
	}
	if _, known := p.peers[k]; known {
		return nil
	}
	p.peers[k] = struct{}{}
	return []PresenceEvent{{Kind: PeerJoined, Key: k}}
}

// gone records a PeerGone and returns the events to report.
func (p *presence) gone(k identity.PublicKey) []PresenceEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending != nil {
		delete(p.pending, k)
		return nil
	}
	if _, known := p.peers[k]; !known {
		return nil
	}
	delete(p.peers, k)
	return []PresenceEvent{{Kind: PeerLeft, Key: k}}
}

// end completes the initial list (PeersEnd) and returns the difference to the
// previous view: departures first, then arrivals, each in key order.
func (p *presence) end() []PresenceEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == nil {
		return nil
	}
	var left, joined []PresenceEvent
	for k := range p.peers {
		if _, ok := p.pending[k]; !ok {
			left = append(left, PresenceEvent{Kind: PeerLeft, Key: k})
		}
	}
	for k := range p.pending {
		if _, ok := p.peers[k]; !ok {
			joined = append(joined, PresenceEvent{Kind: PeerJoined, Key: k})
		}
	}
	p.peers, p.pending = p.pending, nil
	byKey := func(a, b PresenceEvent) int { return bytes.Compare(a.Key[:], b.Key[:]) }
	slices.SortFunc(left, byKey)
	slices.SortFunc(joined, byKey)
	return append(left, joined...)
}

// list returns the current peers in key order.
func (p *presence) list() []identity.PublicKey {
	p.mu.Lock()
	out := make([]identity.PublicKey, 0, len(p.peers))
	for k := range p.peers {
		out = append(out, k)
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b identity.PublicKey) int { return bytes.Compare(a[:], b[:]) })
	return out
}
