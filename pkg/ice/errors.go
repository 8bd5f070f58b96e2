package ice

import "errors"

// Errors of this package. Returned errors wrap one of these with details; test
// with errors.Is.
var (
	// ErrBadSignal: HandleSignal got a malformed message (it changed nothing).
	ErrBadSignal = errors.New("malformed ICE signaling message")
	// ErrRoleConflict: the peer's offer claims the same role as ours; both sides
	// must agree on who is controlling.
	ErrRoleConflict = errors.New("both sides claim the same ICE role")
	// ErrPeerRestarted: a message came from a newer attempt of the peer than the
	// one this Session talks to. Close this Session, start a new one and hand it
	// the same message.
	ErrPeerRestarted = errors.New("the peer started a new ICE attempt")
	// ErrPeerClosed: the peer closed its Session (it said bye).
	ErrPeerClosed = errors.New("the peer closed its ICE session")
	// ErrNoAnswer: no signaling message from the peer within the connect timeout.
	ErrNoAnswer = errors.New("no answer from the peer")
	// ErrNoPath: the peer answered, but no candidate pair worked in time.
	ErrNoPath = errors.New("no direct path found")
	// ErrNoCandidates: gathering found no usable local address.
	ErrNoCandidates = errors.New("no local ICE candidates")
	// ErrDisconnected: the selected pair stopped answering consent checks.
	ErrDisconnected = errors.New("direct path lost")
	// ErrClosed: the Session was closed by its owner.
	ErrClosed = errors.New("ICE session closed")
	// ErrDropped: Path.Send dropped a datagram (a full socket buffer, a local
	// firewall, no route...): transient packet loss, not a dead path.
	ErrDropped = errors.New("datagram dropped")
	// ErrNotSendable: Path.Send refused a datagram that is too large or that the
	// peer would take for STUN.
	ErrNotSendable = errors.New("datagram cannot be sent on an ICE path")
)
