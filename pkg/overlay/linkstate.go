package overlay

// Link states, as PeerInfo.State shows them. They are strings for now (typed
// link and path states come later); every state a link can show is here.
const (
	// LinkStateUp: a session is up and its route can carry packets.
	LinkStateUp = "up"
	// LinkStateConnecting: no session yet (the handshake is running).
	LinkStateConnecting = "connecting"
	// LinkStateFailed: the last handshake failed (PeerInfo.Error says why).
	LinkStateFailed = "failed"
	// LinkStateDownRendezvous: the session is up but its route is the relay,
	// and this node is not connected to the rendezvous: nothing can move.
	LinkStateDownRendezvous = "down (rendezvous unreachable)"
	// LinkStateDownPeerAway: the session is up but its route is the relay,
	// and the peer is not connected to the rendezvous (it died or lost its
	// connection): nothing can move until it is back.
	LinkStateDownPeerAway = "down (peer not at the rendezvous)"
)
