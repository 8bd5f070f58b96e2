package plugin

import (
	goplugin "github.com/hashicorp/go-plugin"
)

// ProtocolVersion is the plugin contract's version. A plugin built for another
// version is refused at launch with an error naming both.
const ProtocolVersion = 1

// Kinds of plugins, also the go-plugin plugin names and the binary prefixes:
// a cipher plugin NAME is the executable meshnode-cipher-NAME in the plugin
// directory, a transport plugin meshnode-transport-NAME.
const (
	KindCipher    = "cipher"
	KindTransport = "transport"
)

// Binary returns the executable name of plugin name of kind.
func Binary(kind, name string) string { return "meshnode-" + kind + "-" + name }

// HandshakeConfig is go-plugin's handshake for meshnode plugins: a plugin
// started by hand (not by a node) explains itself and exits.
func HandshakeConfig() goplugin.HandshakeConfig {
	return goplugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   "MESHNODE_PLUGIN",
		MagicCookieValue: "8d1c3f0e6b2a4c57a9e4f2d1b0c3a5e7",
	}
}

// Info describes a running plugin (its answer to the Info call).
type Info struct {
	Name    string `json:"name"`            // the plugin's name (NAME in meshnode-KIND-NAME)
	Version string `json:"version"`         // the plugin's own version
	Suite   string `json:"suite,omitempty"` // ciphers: the suite name carried in handshakes
}

// Cipher messages.

// HandshakeRequest starts one handshake in a cipher plugin.
type HandshakeRequest struct {
	Initiator bool     `json:"initiator"`
	Local     [32]byte `json:"local"`  // our static private key
	Remote    [32]byte `json:"remote"` // the peer's static public key (initiator)
	PSK       [32]byte `json:"psk"`
}

// HandshakeID names a handshake inside a plugin.
type HandshakeID struct {
	ID uint64 `json:"id"`
}

// MessageRequest writes or reads one handshake message.
type MessageRequest struct {
	ID   uint64 `json:"id"`
	Data []byte `json:"data"` // payload to write, or the message to read
}

// MessageReply is the written message or the read payload, and the state.
type MessageReply struct {
	Data     []byte   `json:"data"`
	Complete bool     `json:"complete"`
	Remote   [32]byte `json:"remote"` // the peer's static key, once known
}

// KeysReply carries a completed handshake's transport keys and the datagram
// AEAD (seal.AEADChaChaPoly or seal.AEADAESGCM) the node runs with them. The
// handshake is forgotten by the plugin once its keys are taken.
type KeysReply struct {
	AEAD string   `json:"aead"`
	Send [32]byte `json:"send"`
	Recv [32]byte `json:"recv"`
}

// Transport messages.

// DialRequest asks a transport plugin to connect to the rendezvous at Addr
// (as given to `meshnode up --rendezvous`).
type DialRequest struct {
	Addr      string `json:"addr"`
	TimeoutMS int    `json:"timeout_ms"`
}

// DialReply names the unix socket the plugin listens on for exactly one
// connection, which it then joins to the connection it dialed.
type DialReply struct {
	Socket string `json:"socket"`
}
