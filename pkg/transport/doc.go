// Package transport owns the seam between a node and its rendezvous: a Transport
// turns the rendezvous address into a byte stream (net.Conn) that the relay
// protocol (pkg/relay) runs over. It is the "Transport" plugin kind of DESIGN.md.
//
// Three transports are built in: TCP (the default), TLS over TCP, and WebSocket
// (ws:// or wss://, for networks that pass only HTTP(S)). A node picks one by
// configuration; the relay client does not care which.
//
// Out-of-process transports (hashicorp/go-plugin, a later issue) implement this
// same interface on the node's side: their Dial returns a net.Conn backed by a
// socket that the plugin hands over, so relay bytes never cross an RPC per packet
// (see DESIGN.md "Plugins").
//
// The rendezvous side of TCP and TLS is not part of this package: cmd/rendezvous
// listens with net.Listen("tcp") and wraps the listener with tls.NewListener when
// it has a certificate. For WebSocket, the framing both halves must agree on
// (binary messages, WebSocketMaxMessage, no compression) lives here, in
// AcceptWebSocket; cmd/rendezvous runs the HTTP server and routes WebSocketPath
// (or its --ws-path) to it.
//
// # Files
//
//	transport.go         the interface, TCP and TLS
//	websocket.go         the WebSocket transport: config, Dial, dial errors
//	websocket_url.go     "host:port" or ws(s):// URL to the URL dialled; redaction for errors
//	websocket_conn.go    a WebSocket as a net.Conn (read limit, deadlines as timeouts)
//	websocket_accept.go  the rendezvous' half: upgrade an HTTP request
package transport
