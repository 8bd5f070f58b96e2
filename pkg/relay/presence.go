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
type PresenceEvent struct {
	Kind PresenceKind
	Key  identity.PublicKey
	Name string
}

// Peer is a member of our group present at the rendezvous.
type Peer struct {
	Key  identity.PublicKey
	Name string
}

// presence is the client's view of its group. Across reconnects it collects the
// server's initial list until PeersEnd and reports only the difference to what the
// node above already knows, so a rendezvous restart does not flap every peer.
type presence struct {
	self identity.PublicKey

	mu      sync.Mutex
	peers   map[identity.PublicKey]string // as reported to the node above
	pending map[identity.PublicKey]string // initial list being collected; nil once synced
}

func newPresence(self identity.PublicKey) *presence {
	return &presence{self: self, peers: make(map[identity.PublicKey]string)}
}

// resync starts collecting a new initial list (a new connection).
func (p *presence) resync() {
	p.mu.Lock()
	p.pending = make(map[identity.PublicKey]string)
	p.mu.Unlock()
}

// syncing reports whether the initial list is still being collected.
func (p *presence) syncing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pending != nil
}

// present records a PeerPresent and returns the events to report.
func (p *presence) present(k identity.PublicKey, name string) []PresenceEvent {
	if k == p.self {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending != nil {
		p.pending[k] = name
		return nil
	}
	_, known := p.peers[k]
	p.peers[k] = name // a known peer's new name is recorded silently
	if known {
		return nil
	}
	return []PresenceEvent{{Kind: PeerJoined, Key: k, Name: name}}
}

// gone records a PeerGone and returns the events to report.
func (p *presence) gone(k identity.PublicKey) []PresenceEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending != nil {
		delete(p.pending, k)
		return nil
	}
	name, known := p.peers[k]
	if !known {
		return nil
	}
	delete(p.peers, k)
	return []PresenceEvent{{Kind: PeerLeft, Key: k, Name: name}}
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
	for k, name := range p.peers {
		if _, ok := p.pending[k]; !ok {
			left = append(left, PresenceEvent{Kind: PeerLeft, Key: k, Name: name})
		}
	}
	for k, name := range p.pending {
		if _, ok := p.peers[k]; !ok {
			joined = append(joined, PresenceEvent{Kind: PeerJoined, Key: k, Name: name})
		}
	}
	p.peers, p.pending = p.pending, nil
	byKey := func(a, b PresenceEvent) int { return bytes.Compare(a.Key[:], b.Key[:]) }
	slices.SortFunc(left, byKey)
	slices.SortFunc(joined, byKey)
	return append(left, joined...)
}

// list returns the current peers in key order.
func (p *presence) list() []Peer {
	p.mu.Lock()
	out := make([]Peer, 0, len(p.peers))
	for k, name := range p.peers {
		out = append(out, Peer{Key: k, Name: name})
	}
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b Peer) int { return bytes.Compare(a.Key[:], b.Key[:]) })
	return out
}
