package portmap

// # NAT-PMP and PCP messages
//
// Both protocols talk UDP to the gateway's port 5351; a PCP server answers a
// NAT-PMP request (version 0) and a NAT-PMP-only server answers a PCP request
// (version 2) with "unsupported version", so one port serves both. All
// integers are big-endian.
//
// NAT-PMP (RFC 6886), version 0:
//
//	external address request  0 | op 0                                     2 bytes
//	        response          0 | 128 | result u16 | epoch u32 | IPv4       12 bytes
//	UDP mapping request       0 | op 1 | 0 u16 | internal port u16 |
//	                          suggested external port u16 | lifetime u32   12 bytes
//	        response          0 | 129 | result u16 | epoch u32 | internal port u16 |
//	                          external port u16 | lifetime u32              16 bytes
//
// A mapping request with lifetime 0 (and external port 0) deletes the mapping.
//
// PCP (RFC 6887), version 2, opcode MAP (1) or ANNOUNCE (0):
//
//	request header    2 | R=0,opcode | reserved u16 | lifetime u32 | client IP [16]   24 bytes
//	response header   2 | R=1,opcode | reserved u8 | result u8 | lifetime u32 |
//	                  epoch u32 | reserved [12]                                     24 bytes
//	MAP payload       nonce [12] | protocol u8 (17 = UDP) | reserved [3] |
//	                  internal port u16 | external port u16 | external IP [16]      36 bytes
//
// Addresses are IPv6 or IPv4-mapped IPv6. Options may follow the payload (a
// response's are skipped); a message is at most 1100 bytes and a multiple of
// 4. A MAP request with lifetime 0 and the mapping's nonce deletes it.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Port is where NAT-PMP and PCP servers listen.
const Port = 5351

const (
	pmpVersion      = 0
	pmpOpAddress    = 0
	pmpOpMapUDP     = 1
	pmpResponseFlag = 128

	pcpVersion       = 2
	pcpOpAnnounce    = 0
	pcpOpMap         = 1
	pcpResponseFlag  = 0x80
	pcpHeaderLen     = 24
	pcpMapPayloadLen = 36
	pcpMaxLen        = 1100
	protoUDP         = 17
)

// Result codes that mean something to the client.
const (
	// pmpUnsupportedVersion / pcpUnsupportedVersion: the server speaks the
	// other protocol.
	pmpUnsupportedVersion = 1
	pcpUnsupportedVersion = 1
)

// errWire is a malformed or unexpected message.
var errWire = errors.New("malformed message")

func wireError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errWire}, args...)...)
}

// pmpAddressRequest is NAT-PMP's external address request.
func pmpAddressRequest() []byte { return []byte{pmpVersion, pmpOpAddress} }

// pmpMapRequest asks for (or, with lifetime 0, deletes) a UDP mapping.
func pmpMapRequest(internal, suggested uint16, lifetime uint32) []byte {
	b := make([]byte, 12)
	b[0], b[1] = pmpVersion, pmpOpMapUDP
	binary.BigEndian.PutUint16(b[4:], internal)
	binary.BigEndian.PutUint16(b[6:], suggested)
	binary.BigEndian.PutUint32(b[8:], lifetime)
	return b
}

// pmpResponse is a decoded NAT-PMP response.
type pmpResponse struct {
	op       byte // the request's opcode (0 or 1)
	result   uint16
	epoch    uint32
	external netip.Addr // op 0
	internal uint16     // op 1
	mapped   uint16     // op 1: the external port
	lifetime uint32     // op 1
}

// parsePMP decodes a NAT-PMP response. It never panics.
func parsePMP(b []byte) (pmpResponse, error) {
	var r pmpResponse
	if len(b) < 4 {
		return r, wireError("NAT-PMP response of %d bytes", len(b))
	}
	if b[0] != pmpVersion {
		return r, wireError("NAT-PMP response version %d", b[0])
	}
	if b[1]&pmpResponseFlag == 0 {
		return r, wireError("NAT-PMP opcode %d is not a response", b[1])
	}
	r.op = b[1] &^ pmpResponseFlag
	r.result = binary.BigEndian.Uint16(b[2:])
	if r.result != 0 {
		// Error responses may be cut short (RFC 6886 3.5): only the code counts.
		if len(b) >= 8 {
			r.epoch = binary.BigEndian.Uint32(b[4:])
		}
		return r, nil
	}
	switch r.op {
	case pmpOpAddress:
		if len(b) != 12 {
			return r, wireError("NAT-PMP address response of %d bytes, want 12", len(b))
		}
		r.epoch = binary.BigEndian.Uint32(b[4:])
		r.external = netip.AddrFrom4([4]byte(b[8:12]))
	case pmpOpMapUDP:
		if len(b) != 16 {
			return r, wireError("NAT-PMP mapping response of %d bytes, want 16", len(b))
		}
		r.epoch = binary.BigEndian.Uint32(b[4:])
		r.internal = binary.BigEndian.Uint16(b[8:])
		r.mapped = binary.BigEndian.Uint16(b[10:])
		r.lifetime = binary.BigEndian.Uint32(b[12:])
	default:
		return r, wireError("NAT-PMP response to opcode %d", r.op)
	}
	return r, nil
}

// pcpMapRequest asks for (or, with lifetime 0, deletes) a UDP mapping of
// client's internal port; suggested may be the zero AddrPort.
func pcpMapRequest(client netip.Addr, nonce [12]byte, internal uint16, suggested netip.AddrPort, lifetime uint32) []byte {
	b := make([]byte, pcpHeaderLen+pcpMapPayloadLen)
	b[0], b[1] = pcpVersion, pcpOpMap
	binary.BigEndian.PutUint32(b[4:], lifetime)
	putAddr16(b[8:24], client)
	p := b[pcpHeaderLen:]
	copy(p[:12], nonce[:])
	p[12] = protoUDP
	binary.BigEndian.PutUint16(p[16:], internal)
	binary.BigEndian.PutUint16(p[18:], suggested.Port())
	putAddr16(p[20:36], suggested.Addr())
	return b
}

// pcpAnnounceRequest is PCP's ANNOUNCE: an empty request every PCP server
// answers (a cheap "are you there").
func pcpAnnounceRequest(client netip.Addr) []byte {
	b := make([]byte, pcpHeaderLen)
	b[0], b[1] = pcpVersion, pcpOpAnnounce
	putAddr16(b[8:24], client)
	return b
}

// putAddr16 writes a as 16 bytes (IPv4 as IPv4-mapped); the zero Addr as
// all zeros.
func putAddr16(dst []byte, a netip.Addr) {
	if !a.IsValid() {
		clear(dst[:16])
		return
	}
	a16 := a.As16()
	copy(dst, a16[:])
}

// pcpResponse is a decoded PCP response.
type pcpResponse struct {
	op       byte
	result   byte
	lifetime uint32
	epoch    uint32
	// MAP only:
	nonce    [12]byte
	protocol byte
	internal uint16
	external netip.AddrPort
}

// parsePCP decodes a PCP response. It never panics. A version-0 answer
// (a NAT-PMP server's "unsupported version") is reported as result
// pcpUnsupportedVersion.
func parsePCP(b []byte) (pcpResponse, error) {
	var r pcpResponse
	if len(b) >= 4 && b[0] == pmpVersion {
		pm, err := parsePMP(b)
		if err == nil && pm.result == pmpUnsupportedVersion {
			r.result = pcpUnsupportedVersion
			return r, nil
		}
		return r, wireError("NAT-PMP answer to a PCP request")
	}
	if len(b) < pcpHeaderLen {
		return r, wireError("PCP response of %d bytes is shorter than its header", len(b))
	}
	if len(b) > pcpMaxLen || len(b)%4 != 0 {
		return r, wireError("PCP response of %d bytes (at most %d, a multiple of 4)", len(b), pcpMaxLen)
	}
	if b[0] != pcpVersion {
		return r, wireError("PCP response version %d", b[0])
	}
	if b[1]&pcpResponseFlag == 0 {
		return r, wireError("PCP opcode %d is not a response", b[1])
	}
	r.op = b[1] &^ pcpResponseFlag
	r.result = b[3]
	r.lifetime = binary.BigEndian.Uint32(b[4:])
	r.epoch = binary.BigEndian.Uint32(b[8:])
	switch r.op {
	case pcpOpAnnounce:
		return r, nil
	case pcpOpMap:
	default:
		return r, wireError("PCP response to opcode %d", r.op)
	}
	p := b[pcpHeaderLen:]
	if len(p) < pcpMapPayloadLen {
		if r.result != 0 {
			return r, nil // an error response may omit the payload
		}
		return r, wireError("PCP MAP response of %d bytes has no payload", len(b))
	}
	copy(r.nonce[:], p[:12])
	r.protocol = p[12]
	r.internal = binary.BigEndian.Uint16(p[16:])
	ip := netip.AddrFrom16([16]byte(p[20:36])).Unmap()
	r.external = netip.AddrPortFrom(ip, binary.BigEndian.Uint16(p[18:]))
	return r, nil
}

// pcpResultText names PCP's result codes (RFC 6887 7.4).
func pcpResultText(c byte) string {
	names := [...]string{"SUCCESS", "UNSUPP_VERSION", "NOT_AUTHORIZED", "MALFORMED_REQUEST", "UNSUPP_OPCODE",
		"UNSUPP_OPTION", "MALFORMED_OPTION", "NETWORK_FAILURE", "NO_RESOURCES", "UNSUPP_PROTOCOL",
		"USER_EX_QUOTA", "CANNOT_PROVIDE_EXTERNAL", "ADDRESS_MISMATCH", "EXCESSIVE_REMOTE_PEERS"}
	if int(c) < len(names) {
		return fmt.Sprintf("%d %s", c, names[c])
	}
	return fmt.Sprintf("%d", c)
}

// pmpResultText names NAT-PMP's result codes (RFC 6886 3.5).
func pmpResultText(c uint16) string {
	names := [...]string{"success", "unsupported version", "not authorized or refused", "network failure",
		"out of resources", "unsupported opcode"}
	if int(c) < len(names) {
		return fmt.Sprintf("%d %s", c, names[c])
	}
	return fmt.Sprintf("%d", c)
}
