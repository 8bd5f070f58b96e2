package identity

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/curve25519"
)

// KeySize is the size of public and private keys in bytes.
const KeySize = 32

// PublicKey is a node's X25519 public key. Its String form is the node ID.
type PublicKey [KeySize]byte

// PrivateKey is a node's X25519 private key. It never appears in logs: its String
// method prints a redaction marker.
type PrivateKey [KeySize]byte

// b32 is the lowercase, unpadded base32 alphabet used for node IDs: it is case-safe
// in shells, file names and DNS labels.
var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// IDLen is the length of a node ID string (base32 of a 32-byte key).
const IDLen = 52

// ShortLen is the length of the abbreviated node ID used in logs and tables.
const ShortLen = 10

// String returns the node ID: the public key in lowercase unpadded base32.
func (k PublicKey) String() string { return b32.EncodeToString(k[:]) }

// Short returns the first ShortLen characters of the node ID, for logs.
func (k PublicKey) Short() string { return k.String()[:ShortLen] }

// IsZero reports whether k is the all-zero key (unset).
func (k PublicKey) IsZero() bool { return k == PublicKey{} }

// MarshalText implements encoding.TextMarshaler (the node ID).
func (k PublicKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *PublicKey) UnmarshalText(b []byte) error {
	p, err := ParsePublicKey(string(b))
	if err != nil {
		return err
	}
	*k = p
	return nil
}

// ParsePublicKey parses a full node ID.
func ParsePublicKey(s string) (PublicKey, error) {
	var k PublicKey
	if len(s) != IDLen {
		return k, fmt.Errorf("node ID %q: want %d base32 characters, got %d", s, IDLen, len(s))
	}
	b, err := b32.DecodeString(strings.ToLower(s))
	if err != nil || len(b) != KeySize {
		return k, fmt.Errorf("node ID %q: not base32 (a-z, 2-7)", s)
	}
	copy(k[:], b)
	return k, nil
}

// String redacts the key so that a stray log call cannot leak it.
func (k PrivateKey) String() string { return "[private key]" }

// GoString redacts the key for %#v as well.
func (k PrivateKey) GoString() string { return "identity.PrivateKey{[redacted]}" }

// GeneratePrivateKey returns a new random, clamped X25519 private key.
func GeneratePrivateKey() (PrivateKey, error) {
	var k PrivateKey
	if _, err := rand.Read(k[:]); err != nil {
		return k, fmt.Errorf("generate key: %w", err)
	}
	k.clamp()
	return k, nil
}

func (k *PrivateKey) clamp() {
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
}

// IsZero reports whether k is unset.
func (k PrivateKey) IsZero() bool { return k == PrivateKey{} }

// Public returns the public key of k.
func (k PrivateKey) Public() PublicKey {
	var p PublicKey
	pub, err := curve25519.X25519(k[:], curve25519.Basepoint)
	if err != nil {
		// X25519 with the base point cannot produce the all-zero output.
		panic("identity: X25519 with base point failed: " + err.Error())
	}
	copy(p[:], pub)
	return p
}

// ErrLowOrderPoint is returned by SharedSecret for a peer key that would give an
// all-zero shared secret (a malicious or corrupted key).
var ErrLowOrderPoint = errors.New("peer public key is a low-order point")

// SharedSecret returns the X25519 Diffie-Hellman value of k and peer.
func (k PrivateKey) SharedSecret(peer PublicKey) ([KeySize]byte, error) {
	var out [KeySize]byte
	s, err := curve25519.X25519(k[:], peer[:])
	if err != nil {
		return out, ErrLowOrderPoint
	}
	copy(out[:], s)
	return out, nil
}

// marshalPrivate encodes a private key the way WireGuard does: base64 on one line.
func marshalPrivate(k PrivateKey) []byte {
	return []byte(base64.StdEncoding.EncodeToString(k[:]) + "\n")
}

func parsePrivate(b []byte) (PrivateKey, error) {
	var k PrivateKey
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return k, errors.New("not base64")
	}
	if len(raw) != KeySize {
		return k, fmt.Errorf("want %d bytes, got %d", KeySize, len(raw))
	}
	copy(k[:], raw)
	if k.IsZero() {
		return k, errors.New("all-zero key")
	}
	k.clamp()
	return k, nil
}

// Less orders keys bytewise; peers use it to agree on roles without talking.
func (k PublicKey) Less(o PublicKey) bool {
	for i := range k {
		if k[i] != o[i] {
			return k[i] < o[i]
		}
	}
	return false
}
