package relay

import (
	"crypto/subtle"
	"fmt"

	"golang.org/x/crypto/blake2s"

	"github.com/meshnode/meshnode/pkg/identity"
)

// computeProof returns the handshake proof for dh = X25519(node key, server
// ephemeral key) (see proto.go).
func computeProof(dh [identity.KeySize]byte, challenge *[challengeLen]byte, group *identity.GroupID, key *identity.PublicKey) [proofLen]byte {
	mac, err := blake2s.New256(dh[:])
	if err != nil {
		panic(fmt.Sprintf("relay: blake2s with a 32-byte key: %v", err)) // cannot happen
	}
	mac.Write([]byte(proofDomain))
	mac.Write(challenge[:])
	mac.Write(group[:])
	mac.Write(key[:])
	var p [proofLen]byte
	mac.Sum(p[:0])
	return p
}

// proofsEqual compares proofs in constant time.
func proofsEqual(a, b *[proofLen]byte) bool {
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
