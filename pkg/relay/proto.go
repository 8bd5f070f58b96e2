package relay

// # Wire protocol, version 2
//
// One TCP (or TLS, or WebSocket) connection per node. All integers are big-endian. Node
// keys are 32-byte X25519 public keys; a GroupID is 32 bytes (from the group's name), a
// GroupKey a 32-byte Ed25519 public key (from name and secret; see pkg/identity).
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
//	0x02  ClientHello  C->S  version u16 | node key [32] | node proof [32] | instance [8] |
//	                         group id [32] | group key [32] | group signature [64] |
//	                         auth key id [8] | auth proof [32]          (242 bytes)
//	0x03  Welcome      S->C  empty
//	0x04  Error        S->C  code u8 | message (1..1024 bytes UTF-8); the server closes after it
//	0x10  PeerPresent  S->C  node key [32]
//	0x11  PeerGone     S->C  node key [32]
//	0x12  PeersEnd     S->C  empty
//	0x20  Send         C->S  destination key [32] | datagram (0..MaxDatagramLen bytes)
//	0x21  Recv         S->C  source key [32] | datagram
//	0x30  Ping         both  8 opaque bytes
//	0x31  Pong         both  the 8 bytes of the Ping it answers
//	0x80  ServerInfo   S->C  optional: STUN port count n u8 (0..4) | n STUN ports u16 (non-zero) | later fields
//	0x81  GroupInfo    S->C  optional: others u32 | later fields
//
// Handshake. Client: magic. Server: ServerHello (or Error when full). Client:
// ClientHello, which proves three things, each bound to this connection by the
// server's fresh challenge:
//
//	node proof = BLAKE2s-256(key = X25519(node private key, server ephemeral public key),
//	             "meshnode rendezvous proof v2\x00" | challenge | node key | instance | group id | group key)
//	group signature = Ed25519(group admission private key,
//	             "meshnode rendezvous admission v2\x00" | challenge | node key | group id)
//	auth proof = BLAKE2s-256(key = auth key, "meshnode rendezvous auth v2\x00" | challenge |
//	             node key | group id | group key | auth key id)
//
// The node proof shows that the client owns the node key (the server recomputes the
// DH from its ephemeral private key). The group signature, checked against the group
// key, shows that the client holds the group's secret without revealing it: nodes
// meet only members of the same group key, so an outsider never learns who is in a
// group. The auth proof shows that the client holds one of the server's auth keys
// (the key id, 8 bytes of BLAKE2s of the key, names which); an all-zero id and proof
// mean "no auth key", which only an open server accepts. No secret crosses the wire,
// also over plain TCP. The server checks the cheap auth proof first, then the
// X25519 and Ed25519 work. It answers Welcome, or Error{code, message} and closes.
// The whole handshake must finish within the server's handshake timeout (10 s by
// default).
//
// Error codes say why, so a node can explain a refusal in its own words:
//
//	1 protocol  2 server full  3 version  4 no auth key  5 bad auth key  6 auth key expired
//	7 auth key not valid for the group  8 bad node proof  9 bad group signature
//	10 node key already connected  11 too many connections from the address
//	12 shutting down  13 replaced by a newer connection  14 auth key revoked  15 group full
//	16 idle or stuck  17 disconnected by the operator (admin API; the node reconnects)
//
// Presence. Right after Welcome the server sends one PeerPresent per other current
// member of the namespace (the group key), then PeersEnd; afterwards PeerPresent and
// PeerGone as members come and go. Presence carries keys only: names travel between
// members, sealed. Members are keyed by (group key, node key). A second connection
// with the same node key and the same instance (a reconnect of the same process)
// replaces the first: the old one receives Error 13 and is closed, and the other
// members see no Gone/Present pair. With another instance (a second process with the
// same key: a copied state dir, a cloned VM) the server probes the first connection;
// if it answers, the newcomer is refused with Error 10 naming the address and time of
// the first, so the two never knock each other off; if it does not, it is replaced.
//
// ServerInfo. A server that runs other services for nodes (today: STUN, so nodes
// can find their server-reflexive address and probe their NAT) announces them in
// one ServerInfo frame right after Welcome, before the first PeerPresent. The STUN
// ports are UDP ports on the host the client dialed, primary first; a second port
// lets a node tell whether its NAT maps per destination. Fields added later are
// appended after the ports: a receiver ignores payload bytes past the fields it
// knows. A server without anything to announce sends none.
//
// GroupInfo. When other nodes use the same group id under another group key (the
// same group name with a different secret), the server tells a joining node how many
// after PeersEnd, and the members of those other namespaces at most once a minute:
// that is how a node with a wrong secret learns why it sees nobody.
//
// Datagrams. Send{dst, datagram} is looked up among the sender's namespace only and
// forwarded as Recv{src, datagram}; Send and Recv have the same size, so the server
// rewrites the frame in place. An unknown dst is dropped and answered, rate-limited,
// with PeerGone{dst}. A full receiver queue, a sender over its fair share of it, or
// a server over its memory budget drops the datagram; a sender over its rate limit
// is read more slowly.
//
// Keepalive. Either side may Ping; the other answers Pong with the same 8 bytes.
// Clients ping every 15 s and measure RTT; the server closes connections that sent
// nothing for its idle timeout (60 s); a client considers the server dead when it
// received nothing for 2.5 ping intervals.

import (
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
)

// ProtocolVersion is the version this package speaks.
const ProtocolVersion = 2

// Magic is what a client sends first.
const Magic = "MESHRDV1"

// Size limits of the protocol.
const (
	// MaxFrameLen is the largest frame payload.
	MaxFrameLen = 64 << 10
	// MaxDatagramLen is the largest datagram a node can relay.
	MaxDatagramLen = MaxFrameLen - keyLen
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
	instanceLen  = 8
	authIDLen    = 8
	groupSigLen  = identity.GroupSigSize

	serverHelloLen = 2 + challengeLen + keyLen
	clientHelloLen = 2 + keyLen + proofLen + instanceLen + keyLen + keyLen + groupSigLen + authIDLen + proofLen
	groupInfoLen   = 4
)

// Domains separate each proof from every other use of its key.
const (
	proofDomain     = "meshnode rendezvous proof v2\x00"
	admissionDomain = "meshnode rendezvous admission v2\x00"
	authDomain      = "meshnode rendezvous auth v2\x00"
)

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
	frameGroupInfo   frameType = 0x81 // optional extension

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
	case frameGroupInfo:
		return "GroupInfo"
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
	DefaultSendQueueBytes   = 2 << 20 // a lone sender may use half of a receiver's (queue.go)
	DefaultMaxConns         = 10000
	DefaultMinBackoff       = 250 * time.Millisecond
	DefaultMaxBackoff       = 30 * time.Second
)
