// Command meshnode-cipher-aesgcm is a reference cipher plugin: the suite
// Noise_IKpsk2_25519_AESGCM_SHA512 ("noise-ikpsk2-aesgcm-sha512"), different
// from both built-in suites (which hash with BLAKE2s), with AES-256-GCM
// datagrams. The node launches it from its plugin directory
// (`meshnode up --cipher aesgcm --plugin-dir DIR`); started by hand it
// explains itself and exits.
package main

import (
	"crypto/ecdh"
	"errors"
	"fmt"

	"github.com/flynn/noise"

	"github.com/meshnode/meshnode/pkg/plugin"
	"github.com/meshnode/meshnode/pkg/seal"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const suite = "noise-ikpsk2-aesgcm-sha512"

func main() { plugin.ServeCipher(cipher{}) }

type cipher struct{}

func (cipher) Info() plugin.Info {
	return plugin.Info{Name: "aesgcm", Version: version, Suite: suite}
}

func (cipher) NewHandshake(req plugin.HandshakeRequest) (plugin.ServerHandshake, error) {
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
		CipherSuite:           noise.NewCipherSuite(noise.DH25519, noise.CipherAESGCM, noise.HashSHA512),
		Pattern:               noise.HandshakeIK,
		Initiator:             req.Initiator,
		Prologue:              []byte("meshnode/seal v1 " + suite),
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
	return &handshake{hs: hs, initiator: req.Initiator}, nil
}

type handshake struct {
	hs         *noise.HandshakeState
	initiator  bool
	send, recv *noise.CipherState
}

func (h *handshake) WriteMessage(payload []byte) ([]byte, error) {
	msg, c1, c2, err := h.hs.WriteMessage(nil, payload)
	if err != nil {
		return nil, err
	}
	h.split(c1, c2)
	return msg, nil
}

func (h *handshake) ReadMessage(msg []byte) ([]byte, error) {
	p, c1, c2, err := h.hs.ReadMessage(nil, msg)
	if err != nil {
		return nil, err
	}
	h.split(c1, c2)
	return p, nil
}

// split records the transport keys: c1 encrypts initiator -> responder.
func (h *handshake) split(c1, c2 *noise.CipherState) {
	if c1 == nil {
		return
	}
	if h.initiator {
		h.send, h.recv = c1, c2
	} else {
		h.send, h.recv = c2, c1
	}
}

func (h *handshake) Complete() bool { return h.send != nil }

func (h *handshake) Remote() [32]byte {
	var k [32]byte
	copy(k[:], h.hs.PeerStatic())
	return k
}

func (h *handshake) Keys() (plugin.KeysReply, error) {
	if !h.Complete() {
		return plugin.KeysReply{}, errors.New("handshake not complete")
	}
	return plugin.KeysReply{AEAD: seal.AEADAESGCM, Send: h.send.UnsafeKey(), Recv: h.recv.UnsafeKey()}, nil
}
