// Package stunsrv is the rendezvous' STUN server: it answers STUN Binding requests
// (RFC 8489) on UDP with the source address it saw (XOR-MAPPED-ADDRESS), which is
// how a node behind a NAT learns its public endpoint (ICE's server-reflexive
// candidate) and, by asking two ports of one server, whether its NAT maps per
// destination (pkg/ice's netcheck).
//
// It is deliberately small and stateless: no authentication (a Binding response
// tells the asker nothing it could not see itself), no TURN, no RFC 5780
// CHANGE-REQUEST, no error responses. It lives in its own package so that the
// rendezvous binary does not link the ICE agent.
//
// # What gets an answer
//
// Only a well-formed Binding request, checked by its own strict parser rather
// than a general STUN decoder: 20..1280 bytes, the two top bits zero, type 0x0001
// (method Binding, class request), the magic cookie, a length that is a multiple
// of 4 and exactly the datagram's, attributes that tile the message exactly, no
// comprehension-required attribute other than an ICE check's (USERNAME,
// MESSAGE-INTEGRITY(-SHA256), PRIORITY, USE-CANDIDATE; RFC 8489 would answer any
// other with a 420 error, and this server sends no errors), and a FINGERPRINT, if
// present, that is last, 4 bytes, and the right CRC. Responses, indications, other
// methods, broken framing and garbage are dropped and counted (Stats), never
// answered and never logged per packet.
//
// # Amplification
//
// The rule: an answer takes at most 1.5 times the bytes on the wire (IP + UDP +
// STUN) of the request it answers. Answers have a fixed shape, the header and
// XOR-MAPPED-ADDRESS, plus FINGERPRINT only when the request carried one, so
// their sizes are (TestSizes pins them):
//
//	request                             IPv4, bytes on the wire    IPv6, bytes on the wire
//	bare header, 20 B (pion's ICE)      48 -> 60, x1.25            68 -> 92, x1.35
//	with FINGERPRINT, 28 B (netcheck)   56 -> 68, x1.21            76 -> 100, x1.32
//
// In STUN payload alone that is 20 -> 32 B (x1.6) and 28 -> 40 B (x1.43) over
// IPv4, 20 -> 44 B (x2.2) and 28 -> 52 B (x1.86) over IPv6; no answer exceeds 52
// bytes. A request whose answer would break the rule is not answered (none can,
// as answers are built; the check guards the invariant). On top of the size rule,
// answers are rate-limited per source IP and socket (Config.RatePerIP, default
// 100/s) and for the whole server (Config.MaxRate, default 10,000/s): a spoofed
// flood from any number of addresses gets at most ~1 MB/s (10,000 x 100 B) out of
// the STUN ports, one victim address at most 100 answers per second per port.
//
// # Files
//
//	server.go    Config, Stats, Serve: read, admit, answer
//	request.go   the strict Binding request parser
//	response.go  the answer and the amplification rule
//	limit.go     per-source and global rate limits
package stunsrv
