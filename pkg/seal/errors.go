package seal

import "errors"

// Errors a Channel reports. Match them with errors.Is; the wrapping error names the
// peer and the detail.
var (
	// ErrNoSession: no usable session yet; Seal started a handshake and the caller
	// drops the datagram (the reliable layer above retransmits).
	ErrNoSession = errors.New("no session with the peer")
	// ErrSecretMismatch: the peers derive different PSKs (group secrets differ).
	ErrSecretMismatch = errors.New("group secret differs")
	// ErrPeerKeyMismatch: the peer's static key is not the one this side expects,
	// or the peer does not expect ours.
	ErrPeerKeyMismatch = errors.New("peer key mismatch")
	// ErrSuiteMismatch: the peers use different cipher suites.
	ErrSuiteMismatch = errors.New("cipher suites differ")
	// ErrReplay: a data packet or handshake initiation seen before.
	ErrReplay = errors.New("replayed packet")
	// ErrUnknownSession: a packet for a session index this side does not have.
	ErrUnknownSession = errors.New("unknown session")
	// ErrMalformed: a packet that does not parse or does not authenticate.
	ErrMalformed = errors.New("malformed or unauthentic packet")
	// ErrHandshakeTimeout: no answer to our handshake within GiveUpAfter.
	ErrHandshakeTimeout = errors.New("handshake timed out")
	// ErrClosed: the Channel was closed.
	ErrClosed = errors.New("channel closed")
	// ErrRateLimited: the peer sent more handshakes than we answer per second.
	ErrRateLimited = errors.New("handshake rate limit exceeded")
)
