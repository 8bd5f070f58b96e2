// Package transport owns the seam between a node and its rendezvous: a Transport
// turns the rendezvous address into a byte stream (net.Conn) that the relay
// protocol (pkg/relay) runs over. It is the "Transport" plugin kind of DESIGN.md.
//
// Three transports are built in: TCP (the default), TLS over TCP, and WebSocket
// (ws:// or wss://, for networks that pass only HTTP(S)). A node picks one by
// configuration; the relay client does not care which. CheckAddr tells whether a
// transport takes a rendezvous address (tcp and tls: host:port; websocket: also
// ws:// and wss:// URLs; plugins: host:port or any URL with a host).
//
// A rendezvous with a self-signed or private-CA certificate is reached over tls or
// wss:// with ClientTLSConfig: a CA file that replaces the system roots (like
// curl's --cacert: trusting a private CA should not also trust every public CA for
// the rendezvous' name), and/or a pin of the server key ("sha256:..." of the leaf's
// SubjectPublicKeyInfo, which CertPin computes and the rendezvous prints at start).
// A pin alone authenticates the server by its key, so neither the chain nor the
// name is checked; with a CA file both the chain and the pin must hold. Failures
// say what was expected and what the server presented, and what flag to set.
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
//	addr.go              CheckAddr: does a transport take a rendezvous address
//	tlsconfig.go         TLSOptions -> client tls.Config (CA file, pin); TLS errors explained
//	pin.go               certificate pins: CertPin, ParsePins, the pin check and its error
//	websocket.go         the WebSocket transport: config, Dial, dial errors
//	websocket_env.go     the websocket plugin's environment variables (MESHNODE_WS_*)
//	websocket_url.go     "host:port" or ws(s):// URL to the URL dialled; redaction for errors
//	websocket_conn.go    a WebSocket as a net.Conn (read limit, deadlines as timeouts)
//	websocket_accept.go  the rendezvous' half: upgrade an HTTP request
package transport
