package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/flynn/noise"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/sys/cpu"

	"github.com/meshnode/meshnode/pkg/identity"
)

// Built-in suite names, as carried in handshake initiations.
const (
	SuiteChaChaPoly = "noise-ikpsk2-chachapoly"
	SuiteAESGCM     = "noise-ikpsk2-aesgcm"
)

// prologue binds every handshake to this protocol, its version and the suite.
const prologue = "meshnode/seal v1 "

// NoiseChaChaPoly is the default suite: Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s
// (WireGuard's choice; fast everywhere, constant time without AES instructions).
func NoiseChaChaPoly() Cipher {
	return noiseSuite{
		name:    SuiteChaChaPoly,
		cs:      noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashBLAKE2s),
		newAEAD: newChaChaPoly,
	}
}

// NoiseAESGCM is Noise_IKpsk2_25519_AESGCM_BLAKE2s, for CPUs with AES instructions.
func NoiseAESGCM() Cipher {
	return noiseSuite{
		name:    SuiteAESGCM,
		cs:      noise.NewCipherSuite(noise.DH25519, noise.CipherAESGCM, noise.HashBLAKE2s),
		newAEAD: newAESGCM,
	}
}

type noiseSuite struct {
	name    string
	cs      noise.CipherSuite
	newAEAD func(key [32]byte) (AEAD, error)
}

func (s noiseSuite) Name() string { return s.name }

func (s noiseSuite) NewHandshake(cfg HandshakeConfig) (Handshake, error) {
	if cfg.Local.IsZero() {
		return nil, errors.New("noise handshake: no local key")
	}
	if cfg.Initiator && cfg.Remote.IsZero() {
		return nil, errors.New("noise handshake: the initiator needs the remote static key")
	}
	pub := cfg.Local.Public()
	nc := noise.Config{
		CipherSuite:           s.cs,
		Pattern:               noise.HandshakeIK,
		Initiator:             cfg.Initiator,
		Prologue:              []byte(prologue + s.name),
		StaticKeypair:         noise.DHKey{Private: append([]byte(nil), cfg.Local[:]...), Public: pub[:]},
		PresharedKey:          cfg.PSK[:],
		PresharedKeyPlacement: 2,
	}
	if cfg.Initiator {
		nc.PeerStatic = append([]byte(nil), cfg.Remote[:]...)
	}
	hs, err := noise.NewHandshakeState(nc)
	if err != nil {
		return nil, fmt.Errorf("noise handshake: %w", err)
	}
	return &noiseHandshake{suite: s, hs: hs, initiator: cfg.Initiator}, nil
}

// noiseHandshake adapts a flynn/noise HandshakeState to Handshake.
type noiseHandshake struct {
	suite      noiseSuite
	hs         *noise.HandshakeState
	initiator  bool
	send, recv *noise.CipherState
}

func (h *noiseHandshake) WriteMessage(out, payload []byte) ([]byte, error) {
	msg, c1, c2, err := h.hs.WriteMessage(out, payload)
	if err != nil {
		return nil, err
	}
	h.split(c1, c2)
	return msg, nil
}

func (h *noiseHandshake) ReadMessage(out, msg []byte) ([]byte, error) {
	p, c1, c2, err := h.hs.ReadMessage(out, msg)
	if err != nil {
		return nil, err
	}
	h.split(c1, c2)
	return p, nil
}

// split records the transport keys: c1 encrypts initiator->responder.
func (h *noiseHandshake) split(c1, c2 *noise.CipherState) {
	if c1 == nil {
		return
	}
	if h.initiator {
		h.send, h.recv = c1, c2
	} else {
		h.send, h.recv = c2, c1
	}
}

func (h *noiseHandshake) Complete() bool { return h.send != nil }

func (h *noiseHandshake) Remote() identity.PublicKey {
	var k identity.PublicKey
	copy(k[:], h.hs.PeerStatic())
	return k
}

// Keys builds the transport AEADs from the split keys. It uses the Noise nonce
// encoding (4 zero bytes, then the counter: little-endian for ChaChaPoly,
// big-endian for AESGCM), so it interoperates with any Noise implementation; it
// does not use flynn/noise's Cipher, whose Encrypt allocates a nonce per call.
func (h *noiseHandshake) Keys() (AEAD, AEAD, error) {
	if !h.Complete() {
		return nil, nil, errors.New("noise handshake: not complete")
	}
	send, err := h.suite.newAEAD(h.send.UnsafeKey())
	if err != nil {
		return nil, nil, err
	}
	recv, err := h.suite.newAEAD(h.recv.UnsafeKey())
	if err != nil {
		return nil, nil, err
	}
	return send, recv, nil
}

// stdAEAD is a cipher.AEAD with Noise nonces. The nonce buffer comes from a pool:
// a stack array passed through the cipher.AEAD interface would escape to the heap
// on every call.
type stdAEAD struct {
	aead      cipher.AEAD
	bigEndian bool
	nonces    sync.Pool // *[12]byte
}

func newChaChaPoly(key [32]byte) (AEAD, error) {
	a, err := chacha20poly1305.New(key[:])
	if err != nil {
		return nil, fmt.Errorf("chacha20poly1305: %w", err)
	}
	return newStdAEAD(a, false), nil
}

func newAESGCM(key [32]byte) (AEAD, error) {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("aes-gcm: %w", err)
	}
	return newStdAEAD(a, true), nil
}

func newStdAEAD(a cipher.AEAD, bigEndian bool) *stdAEAD {
	s := &stdAEAD{aead: a, bigEndian: bigEndian}
	s.nonces.New = func() any { return new([12]byte) }
	return s
}

func (a *stdAEAD) nonce(n uint64) *[12]byte {
	p := a.nonces.Get().(*[12]byte)
	if a.bigEndian {
		binary.BigEndian.PutUint64(p[4:], n)
	} else {
		binary.LittleEndian.PutUint64(p[4:], n)
	}
	return p
}

func (a *stdAEAD) Seal(dst []byte, n uint64, plaintext []byte) []byte {
	p := a.nonce(n)
	out := a.aead.Seal(dst, p[:], plaintext, nil)
	a.nonces.Put(p)
	return out
}

func (a *stdAEAD) Open(dst []byte, n uint64, ciphertext []byte) ([]byte, error) {
	p := a.nonce(n)
	out, err := a.aead.Open(dst, p[:], ciphertext, nil)
	a.nonces.Put(p)
	return out, err
}

func (a *stdAEAD) Overhead() int { return a.aead.Overhead() }

// AEAD names for NewAEAD: the datagram AEADs a Cipher implementation outside
// this package (a plugin) may ask for.
const (
	AEADChaChaPoly = "chacha20poly1305" // Noise nonces: 4 zero bytes, counter little-endian
	AEADAESGCM     = "aes-256-gcm"      // Noise nonces: 4 zero bytes, counter big-endian
)

// NewAEAD returns the named datagram AEAD keyed with key. Out-of-process ciphers
// agree on keys and name one of these, so the per-packet work stays in-process.
func NewAEAD(name string, key [32]byte) (AEAD, error) {
	switch name {
	case AEADChaChaPoly:
		return newChaChaPoly(key)
	case AEADAESGCM:
		return newAESGCM(key)
	}
	return nil, fmt.Errorf("unknown AEAD %q (want %s or %s)", name, AEADChaChaPoly, AEADAESGCM)
}

// AESHardware reports whether this CPU has the instructions that make AES-GCM
// fast and constant time (AES and carry-less multiply: AES-NI+PCLMULQDQ on
// x86-64, the ARMv8 crypto extensions, s390x's CPACF): Go's crypto/tls asks the
// same question to order its cipher suites. Without them (a Raspberry Pi 4,
// older ARM boards) ChaCha20-Poly1305 is several times faster.
func AESHardware() bool {
	switch {
	case cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ:
		return true
	case cpu.ARM64.HasAES && cpu.ARM64.HasPMULL:
		return true
	case cpu.S390X.HasAES && cpu.S390X.HasAESGCM:
		return true
	}
	return false
}

// AutoSuites is the built-in "auto" choice for a node: with AES hardware it
// initiates with NoiseAESGCM and also answers NoiseChaChaPoly; without, it
// speaks NoiseChaChaPoly only. A peer that refuses AES-GCM names its own suite,
// and the channel falls back to ChaChaPoly (ChannelConfig.Accept), so "auto"
// nodes reach each other with AES-GCM where both ends have the instructions,
// and ChaCha20-Poly1305 where either lacks them or is set to chacha20poly1305.
// Without AES hardware it declines AES-GCM initiations (ChannelConfig.Decline):
// an "auto" peer falls back without either side reporting a failure.
func AutoSuites() (prefer Cipher, accept []Cipher, decline []string) {
	return autoSuites(AESHardware())
}

func autoSuites(aes bool) (Cipher, []Cipher, []string) {
	if aes {
		return NoiseAESGCM(), []Cipher{NoiseChaChaPoly()}, nil
	}
	return NoiseChaChaPoly(), nil, []string{SuiteAESGCM}
}
