package api

import "time"

// LinkState is the state of the link to a peer, as PeerInfo.State shows it.
type LinkState string

// Every state a link can show.
const (
	// LinkStateUp: a session is up and its route can carry packets.
	LinkStateUp LinkState = "up"
	// LinkStateConnecting: no session yet (the handshake is running).
	LinkStateConnecting LinkState = "connecting"
	// LinkStateFailed: the last handshake failed (PeerInfo.Error says why).
	LinkStateFailed LinkState = "failed"
	// LinkStateDownRendezvous: the session is up but its route is the relay,
	// and this node is not connected to the rendezvous: nothing can move.
	LinkStateDownRendezvous LinkState = "down (rendezvous unreachable)"
	// LinkStateDownPeerAway: the session is up but its route is the relay,
	// and the peer is not connected to the rendezvous (it died or lost its
	// connection): nothing can move until it is back.
	LinkStateDownPeerAway LinkState = "down (peer not at the rendezvous)"
)

// Path is the route a link's packets take.
type Path string

// The paths a link can take.
const (
	// PathRelay: through the rendezvous.
	PathRelay Path = "relay"
	// PathDirect: an ICE-selected UDP path between the two nodes.
	PathDirect Path = "direct"
)

// PeerInfo describes a peer for `meshnode peers` and status.
type PeerInfo struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Present   bool      `json:"present"`
	State     LinkState `json:"state"`
	Path      Path      `json:"path"`
	Method    string    `json:"method,omitempty"` // on a direct path, what found it: ice, portmap, predict, lockstep, birthday
	Suite     string    `json:"suite,omitempty"`  // the link's cipher suite (its current session's), once up
	RTTMillis int       `json:"rtt_ms"`
	Since     time.Time `json:"since,omitempty"`
	BytesIn   uint64    `json:"bytes_in"`
	BytesOut  uint64    `json:"bytes_out"`
	Streams   int       `json:"streams"`
	Endpoint  string    `json:"endpoint,omitempty"`       // the peer's address and candidate type on a direct path
	Local     string    `json:"local_endpoint,omitempty"` // ours
	PathSince time.Time `json:"path_since,omitempty"`
	Why       string    `json:"why,omitempty"` // why the link is relayed
	ICETries  int       `json:"ice_tries"`     // ICE attempts that ended (failed, or a path that died)
	LastSeen  time.Time `json:"last_seen,omitempty"`
	Member    string    `json:"member"` // memberlist's view: alive, suspect, dead, left, or "-" (not a member)
	Error     string    `json:"error,omitempty"`
}
