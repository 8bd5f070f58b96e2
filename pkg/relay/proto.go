package relay

// # Wire protocol, version 1
//
// One TCP (or TLS, or WebSocket) connection per node. All integers are big-endian. Keys are
// 32-byte X25519 public keys; a GroupID is 32 bytes.
//
// Start. The client sends the 8-byte magic "MESHRDV1" (it never changes; versions
// are negotiated in the hellos). Then both sides exchange frames.
//
// Frame: type (1 byte) | length (4 bytes) | payload (length bytes), with
// length <= MaxFrameLen (64 KiB). A larger length, an unknown type in 0x00-0x7f,
// a truncated frame or a malformed payload closes the connection (the peer logs
// why). Types 0x80-0xff are optional extensions: after the handshake, a receiver
// that does not know one skips it, so later versions can add hints without a
// version bump.
//
//	type  name         dir   payload
//	0x01  ServerHello  S->C  version u16 | challenge [32] | server ephemeral X25519 public key [32]
//	0x02  ClientHello  C->S  version u16 | group [32] | node key [32] | proof [32] | name (0..64 bytes UTF-8)
//	0x03  Welcome      S->C  empty
//	0x04  Error        S->C  message (1..1024 bytes UTF-8); the server closes after it
//	0x10  PeerPresent  S->C  node key [32] | name (0..64 bytes)
//	0x11  PeerGone     S->C  node key [32]
//	0x12  PeersEnd     S->C  empty
//	0x20  Send         C->S  destination key [32] | datagram (0..MaxDatagramLen bytes)
//	0x21  Recv         S->C  source key [32] | datagram
//	0x30  Ping         both  8 opaque bytes
//	0x31  Pong         both  the 8 bytes of the Ping it answers
//	0x80  ServerInfo   S->C  optional: STUN port count n u8 (0..4) | n STUN ports u16 (non-zero) | later fields
//
// Handshake. Client: magic. Server: ServerHello (or Error when full). Client:
// ClientHello, where
//
//	proof = BLAKE2s-256(key = X25519(node private key, server ephemeral public key),
//	                    "meshnode rendezvous proof v1\x00" | challenge | group | node key)
//
// The server recomputes the key as X25519(server ephemeral private key, node key):
// only the owner of the node key can produce the proof, and the fresh challenge and
// ephemeral key make it useless on another connection. The server answers Welcome,
// or Error{message} and closes (wrong version: the message names both versions;
// bad proof; invalid name). The whole handshake must finish within the server's
// handshake timeout (10 s by default).
//
// Presence. Right after Welcome the server sends one PeerPresent per other current
// member of the group, then PeersEnd; afterwards PeerPresent and PeerGone as
// members come and go. A node is a member of one group per connection; members are
// keyed by (group, node key). A second connection with the same key replaces the
// first: the old one receives Error "replaced by a newer connection from ADDR" and
// is closed, and the other members see no Gone/Present pair (a PeerPresent only when
// the name changed).
//
// ServerInfo. A server that runs other services for nodes (today: STUN, so nodes
// can find their server-reflexive address and probe their NAT) announces them in
// one ServerInfo frame right after Welcome, before the first PeerPresent. The STUN
// ports are UDP ports on the host the client dialed, primary first; a second port
// lets a node tell whether its NAT maps per destination. Fields added later are
// appended after the ports: a receiver ignores payload bytes past the fields it
// knows. Old clients skip the frame (it is an optional type); a server without
// anything to announce sends none.
//
// Datagrams. Send{dst, datagram} is looked up among the sender's group only and
// forwarded as Recv{src, datagram}; Send and Recv have the same size, so the server
// rewrites the frame in place. An unknown dst is dropped and answered, rate-limited,
// with PeerGone{dst}. A full receiver queue drops the datagram.
//
// Keepalive. Either side may Ping; the other answers Pong with the same 8 bytes.
// Clients ping every 15 s and measure RTT; the server closes connections that sent
// nothing for its idle timeout (60 s); a client considers the server dead when it
// received nothing for 2.5 ping intervals.

import "time"

// ProtocolVersion is the version this package speaks.
const ProtocolVersion = 1

// Magic is what a client sends first.
const Magic = "MESHRDV1"

// Size limits of the protocol.
const (
	// MaxFrameLen is the largest frame payload.
	MaxFrameLen = 64 << 10
	// MaxDatagramLen is the largest datagram a node can relay.
	MaxDatagramLen = MaxFrameLen - keyLen
	// MaxNameLen is the longest node name, in bytes.
	MaxNameLen = 64
	// MaxErrorLen is the longest Error message, in bytes.
	MaxErrorLen = 1024
	// MaxSTUNPorts is the most STUN ports a ServerInfo frame lists.
	MaxSTUNPorts = 4
)

const (
	headerLen    = 5
	keyLen       = 32
	challengeLen = 32
	proofLen     = 32
	pingLen      = 8

	serverHelloLen    = 2 + challengeLen + keyLen
	clientHelloMinLen = 2 + keyLen + keyLen + proofLen
	clientHelloMaxLen = clientHelloMinLen + MaxNameLen
)

// proofDomain separates the handshake proof from every other use of the key.
const proofDomain = "meshnode rendezvous proof v1\x00"

// frameType is the first byte of a frame.
type frameType byte

const (
	frameServerHello frameType = 0x01
	frameClientHello frameType = 0x02
	frameWelcome     frameType = 0x03
	frameError       frameType = 0x04
	framePeerPresent frameType = 0x10
	framePeerGone    frameType = 0x11
	framePeersEnd    frameType = 0x12
	frameSend        frameType = 0x20
	frameRecv        frameType = 0x21
	framePing        frameType = 0x30
	framePong        frameType = 0x31
	frameServerInfo  frameType = 0x80 // optional extension

	// Types from frameOptionalMin up are optional extensions that receivers skip.
	frameOptionalMin frameType = 0x80
)

// optional reports whether receivers that do not know t skip it.
func (t frameType) optional() bool { return t >= frameOptionalMin }

func (t frameType) String() string {
	switch t {
	case frameServerHello:
		return "ServerHello"
	case frameClientHello:
		return "ClientHello"
	case frameWelcome:
		return "Welcome"
	case frameError:
		return "Error"
	case framePeerPresent:
		return "PeerPresent"
	case framePeerGone:
		return "PeerGone"
	case framePeersEnd:
		return "PeersEnd"
	case frameSend:
		return "Send"
	case frameRecv:
		return "Recv"
	case framePing:
		return "Ping"
	case framePong:
		return "Pong"
	case frameServerInfo:
		return "ServerInfo"
	}
	return "type 0x" + hex2(byte(t))
}

func hex2(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}

// Defaults shared by both halves.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultIdleTimeout      = 60 * time.Second
	DefaultPingInterval     = 15 * time.Second
	DefaultSendQueueBytes   = 1 << 20
	DefaultMaxConns         = 10000
	DefaultMinBackoff       = 250 * time.Millisecond
	DefaultMaxBackoff       = 30 * time.Second
)
