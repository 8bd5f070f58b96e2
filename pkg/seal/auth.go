package seal

import (
	"bytes"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"time"

	"golang.org/x/crypto/blake2s"

	"github.com/meshnode/meshnode/pkg/identity"
)

// pairKey keys the mac of handshake packets (see packet.go). Both peers compute it
// from their static keys alone: X25519(local, remote) hashed with both public keys.
type pairKey [32]byte

func derivePairKey(local identity.PrivateKey, remote identity.PublicKey) (pairKey, error) {
	dh, err := local.SharedSecret(remote)
	if err != nil {
		return pairKey{}, fmt.Errorf("static key agreement with %s: %w", remote.Short(), err)
	}
	lo, hi := local.Public(), remote
	if bytes.Compare(lo[:], hi[:]) > 0 {
		lo, hi = hi, lo
	}
	var in []byte
	in = append(in, "meshnode/seal v1 handshake mac key\x00"...)
	in = append(in, dh[:]...)
	in = append(in, lo[:]...)
	in = append(in, hi[:]...)
	return blake2s.Sum256(in), nil
}

// mac authenticates signed as sent by the holder of sender's static key.
func (k *pairKey) mac(sender identity.PublicKey, signed []byte) [macLen]byte {
	h, _ := blake2s.New128(k[:]) // only fails for keys longer than 32 bytes
	h.Write(sender[:])
	h.Write(signed)
	var out [macLen]byte
	h.Sum(out[:0])
	return out
}

func (k *pairKey) verify(sender identity.PublicKey, signed, mac []byte) bool {
	want := k.mac(sender, signed)
	return subtle.ConstantTimeCompare(want[:], mac) == 1
}

// appendMAC appends the mac of pkt (sent by sender) to pkt.
func (k *pairKey) appendMAC(sender identity.PublicKey, pkt []byte) []byte {
	m := k.mac(sender, pkt)
	return append(pkt, m[:]...)
}

// timestamp is a TAI64N label (as WireGuard's): 8 bytes of seconds with the
// TAI64 offset, 4 bytes of nanoseconds; byte order is time order.
type timestamp [timestampLen]byte

const tai64Base = uint64(0x400000000000000a)

func makeTimestamp(t time.Time) timestamp {
	var ts timestamp
	binary.BigEndian.PutUint64(ts[:8], tai64Base+uint64(t.Unix()))
	binary.BigEndian.PutUint32(ts[8:], uint32(t.Nanosecond()))
	return ts
}

func (t timestamp) after(o timestamp) bool { return bytes.Compare(t[:], o[:]) > 0 }

// next returns the label one nanosecond after t.
func (t timestamp) next() timestamp {
	secs := binary.BigEndian.Uint64(t[:8])
	ns := binary.BigEndian.Uint32(t[8:]) + 1
	if ns >= 1e9 {
		secs, ns = secs+1, 0
	}
	var n timestamp
	binary.BigEndian.PutUint64(n[:8], secs)
	binary.BigEndian.PutUint32(n[8:], ns)
	return n
}
