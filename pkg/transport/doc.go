// Package transport owns the seam between a node and its rendezvous: a Transport
// turns "host:port" into a byte stream (net.Conn) that the relay protocol
// (pkg/relay) runs over. It is the "Transport" plugin kind of DESIGN.md.
//
// Two transports are built in: TCP (the default) and TLS over TCP. A node picks one
// by configuration; the relay client does not care which.
//
// Out-of-process transports (hashicorp/go-plugin, a later issue; e.g. WebSocket for
// networks that pass only HTTP(S)) implement this same interface on the node's
// side: their Dial returns a net.Conn backed by a socket that the plugin hands over,
// so relay bytes never cross an RPC per packet (see DESIGN.md "Plugins").
//
// The rendezvous side is not part of this package: cmd/rendezvous listens with
// net.Listen("tcp") and wraps the listener with tls.NewListener when it has a
// certificate.
package transport
