package seal

import "github.com/meshnode/meshnode/pkg/identity"

// Cipher performs key agreement and provides the datagram AEAD. It is the
// "Cipher" plugin kind of DESIGN.md: the built-in suites are NoiseChaChaPoly (the
// default) and NoiseAESGCM; out-of-process implementations can satisfy the same
// interface. Only handshakes cross the interface per session; the per-packet work
// is AEAD, which an implementation must provide in-process (an RPC per packet is
// far too slow, see DESIGN.md).
type Cipher interface {
	// Name identifies the suite on the wire (1-64 bytes, e.g.
	// "noise-ikpsk2-chachapoly"); peers must use the same one.
	Name() string
	NewHandshake(cfg HandshakeConfig) (Handshake, error)
}

// HandshakeConfig configures one side of one handshake.
type HandshakeConfig struct {
	Initiator bool
	Local     identity.PrivateKey
	Remote    identity.PublicKey // required for the initiator (IK); the responder learns it
	PSK       [32]byte
}

// Handshake is one key agreement in progress: the initiator writes message 1,
// the responder reads it and writes message 2, the initiator reads message 2.
type Handshake interface {
	// WriteMessage appends the next handshake message, carrying payload
	// encrypted, to out.
	WriteMessage(out, payload []byte) ([]byte, error)
	// ReadMessage authenticates msg and appends its payload to out.
	ReadMessage(out, msg []byte) ([]byte, error)
	// Complete reports whether both messages have been processed.
	Complete() bool
	// Remote is the peer's static key (for the responder: once message 1 was read).
	Remote() identity.PublicKey
	// Keys returns the transport AEADs; only once Complete.
	Keys() (send, recv AEAD, err error)
}

// AEAD seals and opens datagrams with explicit 64-bit counters as nonces. It must
// be safe for concurrent use and should not allocate.
type AEAD interface {
	// Seal appends the sealed plaintext (ciphertext and tag) to dst.
	Seal(dst []byte, counter uint64, plaintext []byte) []byte
	// Open authenticates ciphertext and appends the plaintext to dst.
	Open(dst []byte, counter uint64, ciphertext []byte) ([]byte, error)
	// Overhead is the tag size; at most 16 (see MaxOverhead).
	Overhead() int
}
