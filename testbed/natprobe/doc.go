// Package natprobe classifies the NAT in front of a host, RFC 4787 style, so a
// lab whose NAT rules are wrong fails loudly instead of making results lie.
//
// A Server on the public side listens on two ports of one IP and on a second
// IP. Classify, run on the host behind the NAT, measures with fresh sockets:
// the mapping (same external address toward three destinations or not), the
// filtering (does a reply from the other IP, or only from the other port, get
// through), hairpinning, port preservation, and whether UDP and TCP pass at
// all. Punch makes two hosts send to each other's mapping at once, with or
// without learning the peer's real source (peer-reflexive candidates).
//
// Sockets come from caller-supplied functions, so the same code runs inside
// lab namespaces (lab.Lab.ListenPacket) or on plain hosts.
package natprobe
