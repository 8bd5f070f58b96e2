package ice

// # Signaling messages, version 1
//
// Sessions exchange opaque messages through the caller (the overlay carries them
// over the link's sealed channel, which rides the relay). The caller may lose,
// duplicate and reorder them, and may deliver them before the peer's Session
// exists; so every offer is a complete, idempotent snapshot of the sender's state
// (credentials, every candidate gathered so far, whether gathering is complete),
// sent at once, again whenever a candidate is gathered, and periodically until
// the session connects. Applying any subset of them in any order converges.
//
// All integers are big-endian. A message is at most MaxSignalLen bytes.
//
//	off  len  field
//	0    1    version = 1 (a message of another version is rejected, not guessed at)
//	1    1    kind: 1 = offer, 2 = bye
//	2    8    from: the sender Session's attempt id (non-zero)
//	10   8    to: the receiver's attempt id as the sender knows it (0 = none yet)
//
// An offer continues:
//
//	18   1    flags: bit 0 = the sender is controlling, bit 1 = end of candidates;
//	          other bits must be zero
//	19   1    ufrag length u (4..32), then u ice-chars (A-Z a-z 0-9 + /)
//	     1    pwd length p (22..64), then p ice-chars
//	     1    candidate count n (0..MaxCandidates), then n candidates:
//	          1  type: 1 = host, 2 = server-reflexive, 3 = mapped (a port
//	             mapping on the sender's gateway: PCP, NAT-PMP or UPnP; used
//	             like server-reflexive; sent only to peers that announced they
//	             read it, see Config.PeerReadsMapped, else sent as type 2)
//	          4  ICE priority (non-zero)
//	          1  address length (4 or 16), then the IP address
//	          2  port (non-zero)
//
// A bye (the sender's Session closed) has no more bytes, and its to must be set.
// Nothing may follow the last field: the encoding is canonical, so a parsed
// message re-encodes to exactly the bytes received.
//
// Attempt ids are the Session's creation time in Unix nanoseconds, so a later
// attempt of the same node has a larger id (a node whose wall clock stepped back
// between two attempts is ignored by the peer's running Session until that one
// ends by itself). A Session
// ignores messages addressed to another attempt of its own (to != 0 and not its
// id) and messages from an older attempt of the peer than the one it has adopted;
// a message from a newer one means the peer restarted (ErrPeerRestarted).

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Limits of the signaling format.
const (
	// SignalVersion is the format version this package writes and reads.
	SignalVersion = 1
	// MaxCandidates is the most candidates one offer carries.
	MaxCandidates = 20
	// MaxSignalLen is the longest message: an offer with the longest credentials
	// and MaxCandidates IPv6 candidates.
	MaxSignalLen = signalHeaderLen + 1 + 1 + maxUfragLen + 1 + maxPwdLen + 1 + MaxCandidates*(1+4+1+16+2)

	signalHeaderLen = 18
	minUfragLen     = 4
	maxUfragLen     = 32
	minPwdLen       = 22
	maxPwdLen       = 64
)

// signalKind is the second byte of a message.
type signalKind byte

const (
	kindOffer signalKind = 1
	kindBye   signalKind = 2
)

const (
	flagControlling = 1 << 0
	flagEnd         = 1 << 1
	flagsKnown      = flagControlling | flagEnd
)

// candKind is a candidate's type on the wire.
type candKind byte

const (
	candHost   candKind = 1
	candSrflx  candKind = 2
	candMapped candKind = 3
)

func (k candKind) String() string {
	switch k {
	case candHost:
		return "host"
	case candSrflx:
		return "srflx"
	case candMapped:
		return "portmap"
	}
	return fmt.Sprintf("type %d", byte(k))
}

// wireCand is one candidate in an offer.
type wireCand struct {
	kind     candKind
	priority uint32
	addr     netip.AddrPort
}

// signal is a decoded message.
type signal struct {
	kind        signalKind
	from, to    uint64
	controlling bool // offer only
	end         bool // offer only
	ufrag, pwd  string
	cands       []wireCand
}

// signalError is a malformed message.
func signalError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadSignal}, args...)...)
}

// parseSignal decodes a message. It never panics; every error wraps ErrBadSignal.
func parseSignal(b []byte) (signal, error) {
	var m signal
	if len(b) > MaxSignalLen {
		return m, signalError("message of %d bytes exceeds the %d-byte limit", len(b), MaxSignalLen)
	}
	if len(b) < 1 {
		return m, signalError("empty message")
	}
	if b[0] != SignalVersion {
		return m, signalError("version %d, this node speaks %d", b[0], SignalVersion)
	}
	if len(b) < signalHeaderLen {
		return m, signalError("message of %d bytes is shorter than the %d-byte header", len(b), signalHeaderLen)
	}
	m.kind = signalKind(b[1])
	m.from = binary.BigEndian.Uint64(b[2:])
	m.to = binary.BigEndian.Uint64(b[10:])
	if m.from == 0 {
		return m, signalError("sender attempt id is 0")
	}
	p := b[signalHeaderLen:]
	switch m.kind {
	case kindBye:
		if m.to == 0 {
			return m, signalError("bye without a receiver attempt id")
		}
		if len(p) != 0 {
			return m, signalError("bye carries %d extra bytes", len(p))
		}
		return m, nil
	case kindOffer:
	default:
		return m, signalError("unknown message kind %d", m.kind)
	}

	r := reader{b: p}
	flags := r.byte()
	if flags&^flagsKnown != 0 {
		return m, signalError("unknown flags 0x%02x", flags&^flagsKnown)
	}
	m.controlling = flags&flagControlling != 0
	m.end = flags&flagEnd != 0
	var err error
	if m.ufrag, err = r.iceString("ufrag", minUfragLen, maxUfragLen); err != nil {
		return m, err
	}
	if m.pwd, err = r.iceString("pwd", minPwdLen, maxPwdLen); err != nil {
		return m, err
	}
	n := int(r.byte())
	if r.short {
		return m, signalError("offer truncated before its candidate count")
	}
	if n > MaxCandidates {
		return m, signalError("offer lists %d candidates; the limit is %d", n, MaxCandidates)
	}
	if n > 0 {
		m.cands = make([]wireCand, 0, n)
	}
	for i := range n {
		var c wireCand
		c.kind = candKind(r.byte())
		c.priority = r.uint32()
		alen := int(r.byte())
		ab := r.bytes(alen)
		port := r.uint16()
		if r.short {
			return m, signalError("candidate %d of %d is truncated", i+1, n)
		}
		if c.kind != candHost && c.kind != candSrflx && c.kind != candMapped {
			return m, signalError("candidate %d has unknown type %d", i+1, byte(c.kind))
		}
		if c.priority == 0 {
			return m, signalError("candidate %d has priority 0", i+1)
		}
		if alen != 4 && alen != 16 {
			return m, signalError("candidate %d has a %d-byte address, want 4 or 16", i+1, alen)
		}
		ip, _ := netip.AddrFromSlice(ab)
		if alen == 16 && ip.Is4In6() {
			return m, signalError("candidate %d is an IPv4-mapped IPv6 address; send it as IPv4", i+1)
		}
		if port == 0 {
			return m, signalError("candidate %d has port 0", i+1)
		}
		c.addr = netip.AddrPortFrom(ip, port)
		m.cands = append(m.cands, c)
	}
	if r.short {
		return m, signalError("offer truncated")
	}
	if len(r.b) != 0 {
		return m, signalError("%d bytes after the last candidate", len(r.b))
	}
	return m, nil
}

// appendSignal encodes m (which must be valid) after b.
func appendSignal(b []byte, m signal) []byte {
	b = append(b, SignalVersion, byte(m.kind))
	b = binary.BigEndian.AppendUint64(b, m.from)
	b = binary.BigEndian.AppendUint64(b, m.to)
	if m.kind != kindOffer {
		return b
	}
	var flags byte
	if m.controlling {
		flags |= flagControlling
	}
	if m.end {
		flags |= flagEnd
	}
	b = append(b, flags, byte(len(m.ufrag)))
	b = append(b, m.ufrag...)
	b = append(b, byte(len(m.pwd)))
	b = append(b, m.pwd...)
	b = append(b, byte(len(m.cands)))
	for _, c := range m.cands {
		b = append(b, byte(c.kind))
		b = binary.BigEndian.AppendUint32(b, c.priority)
		ip := c.addr.Addr()
		b = append(b, byte(ip.BitLen()/8))
		b = append(b, ip.AsSlice()...)
		b = binary.BigEndian.AppendUint16(b, c.addr.Port())
	}
	return b
}

// isICEChar reports whether c may appear in a ufrag or pwd (RFC 8839 ice-char).
func isICEChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/'
}

// reader consumes a byte slice; reading past its end sets short and yields zeros.
type reader struct {
	b     []byte
	short bool
}

func (r *reader) bytes(n int) []byte {
	if len(r.b) < n {
		r.short = true
		r.b = nil
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if v := r.bytes(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) uint16() uint16 {
	if v := r.bytes(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *reader) uint32() uint32 {
	if v := r.bytes(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

// iceString reads a length-prefixed credential of min..max ice-chars.
func (r *reader) iceString(what string, minLen, maxLen int) (string, error) {
	n := int(r.byte())
	v := r.bytes(n)
	if r.short {
		return "", signalError("offer truncated in its %s", what)
	}
	if n < minLen || n > maxLen {
		return "", signalError("%s is %d characters, want %d to %d", what, n, minLen, maxLen)
	}
	for _, c := range v {
		if !isICEChar(c) {
			return "", signalError("%s contains %q, not an ICE character", what, c)
		}
	}
	return string(v), nil
}
