// Package portmap asks the local gateway to forward a UDP port to this host:
// PCP (RFC 6887), NAT-PMP (RFC 6886) and UPnP IGD, tried in that order. A node
// maps the port of each ICE session's host socket and offers the mapped
// address as a candidate (pkg/ice), so a peer can reach it through a NAT that
// would otherwise let nothing in (a symmetric NAT on a home router that maps
// ports).
//
// # Choices
//
//   - NAT-PMP and PCP are small fixed-format UDP exchanges with port 5351 of
//     the gateway: our own codec (wire.go, fuzzed), as Tailscale does. UPnP IGD
//     uses github.com/huin/goupnp's generated SOAP clients; the SSDP search and
//     the device description fetch are ours, so every request goes to the
//     gateway only (an answer or URL naming another host is ignored) and no
//     package-level HTTP client of goupnp's is touched.
//   - The gateway is the default route's (read at every probe and mapping, so a
//     network change is followed); requests are sent from the address the
//     kernel uses toward it, which is the only address a mapping may forward to
//     (PCP and miniupnpd's secure mode insist).
//   - A mapping asks for a 2-hour lifetime and is renewed at half of what the
//     gateway granted (suggesting the same external port); a failed renewal is
//     logged once and retried every 15 s. Close deletes it. UPnP gateways that
//     lease only forever (error 725) get a permanent mapping, deleted on Close.
//   - Sockets and dials go through Config hooks (default: package net), so the
//     lab tests can run the client inside a network namespace.
//
// # Files
//
//	wire.go     NAT-PMP and PCP messages: pure codec
//	client.go   Client (Probe, Map, Status), Mapping (renewal, Close), the exchange
//	upnp.go     UPnP IGD: SSDP search, device description, AddPortMapping
package portmap
