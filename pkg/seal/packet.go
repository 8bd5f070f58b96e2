package seal

// Packet formats (version 1). Integers are big-endian; "index" is a random 32-bit
// session index chosen by the side that receives on it. The first byte of every
// packet has its top bit set (see doc.go); a future version uses new type codes.
//
//	initiation  0x81 | sender index u32 | n u8 | suite name (n = 1..64 bytes)
//	            | Noise message 1 | mac [16]
//	            message 1 payload: timestamp [12] (TAI64N) | hello (<= 1024)
//	response    0x82 | sender index u32 | receiver index u32 | Noise message 2 | mac [16]
//	            message 2 payload: hello (<= 1024)
//	data        0x83 | receiver index u32 | counter u64 | AEAD(plaintext) incl. tag [16]
//	            an empty plaintext is a keepalive
//	reject      0x84 | receiver index u32 | reason u8 | n u8 | suite name (n = 0..64)
//	            | mac [16]
//
// The mac of handshake packets is keyed BLAKE2s-128 over (the sender's static public
// key | the packet up to the mac), with a key both peers derive from their static
// keys alone (X25519(local, remote), see pairKey). It proves the packet comes from
// the peer's static key without involving the PSK, so a relay can neither forge a
// reject nor alter the clear suite name or indices, and a failure after a good mac
// can be blamed on the group secret with confidence. Including the sender's key makes
// a packet reflected back to its sender fail.
//
// Parsers are pure: they only slice their input.

import (
	"encoding/binary"
	"fmt"
)

// Packet types.
const (
	typeInitiation byte = 0x81
	typeResponse   byte = 0x82
	typeData       byte = 0x83
	typeReject     byte = 0x84
)

// Reject reasons.
const (
	rejectSecret  byte = 1 // the response did not authenticate: the PSKs differ
	rejectSuite   byte = 2 // the initiation named a suite the rejecter does not use
	rejectPeerKey byte = 3 // the initiator's static key is not the one the rejecter expects
)

const (
	macLen        = 16
	timestampLen  = 12
	dataHeaderLen = 1 + 4 + 8
	maxTagLen     = 16
	// MaxOverhead is the number of bytes a data packet adds to its plaintext
	// (header and AEAD tag), so callers can size their MTUs.
	MaxOverhead = dataHeaderLen + maxTagLen
	// MaxHello bounds ChannelConfig.Hello.
	MaxHello = 1024

	maxSuiteName  = 64
	maxNoiseMsg   = 4096    // far above what the built-in suites produce
	maxPacketSize = 1 << 16 // data packets: a datagram cannot be longer
	keepaliveLen  = dataHeaderLen + maxTagLen
)

type initiation struct {
	sender uint32
	suite  string
	msg    []byte // Noise message 1
	signed []byte // the packet up to the mac
	mac    []byte
}

type response struct {
	sender, receiver uint32
	msg              []byte // Noise message 2
	signed           []byte
	mac              []byte
}

type dataPacket struct {
	receiver uint32
	counter  uint64
	sealed   []byte // ciphertext and tag
}

type reject struct {
	receiver uint32
	reason   byte
	suite    string // the rejecter's suite
	signed   []byte
	mac      []byte
}

// IsHandshake says whether a sealed packet is a handshake packet (initiation,
// response or reject) rather than data. Transports use it to send the rare
// handshake packets on every route they have: a peer that restarted answers
// only where it can still be reached.
func IsHandshake(pkt []byte) bool {
	return len(pkt) > 0 && (pkt[0] == typeInitiation || pkt[0] == typeResponse || pkt[0] == typeReject)
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrMalformed)
}

func parseInitiation(b []byte) (initiation, error) {
	var p initiation
	if len(b) < 6 || b[0] != typeInitiation {
		return p, malformed("initiation of %d bytes", len(b))
	}
	p.sender = binary.BigEndian.Uint32(b[1:5])
	n := int(b[5])
	if n == 0 || n > maxSuiteName {
		return p, malformed("initiation suite name length %d", n)
	}
	rest := len(b) - 6 - n - macLen // Noise message length
	if rest < 1 || rest > maxNoiseMsg {
		return p, malformed("initiation of %d bytes", len(b))
	}
	p.suite = string(b[6 : 6+n])
	p.msg = b[6+n : len(b)-macLen]
	p.signed, p.mac = b[:len(b)-macLen], b[len(b)-macLen:]
	return p, nil
}

// appendInitiation appends an initiation without its mac.
func appendInitiation(b []byte, sender uint32, suite string, msg []byte) []byte {
	b = append(b, typeInitiation)
	b = binary.BigEndian.AppendUint32(b, sender)
	b = append(b, byte(len(suite)))
	b = append(b, suite...)
	return append(b, msg...)
}

func parseResponse(b []byte) (response, error) {
	var p response
	const hdr = 1 + 4 + 4
	if len(b) < hdr+1+macLen || len(b) > hdr+maxNoiseMsg+macLen || b[0] != typeResponse {
		return p, malformed("response of %d bytes", len(b))
	}
	p.sender = binary.BigEndian.Uint32(b[1:5])
	p.receiver = binary.BigEndian.Uint32(b[5:9])
	p.msg = b[hdr : len(b)-macLen]
	p.signed, p.mac = b[:len(b)-macLen], b[len(b)-macLen:]
	return p, nil
}

// appendResponse appends a response without its mac.
func appendResponse(b []byte, sender, receiver uint32, msg []byte) []byte {
	b = append(b, typeResponse)
	b = binary.BigEndian.AppendUint32(b, sender)
	b = binary.BigEndian.AppendUint32(b, receiver)
	return append(b, msg...)
}

func parseData(b []byte) (dataPacket, error) {
	var p dataPacket
	if len(b) < dataHeaderLen || len(b) > maxPacketSize || b[0] != typeData {
		return p, malformed("data packet of %d bytes", len(b))
	}
	p.receiver = binary.BigEndian.Uint32(b[1:5])
	p.counter = binary.BigEndian.Uint64(b[5:13])
	p.sealed = b[dataHeaderLen:]
	return p, nil
}

func appendDataHeader(b []byte, receiver uint32, counter uint64) []byte {
	b = append(b, typeData)
	b = binary.BigEndian.AppendUint32(b, receiver)
	return binary.BigEndian.AppendUint64(b, counter)
}

func parseReject(b []byte) (reject, error) {
	var p reject
	const hdr = 1 + 4 + 1 + 1
	if len(b) < hdr+macLen || b[0] != typeReject {
		return p, malformed("reject of %d bytes", len(b))
	}
	p.receiver = binary.BigEndian.Uint32(b[1:5])
	p.reason = b[5]
	if p.reason < rejectSecret || p.reason > rejectPeerKey {
		return p, malformed("reject reason %d", p.reason)
	}
	n := int(b[6])
	if n > maxSuiteName || len(b) != hdr+n+macLen {
		return p, malformed("reject of %d bytes with a suite name of %d", len(b), n)
	}
	p.suite = string(b[hdr : hdr+n])
	p.signed, p.mac = b[:len(b)-macLen], b[len(b)-macLen:]
	return p, nil
}

// appendReject appends a reject without its mac.
func appendReject(b []byte, receiver uint32, reason byte, suite string) []byte {
	b = append(b, typeReject)
	b = binary.BigEndian.AppendUint32(b, receiver)
	b = append(b, reason, byte(len(suite)))
	return append(b, suite...)
}

// parsePacket dispatches on the type byte; the fuzz target and tests use it.
func parsePacket(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, malformed("empty packet")
	}
	switch b[0] {
	case typeInitiation:
		return parseInitiation(b)
	case typeResponse:
		return parseResponse(b)
	case typeData:
		return parseData(b)
	case typeReject:
		return parseReject(b)
	}
	return nil, malformed("packet type 0x%02x", b[0])
}
