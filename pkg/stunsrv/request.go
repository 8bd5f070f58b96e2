package stunsrv

import (
	"encoding/binary"
	"hash/crc32"
)

// STUN wire constants (RFC 8489).
const (
	headerSize     = 20
	magicCookie    = 0x2112A442
	typeBindingReq = 0x0001 // method Binding, class request
	typeBindingOK  = 0x0101 // method Binding, class success response
	fingerprintXOR = 0x5354554e

	attrXORMappedAddress = 0x0020
	attrFingerprint      = 0x8028
)

// maxRequest is the largest request answered; Binding requests are tens of
// bytes (an ICE check with credentials about a hundred). A larger datagram is
// malformed; Serve's read buffer is one byte larger to notice one.
const maxRequest = 1280

// knownRequired are the comprehension-required attributes (type < 0x8000) a
// Binding request may carry that this server can ignore: an ICE connectivity
// check's, should one be sent here. A request with any other one would need a
// 420 (Unknown Attribute) error, and this server sends no errors: it is not
// answered.
func knownRequired(t uint16) bool {
	switch t {
	case 0x0006, // USERNAME
		0x0008, // MESSAGE-INTEGRITY
		0x001C, // MESSAGE-INTEGRITY-SHA256
		0x0024, // PRIORITY
		0x0025: // USE-CANDIDATE
		return true
	}
	return false
}

// verdict is what a datagram is to this server.
type verdict int

const (
	answer    verdict = iota // a well-formed Binding request
	malformed                // not a STUN message, or a broken one
	ignored                  // a well-formed STUN message this server does not answer
)

func (v verdict) String() string {
	return [...]string{"answer", "malformed", "ignored"}[v]
}

// request is what an answer needs from a request.
type request struct {
	tid         [12]byte
	fingerprint bool // it carried a (valid) FINGERPRINT
}

// parseRequest checks b strictly and says whether it is a Binding request to
// answer. Malformed: shorter than a header or longer than maxRequest, either of the two top bits set, a
// length that is not a multiple of 4 or not the datagram's, a wrong magic
// cookie, attributes whose lengths overrun the message, a FINGERPRINT that is
// not the last attribute, not 4 bytes, or not the CRC of what precedes it.
// Ignored: a well-formed message of another method or class (responses,
// indications), or a request with a comprehension-required attribute this
// server does not know.
func parseRequest(b []byte) (request, verdict) {
	var req request
	if len(b) < headerSize || len(b) > maxRequest || b[0]&0xc0 != 0 {
		return req, malformed
	}
	typ := binary.BigEndian.Uint16(b[0:2])
	length := int(binary.BigEndian.Uint16(b[2:4]))
	if length%4 != 0 || headerSize+length != len(b) || binary.BigEndian.Uint32(b[4:8]) != magicCookie {
		return req, malformed
	}
	copy(req.tid[:], b[8:20])
	unknown := false
	for off := headerSize; off < len(b); {
		if len(b)-off < 4 {
			return req, malformed
		}
		at := binary.BigEndian.Uint16(b[off : off+2])
		al := int(binary.BigEndian.Uint16(b[off+2 : off+4]))
		next := off + 4 + (al+3)&^3
		if next > len(b) {
			return req, malformed
		}
		if at == attrFingerprint {
			if al != 4 || next != len(b) {
				return req, malformed
			}
			want := crc32.ChecksumIEEE(b[:off]) ^ fingerprintXOR
			if binary.BigEndian.Uint32(b[off+4:off+8]) != want {
				return req, malformed
			}
			req.fingerprint = true
		} else if at < 0x8000 && !knownRequired(at) {
			unknown = true
		}
		off = next
	}
	if typ != typeBindingReq || unknown {
		return req, ignored
	}
	return req, answer
}
