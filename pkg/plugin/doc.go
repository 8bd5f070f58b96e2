// Package plugin owns meshnode's plugin contract and the node's side of it:
// out-of-process Cipher and Transport implementations run as
// hashicorp/go-plugin processes speaking gRPC, and this package turns them back
// into the seal.Cipher and transport.Transport interfaces the node uses for
// its built-ins.
//
// The contract (version ProtocolVersion; see plugins/README.md) keeps every
// per-packet byte out of RPC, as measured in ../shared/FACTS.md (an RPC per
// buffer runs at ~0.07x of in-process):
//
//   - Cipher: the plugin runs the key agreement (one RPC per handshake
//     message) and hands back the transport keys with the name of a datagram
//     AEAD the node runs in-process (seal.NewAEAD). A plugin chooses its
//     handshake, suite name, hash and AEAD; the node never sees its code.
//   - Transport: the plugin dials the rendezvous its own way and hands the
//     byte stream over on a one-shot unix socket in a private directory; the
//     node's relay protocol runs over that socket unchanged. Only the dial is
//     an RPC.
//
// Manager launches plugins from a directory, checks the handshake and
// version, health-checks them, restarts a crashed or hung plugin with backoff
// and reports each of these as one log line and in Status. Serve* are what a
// plugin's main calls.
package plugin
