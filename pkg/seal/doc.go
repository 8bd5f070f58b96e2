// Package seal owns the end-to-end link cryptography between this node and one
// remote node of its group: the Cipher seam (key agreement and datagram AEAD; the
// "Cipher" plugin kind of DESIGN.md), the two built-in Noise suites, and Channel,
// a WireGuard-style secure channel: handshakes, sessions, rekeying, replay
// protection and the packet format. The route below (a TCP relay that forwards
// opaque payloads, or a direct UDP path) may drop, duplicate and reorder packets,
// and whoever runs the relay can read, replay and forge them; none of that lets
// anything through that the peer did not send exactly once. The reliable layer
// above (KCP) retransmits what is dropped.
//
// Protocol choices:
//
//   - Noise IKpsk2 (as WireGuard): the initiator knows the responder's static key
//     (its node ID); the group PSK is mixed in at the end of the response. The
//     responder can therefore read an initiation from a node with the wrong
//     secret, and the initiator then fails to authenticate the response: that is
//     how both sides learn that the secrets differ (the initiator sends a reject
//     notice that the responder reports too).
//   - Handshake packets also carry a 16-byte mac keyed from the static-static DH
//     (no PSK involved; see packet.go). It authenticates the clear fields (indices,
//     suite name) and the reject notices, so the relay cannot forge a failure
//     report, and a Noise failure after a good mac can be blamed on the secret.
//   - The suite name travels in clear in the initiation, so peers with different
//     suites are told so by name instead of a bare decryption failure.
//   - Suite fallback (ChannelConfig.Accept, Decline; AutoSuites): a channel
//     initiates in one suite and may answer others. A refusal names the
//     refuser's suite; when that is one we accept, we initiate in it from then
//     on, at once and without reporting a failure. The refusal carries the
//     static-static mac, so only the peer can make us fall back. "auto" nodes
//     thus use AES-GCM where both CPUs have AES instructions and ChaCha20-
//     Poly1305 otherwise; each session records the suite it was made with.
//   - Data packets carry an explicit 64-bit counter, used as the AEAD nonce,
//     because datagrams arrive out of order; a sliding window of 8128 counters per
//     session rejects replays, and a counter is marked seen only after its packet
//     authenticated.
//   - Initiations carry a TAI64N timestamp; one not newer than the last accepted
//     from the peer is ignored, so a replayed initiation cannot reset a session.
//     (As in WireGuard, a node whose wall clock went back across a restart is
//     ignored until its clock passes its previous handshake.)
//   - The first byte of every packet has its top bit set (types 0x81-0x84). STUN
//     messages start with two zero bits, so when ICE shares the socket no packet
//     of ours can be mistaken for STUN.
//
// Sessions: each handshake yields a session named by a random 32-bit index per
// side. A channel keeps at most three (WireGuard's current, previous and next)
// plus one pending handshake of its own. The initiator's session is current as
// soon as the response arrives (it sends a keepalive at once); the responder's
// becomes current when the first packet on it arrives. Data on any live session
// is accepted, so a rekey drops nothing in flight. Unlike WireGuard, which slot
// to free is decided by use, not by role (see sessionTable.with): after both
// sides initiated at once, each side may send on a different handshake's session,
// and WireGuard's fixed roles would then drop one that the peer still sends on at
// the next rekey.
//
// A packet for an unknown session (we restarted; the peer still uses an old
// session) starts a handshake, at most once per RetryInterval, so the peer gets a
// fresh session within a round trip.
//
// Hot path: Seal reads the current session through an atomic pointer, takes its
// counter with an atomic add and seals into a pooled buffer: no lock and no
// allocation. Receive of data takes only the session's replay-window lock.
package seal
