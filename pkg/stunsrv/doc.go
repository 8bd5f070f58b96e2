// Package stunsrv is the rendezvous' STUN server: it answers STUN Binding requests
// (RFC 8489) on UDP with the source address it saw (XOR-MAPPED-ADDRESS), which is
// how a node behind a NAT learns its public endpoint (ICE's server-reflexive
// candidate) and, by asking two ports of one server, whether its NAT maps per
// destination (pkg/ice's netcheck).
//
// It is deliberately small and stateless: no authentication (a Binding response
// tells the asker nothing it could not see itself), no TURN, no RFC 5780
// CHANGE-REQUEST. Anything that is not a well-formed Binding request is dropped and
// counted, never answered and never logged per packet; answers are rate-limited per
// source IP, so the server cannot be used to reflect a flood (a response is about
// twice as long as the smallest request). It lives in its own package so that the
// rendezvous binary does not link the ICE agent.
package stunsrv
