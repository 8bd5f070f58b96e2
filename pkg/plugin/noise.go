package plugin

import (
	"crypto/ecdh"
	"errors"
	"fmt"

	"github.com/flynn/noise"
)

// NoiseIK is a ServerHandshake for cipher plugins built on Noise: pattern
// IKpsk2 (what the node's built-in suites run) with the plugin's cipher suite
// and prologue; Keys answers with the given datagram AEAD
// (seal.AEADChaChaPoly or seal.AEADAESGCM). Plugins with another handshake
// implement ServerHandshake themselves.
func NoiseIK(req HandshakeRequest, cs noise.CipherSuite, prologue, aead string) (ServerHandshake, error) {
	if req.Local == ([32]byte{}) {
		return nil, errors.New("no local key")
	}
	if req.Initiator && req.Remote == ([32]byte{}) {
		return nil, errors.New("the initiator needs the remote static key")
	}
	priv, err := ecdh.X25519().NewPrivateKey(req.Local[:])
	if err != nil {
		return nil, fmt.Errorf("local key: %w", err)
	}
	cfg := noise.Config{
		CipherSuite:           cs,
		Pattern:               noise.HandshakeIK,
		Initiator:             req.Initiator,
		Prologue:              []byte(prologue),
		StaticKeypair:         noise.DHKey{Private: req.Local[:], Public: priv.PublicKey().Bytes()},
		PresharedKey:          req.PSK[:],
		PresharedKeyPlacement: 2,
	}
	if req.Initiator {
		cfg.PeerStatic = req.Remote[:]
	}
	hs, err := noise.NewHandshakeState(cfg)
	if err != nil {
		return nil, err
	}
	return &noiseIK{hs: hs, initiator: req.Initiator, aead: aead}, nil
}

type noiseIK struct {
	hs         *noise.HandshakeState
	initiator  bool
	aead       string
	send, recv *noise.CipherState
}

func (h *noiseIK) WriteMessage(payload []byte) ([]byte, error) {
	msg, c1, c2, err := h.hs.WriteMessage(nil, payload)
	if err != nil {
		return nil, err
	}
	h.split(c1, c2)
	return msg, nil
}

func (h *noiseIK) ReadMessage(msg []byte) ([]byte, error) {
	p, c1, c2, err := h.hs.ReadMessage(nil, msg)
	if err != nil {
		return nil, err
	}
	h.split(c1, c2)
	return p, nil
}

// split records the transport keys: c1 encrypts initiator -> responder.
func (h *noiseIK) split(c1, c2 *noise.CipherState) {
	if c1 == nil {
		return
	}
	if h.initiator {
		h.send, h.recv = c1, c2
	} else {
		h.send, h.recv = c2, c1
	}
}

func (h *noiseIK) Complete() bool { return h.send != nil }

func (h *noiseIK) Remote() [32]byte {
	var k [32]byte
	copy(k[:], h.hs.PeerStatic())
	return k
}

func (h *noiseIK) Keys() (KeysReply, error) {
	if !h.Complete() {
		return KeysReply{}, errors.New("handshake not complete")
	}
	return KeysReply{AEAD: h.aead, Send: h.send.UnsafeKey(), Recv: h.recv.UnsafeKey()}, nil
}
