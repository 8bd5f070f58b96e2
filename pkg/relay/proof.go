package relay

import (
	"crypto/subtle"
	"fmt"
	"hash"

	"golang.org/x/crypto/blake2s"

	"github.com/meshnode/meshnode/pkg/identity"
)

// The three proofs of a ClientHello (layouts in proto.go). Each covers the server's
// fresh challenge, so none is worth anything on another connection.

// computeProof returns the node proof for dh = X25519(node key, server ephemeral
// key).
func computeProof(dh [identity.KeySize]byte, challenge *[challengeLen]byte, h *clientHello) [proofLen]byte {
	mac := newMAC(dh[:])
	mac.Write([]byte(proofDomain))
	mac.Write(challenge[:])
	mac.Write(h.key[:])
	mac.Write(h.instance[:])
	mac.Write(h.group[:])
	mac.Write(h.groupKey[:])
	return sum(mac)
}

// admissionMessage is what the group signature signs.
func admissionMessage(challenge *[challengeLen]byte, node *identity.PublicKey, group *identity.GroupID) []byte {
	m := make([]byte, 0, len(admissionDomain)+challengeLen+keyLen+keyLen)
	m = append(m, admissionDomain...)
	m = append(m, challenge[:]...)
	m = append(m, node[:]...)
	return append(m, group[:]...)
}

// computeAuthProof returns the auth proof made with an auth key's secret.
func computeAuthProof(secret *[AuthKeySize]byte, challenge *[challengeLen]byte, h *clientHello) [proofLen]byte {
	mac := newMAC(secret[:])
	mac.Write([]byte(authDomain))
	mac.Write(challenge[:])
	mac.Write(h.key[:])
	mac.Write(h.group[:])
	mac.Write(h.groupKey[:])
	mac.Write(h.authID[:])
	return sum(mac)
}

func newMAC(key []byte) hash.Hash {
	mac, err := blake2s.New256(key)
	if err != nil {
		panic(fmt.Sprintf("relay: blake2s with a %d-byte key: %v", len(key), err)) // cannot happen
	}
	return mac
}

func sum(mac hash.Hash) [proofLen]byte {
	var p [proofLen]byte
	mac.Sum(p[:0])
	return p
}

// proofsEqual compares proofs in constant time.
func proofsEqual(a, b *[proofLen]byte) bool {
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
