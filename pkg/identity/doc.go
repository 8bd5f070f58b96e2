// Package identity owns who a node is and which group it belongs to: the node's
// long-term X25519 key pair (stored 0600 in the state dir), the printable node ID
// derived from its public key, and the values derived from a group's name and
// secret (DeriveGroup): the GroupID and the admission GroupKey that the
// rendezvous sees, and the pre-shared key that peers mix into their end-to-end
// handshake.
//
// # What the rendezvous learns, and the trade-off chosen
//
// The rendezvous keeps one namespace per GroupKey, the public half of an Ed25519
// key pair derived from name and secret, and admits a node to it only with a
// signature over its fresh challenge. So a node without the secret never meets
// the group's members: it cannot see them, address them, handshake with them or
// fill their link tables, whatever rendezvous key it holds. The private admission
// key never leaves the node; the rendezvous stores nothing.
//
// The price: whoever runs the rendezvous holds a value computed from the secret
// (the GroupKey) and can test guesses at the secret offline. That is why the
// secret goes through Argon2id (32 MiB, t=3: tens of milliseconds per guess on a
// fast core) before anything is derived from it, and why the README asks for 20
// or more random characters: a secret like that cannot be guessed at any price,
// a weak one can. Without admission by the secret (the previous design, where
// the rendezvous grouped nodes by the name alone), any holder of a rendezvous key
// who knew a group's name could join its namespace, learn its members' keys and
// presence and make peers answer handshakes, and each answer was itself a value
// to test secret guesses against offline (IKpsk2 mixes the PSK into the
// response). Admission closes that for everyone but the operator, whom the
// memory-hard KDF slows down.
//
// The GroupID (from the name only) stays: the rendezvous tells a node that
// others use the same group name under a different GroupKey, which is how a
// member whose secret differs learns why it is alone ("N nodes use group
// "home" with a different secret"). It reveals a member count to someone who
// knows the name, nothing more.
//
// Both the PSK and the admission key come from the same Argon2id output, so a
// node pays the KDF once at start.
package identity
