package stunsrv

import (
	"encoding/binary"
	"hash/crc32"
	"net/netip"
)

// IP and UDP header bytes around a datagram's payload: what a datagram costs
// on the wire besides its payload.
const (
	wireOverhead4 = 20 + 8
	wireOverhead6 = 40 + 8
)

// The amplification rule: an answer takes at most amplifyNum/amplifyDen times
// the bytes on the wire (IP + UDP + STUN) of the request it answers. Answers
// are fixed in size, so with the smallest requests (a bare 20-byte header, as
// pion's ICE agent sends) the ratio is 1.25 (IPv4) and 1.35 (IPv6); see doc.go.
const (
	amplifyNum = 3
	amplifyDen = 2
)

// maxResponse is the largest answer: IPv6 XOR-MAPPED-ADDRESS and FINGERPRINT.
const maxResponse = headerSize + 4 + 20 + 8

// withinRule reports whether an answer of resp payload bytes to a request of
// req payload bytes from a source of that family keeps the amplification rule.
func withinRule(req, resp int, v6 bool) bool {
	o := wireOverhead4
	if v6 {
		o = wireOverhead6
	}
	return (resp+o)*amplifyDen <= (req+o)*amplifyNum
}

// appendResponse appends the Binding success response to req from src to
// buf: XOR-MAPPED-ADDRESS, and FINGERPRINT only if the request carried one
// (it is there for telling STUN from other protocols on one port; a client
// that did not send one does not need it, and it costs 8 bytes). Nothing
// else: no SOFTWARE, no MAPPED-ADDRESS, no OTHER-ADDRESS.
func appendResponse(buf []byte, req request, src netip.AddrPort) []byte {
	ip := src.Addr().Unmap()
	alen := 8 // family, port, IPv4
	if ip.Is6() {
		alen = 20
	}
	length := 4 + alen
	if req.fingerprint {
		length += 8
	}
	b := append(buf[:0], 0, 0, 0, 0)
	binary.BigEndian.PutUint16(b[0:2], typeBindingOK)
	binary.BigEndian.PutUint16(b[2:4], uint16(length))
	b = binary.BigEndian.AppendUint32(b, magicCookie)
	b = append(b, req.tid[:]...)

	b = binary.BigEndian.AppendUint16(b, attrXORMappedAddress)
	b = binary.BigEndian.AppendUint16(b, uint16(alen))
	family := byte(1)
	if ip.Is6() {
		family = 2
	}
	b = append(b, 0, family)
	b = binary.BigEndian.AppendUint16(b, src.Port()^uint16(magicCookie>>16))
	// The address XORed with the cookie and, for IPv6, the transaction ID:
	// bytes 4..20 of the header.
	key := b[4:20]
	if ip.Is4() {
		a := ip.As4()
		for i := range a {
			b = append(b, a[i]^key[i])
		}
	} else {
		a := ip.As16()
		for i := range a {
			b = append(b, a[i]^key[i])
		}
	}
	if req.fingerprint {
		crc := crc32.ChecksumIEEE(b) ^ fingerprintXOR
		b = binary.BigEndian.AppendUint16(b, attrFingerprint)
		b = binary.BigEndian.AppendUint16(b, 4)
		b = binary.BigEndian.AppendUint32(b, crc)
	}
	return b
}
