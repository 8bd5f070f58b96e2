package identity

import (
	"crypto/ed25519"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/blake2s"
)

// Group is what a node derives from its group's name and secret: the values the
// rendezvous sees (ID from the name, Key from name and secret) and the PSK that
// peers mix into their handshake. See the package doc for the trade-offs.
type Group struct {
	Name string
	// ID identifies the group *name* at the rendezvous. It is not secret: anyone
	// who knows the name computes it. The rendezvous uses it only to tell a node
	// that others use the same name with a different secret, and to check the
	// groups an auth key may join.
	ID GroupID
	// Key is the group's admission key: the public half of an Ed25519 key pair
	// derived from name and secret with a memory-hard KDF. The rendezvous keeps
	// one namespace per Key and admits a node to it only with a signature by the
	// private half, so only holders of the secret ever meet the group's members.
	Key GroupKey
	// PSK is mixed into the peers' Noise handshake (IKpsk2).
	PSK [32]byte

	admit ed25519.PrivateKey
}

// GroupKey is a group's public admission key (an Ed25519 public key).
type GroupKey [ed25519.PublicKeySize]byte

// GroupSigSize is the size of an admission signature.
const GroupSigSize = ed25519.SignatureSize

// Short returns a short printable form for logs.
func (k GroupKey) Short() string { return strings.ToLower(gkEnc.EncodeToString(k[:]))[:ShortLen] }

// String returns the full printable form ("gk" and lowercase base32).
func (k GroupKey) String() string { return "gk" + gkEnc.EncodeToString(k[:]) }

var gkEnc = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// The memory-hard KDF that turns a group secret into the group's keys. Each guess
// at a secret costs an attacker who holds the public admission key (the
// rendezvous operator) one Argon2id evaluation: 32 MiB and, measured on this
// project's 2-core test VM, 54 ms of one core (t=3); a Raspberry Pi takes several
// times that. A node pays it once at start. Changing these changes every group's
// keys: they are part of the protocol.
const (
	groupKDFTime    = 3
	groupKDFMemory  = 32 << 10 // KiB
	groupKDFThreads = 1
)

// DeriveGroup checks name and secret and derives the group's values. It takes
// tens of milliseconds and 32 MiB (see the KDF constants); call it once.
func DeriveGroup(name, secret string) (Group, error) {
	if err := ValidateGroupName(name); err != nil {
		return Group{}, err
	}
	if err := ValidateSecret(secret); err != nil {
		return Group{}, err
	}
	secret = strings.TrimSpace(secret) // secret files usually end in a newline
	// The salt binds the keys to the group name: one secret reused for two groups
	// gives unrelated keys, and a guess is tied to one group.
	salt := blake2s.Sum256([]byte("meshnode group salt v2\x00" + name))
	master := argon2.IDKey([]byte(secret), salt[:], groupKDFTime, groupKDFMemory, groupKDFThreads, 32)
	g := Group{Name: name, ID: DeriveGroupID(name)}
	g.PSK = subKey(master, "meshnode group psk v2")
	seed := subKey(master, "meshnode group admission v2")
	g.admit = ed25519.NewKeyFromSeed(seed[:])
	copy(g.Key[:], g.admit.Public().(ed25519.PublicKey))
	clear(master)
	clear(seed[:])
	return g, nil
}

// subKey derives a 32-byte key for one purpose from master.
func subKey(master []byte, purpose string) [32]byte {
	h, err := blake2s.New256(master)
	if err != nil {
		panic(fmt.Sprintf("identity: blake2s with a %d-byte key: %v", len(master), err)) // cannot happen
	}
	h.Write([]byte(purpose))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// CanSign reports whether g holds the private admission key (it was derived, not
// assembled from public parts).
func (g *Group) CanSign() bool { return len(g.admit) == ed25519.PrivateKeySize }

// SignAdmission signs msg with the group's private admission key.
func (g *Group) SignAdmission(msg []byte) ([GroupSigSize]byte, error) {
	var sig [GroupSigSize]byte
	if !g.CanSign() {
		return sig, errors.New("group has no admission key (not derived from a secret)")
	}
	copy(sig[:], ed25519.Sign(g.admit, msg))
	return sig, nil
}

// VerifyAdmission checks a signature made with SignAdmission.
func VerifyAdmission(k GroupKey, msg []byte, sig *[GroupSigSize]byte) bool {
	return ed25519.Verify(k[:], msg, sig[:])
}
