package relay

import (
	"bufio"
	"encoding/binary"
	"unicode/utf8"

	"github.com/meshnode/meshnode/pkg/identity"
)

// The message codecs: each parseXxx is a pure function over a frame's payload and
// each appendXxx appends a whole frame (header and payload). Layouts are in proto.go.

type serverHello struct {
	version   uint16
	challenge [challengeLen]byte
	ephPub    identity.PublicKey
}

type clientHello struct {
	version  uint16
	key      identity.PublicKey
	proof    [proofLen]byte
	instance [instanceLen]byte
	group    identity.GroupID
	groupKey identity.GroupKey
	groupSig [groupSigLen]byte
	authID   AuthKeyID // all zero: no auth key
	auth     [proofLen]byte
}

// parseServerHello decodes a ServerHello. A version other than ours is a
// *VersionError, checked before the rest of the layout (which may differ).
func parseServerHello(b []byte) (serverHello, error) {
	var h serverHello
	if len(b) < 2 {
		return h, protoErr("ServerHello of %d bytes is too short for a version", len(b))
	}
	h.version = binary.BigEndian.Uint16(b)
	if h.version != ProtocolVersion {
		return h, &VersionError{Server: int(h.version), Client: ProtocolVersion}
	}
	if len(b) != serverHelloLen {
		return h, protoErr("ServerHello is %d bytes, want %d", len(b), serverHelloLen)
	}
	copy(h.challenge[:], b[2:])
	copy(h.ephPub[:], b[2+challengeLen:])
	return h, nil
}

func appendServerHello(b []byte, h serverHello) []byte {
	b = appendHeader(b, frameServerHello, serverHelloLen)
	b = binary.BigEndian.AppendUint16(b, h.version)
	b = append(b, h.challenge[:]...)
	return append(b, h.ephPub[:]...)
}

// parseClientHello decodes a ClientHello. A version other than ours is a
// *VersionError, checked before the rest of the layout.
func parseClientHello(b []byte) (clientHello, error) {
	var h clientHello
	if len(b) < 2 {
		return h, protoErr("ClientHello of %d bytes is too short for a version", len(b))
	}
	h.version = binary.BigEndian.Uint16(b)
	if h.version != ProtocolVersion {
		return h, &VersionError{Server: ProtocolVersion, Client: int(h.version)}
	}
	if len(b) != clientHelloLen {
		return h, protoErr("ClientHello is %d bytes, want %d", len(b), clientHelloLen)
	}
	p := b[2:]
	p = p[copy(h.key[:], p):]
	p = p[copy(h.proof[:], p):]
	p = p[copy(h.instance[:], p):]
	p = p[copy(h.group[:], p):]
	p = p[copy(h.groupKey[:], p):]
	p = p[copy(h.groupSig[:], p):]
	p = p[copy(h.authID[:], p):]
	copy(h.auth[:], p)
	return h, nil
}

func appendClientHello(b []byte, h clientHello) []byte {
	b = appendHeader(b, frameClientHello, clientHelloLen)
	b = binary.BigEndian.AppendUint16(b, h.version)
	b = append(b, h.key[:]...)
	b = append(b, h.proof[:]...)
	b = append(b, h.instance[:]...)
	b = append(b, h.group[:]...)
	b = append(b, h.groupKey[:]...)
	b = append(b, h.groupSig[:]...)
	b = append(b, h.authID[:]...)
	return append(b, h.auth[:]...)
}

// parseEmpty checks the payload of a frame that carries none (Welcome, PeersEnd).
func parseEmpty(t frameType, b []byte) error {
	if len(b) != 0 {
		return protoErr("%v carries %d bytes, want none", t, len(b))
	}
	return nil
}

func appendEmpty(b []byte, t frameType) []byte { return appendHeader(b, t, 0) }

// parseError decodes an Error: a code and a message.
func parseError(b []byte) (Code, string, error) {
	if len(b) < 2 || len(b) > 1+MaxErrorLen {
		return 0, "", protoErr("Error is %d bytes, want 2 to %d", len(b), 1+MaxErrorLen)
	}
	if b[0] == 0 {
		return 0, "", protoErr("Error code 0")
	}
	if !utf8.Valid(b[1:]) {
		return 0, "", protoErr("Error message is not valid UTF-8")
	}
	return Code(b[0]), string(b[1:]), nil
}

// appendError appends an Error frame. msg is cut to MaxErrorLen bytes at a rune
// boundary; an empty msg becomes the code's name.
func appendError(b []byte, code Code, msg string) []byte {
	if code == 0 {
		code = CodeProtocol
	}
	if msg == "" {
		msg = code.String()
	}
	if len(msg) > MaxErrorLen {
		cut := MaxErrorLen
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut]
	}
	msg = toValidUTF8(msg)
	b = appendHeader(b, frameError, 1+len(msg))
	b = append(b, byte(code))
	return append(b, msg...)
}

// toValidUTF8 replaces invalid bytes with '?' (same length, so limits still hold).
func toValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out := []byte(s)
	for i := 0; i < len(out); {
		r, size := utf8.DecodeRune(out[i:])
		if r == utf8.RuneError && size == 1 {
			out[i] = '?'
		}
		i += size
	}
	return string(out)
}

// parsePeerPresent decodes a PeerPresent.
func parsePeerPresent(b []byte) (identity.PublicKey, error) {
	var k identity.PublicKey
	if len(b) != keyLen {
		return k, protoErr("PeerPresent is %d bytes, want %d", len(b), keyLen)
	}
	copy(k[:], b)
	return k, nil
}

func appendPeerPresent(b []byte, k identity.PublicKey) []byte {
	b = appendHeader(b, framePeerPresent, keyLen)
	return append(b, k[:]...)
}

// parsePeerGone decodes a PeerGone.
func parsePeerGone(b []byte) (identity.PublicKey, error) {
	var k identity.PublicKey
	if len(b) != keyLen {
		return k, protoErr("PeerGone is %d bytes, want %d", len(b), keyLen)
	}
	copy(k[:], b)
	return k, nil
}

func appendPeerGone(b []byte, k identity.PublicKey) []byte {
	b = appendHeader(b, framePeerGone, keyLen)
	return append(b, k[:]...)
}

// parseDatagram decodes a Send (key = destination) or Recv (key = source). The
// datagram aliases b.
func parseDatagram(t frameType, b []byte) (identity.PublicKey, []byte, error) {
	var k identity.PublicKey
	if len(b) < keyLen {
		return k, nil, protoErr("%v is %d bytes, shorter than a key", t, len(b))
	}
	copy(k[:], b)
	return k, b[keyLen:], nil
}

// recvBuffered reports whether the next frame, whole in br's buffer, is a
// Recv from src. It reads nothing and never fills br (so the body of the
// frame just read stays valid).
func recvBuffered(br *bufio.Reader, src *identity.PublicKey) bool {
	n, ok := bufferedFrameLen(br)
	if !ok || br.Buffered() < n || n < headerLen+keyLen {
		return false
	}
	b, _ := br.Peek(headerLen + keyLen)
	return frameType(b[0]) == frameRecv && string(b[headerLen:]) == string(src[:])
}

// putDatagram writes a whole Send or Recv frame into b, which must be exactly
// headerLen+keyLen+len(payload) bytes long.
func putDatagram(b []byte, t frameType, k *identity.PublicKey, payload []byte) {
	putHeader(b, t, keyLen+len(payload))
	copy(b[headerLen:], k[:])
	copy(b[headerLen+keyLen:], payload)
}

// parsePing decodes the payload of a Ping or Pong.
func parsePing(t frameType, b []byte) ([pingLen]byte, error) {
	var p [pingLen]byte
	if len(b) != pingLen {
		return p, protoErr("%v is %d bytes, want %d", t, len(b), pingLen)
	}
	copy(p[:], b)
	return p, nil
}

func appendPing(b []byte, t frameType, p [pingLen]byte) []byte {
	b = appendHeader(b, t, pingLen)
	return append(b, p[:]...)
}

// ServerInfo is what the rendezvous announces about its other services in the
// optional ServerInfo frame (see proto.go). The zero value means nothing was
// announced: an older server, or STUN disabled.
type ServerInfo struct {
	// STUNPorts are UDP ports of the rendezvous' STUN server on the host the node
	// dialed, primary first (at most MaxSTUNPorts).
	STUNPorts []uint16
}

// parseServerInfo decodes a ServerInfo payload. Bytes after the fields this
// version knows are ignored (later versions append fields); used is how many
// bytes were decoded.
func parseServerInfo(b []byte) (info ServerInfo, used int, err error) {
	if len(b) < 1 {
		return info, 0, protoErr("ServerInfo is empty, want at least a STUN port count")
	}
	n := int(b[0])
	if n > MaxSTUNPorts {
		return info, 0, protoErr("ServerInfo lists %d STUN ports; the limit is %d", n, MaxSTUNPorts)
	}
	if len(b) < 1+2*n {
		return info, 0, protoErr("ServerInfo of %d bytes is too short for %d STUN ports", len(b), n)
	}
	if n > 0 {
		info.STUNPorts = make([]uint16, n)
	}
	for i := range n {
		p := binary.BigEndian.Uint16(b[1+2*i:])
		if p == 0 {
			return ServerInfo{}, 0, protoErr("ServerInfo: STUN port %d is 0", i+1)
		}
		info.STUNPorts[i] = p
	}
	return info, 1 + 2*n, nil
}

// appendServerInfo appends a ServerInfo frame. info must be valid (see
// ServerConfig.STUNPorts, which the server cleans up before encoding).
func appendServerInfo(b []byte, info ServerInfo) []byte {
	b = appendHeader(b, frameServerInfo, 1+2*len(info.STUNPorts))
	b = append(b, byte(len(info.STUNPorts)))
	for _, p := range info.STUNPorts {
		b = binary.BigEndian.AppendUint16(b, p)
	}
	return b
}

// GroupInfo is what the rendezvous tells a node about its group name (the optional
// GroupInfo frame, see proto.go).
type GroupInfo struct {
	// Others is how many nodes use the same group name with another group key:
	// a different secret.
	Others int
}

// parseGroupInfo decodes a GroupInfo payload; bytes after the known fields are
// ignored.
func parseGroupInfo(b []byte) (GroupInfo, error) {
	if len(b) < groupInfoLen {
		return GroupInfo{}, protoErr("GroupInfo is %d bytes, want at least %d", len(b), groupInfoLen)
	}
	n := binary.BigEndian.Uint32(b)
	if n > 1<<24 {
		return GroupInfo{}, protoErr("GroupInfo counts %d other nodes", n)
	}
	return GroupInfo{Others: int(n)}, nil
}

func appendGroupInfo(b []byte, gi GroupInfo) []byte {
	b = appendHeader(b, frameGroupInfo, groupInfoLen)
	return binary.BigEndian.AppendUint32(b, uint32(gi.Others))
}
