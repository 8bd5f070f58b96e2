// Package identity owns who a node is and which group it belongs to: the node's
// long-term X25519 key pair (stored 0600 in the state dir), the printable node ID
// derived from its public key, and the two values derived from a group's name and
// secret: the GroupID that the rendezvous sees and the pre-shared key that peers mix
// into their end-to-end handshake.
//
// The GroupID is derived from the group name only, not from the secret (DESIGN.md
// suggested both). Two reasons: a node with a wrong secret then meets its group's
// members and both sides can log *why* the handshake failed instead of the node
// silently sitting alone in a different group; and the rendezvous never holds a
// value computed from the secret that it could test guesses against offline. The
// secret reaches the handshake only, as the Noise PSK.
package identity
