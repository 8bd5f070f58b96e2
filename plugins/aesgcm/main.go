// Command meshnode-cipher-aesgcm is a reference cipher plugin: the suite
// Noise_IKpsk2_25519_AESGCM_SHA512 ("noise-ikpsk2-aesgcm-sha512"), different
// from both built-in suites (which hash with BLAKE2s), with AES-256-GCM
// datagrams. The node launches it from its plugin directory
// (`meshnode up --cipher aesgcm --plugin-dir DIR`); started by hand it
// explains itself and exits.
package main

import (
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

// NewHandshake runs Noise IKpsk2 with this suite. The prologue binds every
// handshake to the suite name, as the built-ins do.
func (cipher) NewHandshake(req plugin.HandshakeRequest) (plugin.ServerHandshake, error) {
	cs := noise.NewCipherSuite(noise.DH25519, noise.CipherAESGCM, noise.HashSHA512)
	return plugin.NoiseIK(req, cs, "meshnode/seal v1 "+suite, seal.AEADAESGCM)
}
