// Package relay owns the node<->rendezvous wire protocol, in one place, with both
// halves: the Server that runs inside cmd/rendezvous and the Client that a node
// keeps connected to it. (Modelled on Tailscale's derp package.)
//
// The rendezvous authenticates nodes by their X25519 node key (a challenge-based
// proof, no secret sent), groups them by GroupID, tells each member who else of its
// group is present, and forwards opaque, already end-to-end sealed datagrams between
// members of one group. It never interprets payloads and never lets a node see
// another group's members or traffic. ICE signaling later rides inside these
// datagrams, so the protocol has no signaling frame. The wire format is described
// at the top of proto.go.
//
// # Files
//
//	proto.go, frame.go, msg.go, proof.go  the wire format: constants, pure codecs, the proof
//	queue.go, writer.go, pool.go          per-connection send queue, batching writer, buffers
//	server_reader.go                      the server's read buffer that grows only while busy
//	server*.go, group.go                  the server: accept (Serve, ServeConn), handshake, membership, forwarding
//	client*.go, presence.go, backoff.go   the client: reconnects, presence diff, Send
//	addr.go                               rendezvous addresses: host:port or a ws(s):// URL
//
// # Flow control
//
// Every connection has one reader and one writer goroutine and a send queue bounded
// in bytes. A datagram for a full queue is dropped and counted: a slow receiver
// never blocks the sender's reader, so it cannot stall relaying within a group.
// Control frames (presence, pongs, errors) are not dropped; a client so slow that
// they overflow its queue (twice the datagram bound) is disconnected and resyncs on
// reconnect. The writer copies batches into a bufio.Writer and flushes when the
// queue is empty; frame buffers are pooled by size class, and the server forwards a
// Send frame as a Recv by rewriting it in place, so the forward path does not
// allocate. An idle server connection holds a 4 KiB read buffer and two parked
// goroutines (about 19 KiB in all, measured by TestIdleConnMemory); a 64 KiB read
// buffer and the write buffer are borrowed from pools only while the connection is
// busy.
package relay
