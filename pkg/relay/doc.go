// Package relay owns the node<->rendezvous wire protocol, in one place, with both
// halves: the Server that runs inside cmd/rendezvous and the Client that a node
// keeps connected to it. (Modelled on Tailscale's derp package.)
//
// The rendezvous admits a node when it proves, each by a challenge-based proof
// and no secret sent: its X25519 node key, its group's secret (a signature by the
// group's admission key, pkg/identity) and, unless the server is open, one of the
// server's auth keys. It groups nodes by group key, tells each member who else of
// its group is present (keys only: names travel sealed between members), and
// forwards opaque, already end-to-end sealed datagrams between members of one
// group. It never interprets payloads and never lets a node see another group's
// members or traffic. ICE signaling rides inside these datagrams, so the protocol
// has no signaling frame. The wire format is described at the top of proto.go.
//
// # Files
//
//	proto.go, frame.go, msg.go, proof.go  the wire format: constants, pure codecs, the proofs
//	refusal.go, errors.go                 why the server refuses a node (codes), and the errors
//	authkey.go, authfile.go               auth keys: their text form, and the server's keys file
//	queue.go, writer.go, pool.go          per-connection send queue (fair shares, memory budget), batching writer, buffers
//	sockopt.go                            TCP_NOTSENT_LOWAT: keep the backlog in the queue, not the kernel
//	server_reader.go                      the server's read buffer that grows only while busy
//	server*.go, group.go                  the server: accept and limits (Serve, ServeConn), handshake,
//	                                      auth keys and their reload, namespaces, clashes, forwarding,
//	                                      the operator's view (server_admin.go: Nodes, Disconnect)
//	client*.go, presence.go, backoff.go   the client: reconnects, refusals, presence diff, Send
//	addr.go                               rendezvous addresses: host:port or a ws(s):// URL
//
// # Limits
//
// Every bound of the server is in ServerConfig with a default: connections in
// all, per IP address and still handshaking (past that, the oldest handshake is
// evicted, so stalled ones cannot lock nodes out), members per group, the
// handshake, idle and write timeouts, relay rates per node and per group (a node
// over its rate is read more slowly), each queue and all queues together.
//
// # Flow control
//
// Every connection has one reader and one writer goroutine and a send queue bounded
// in bytes. A datagram for a full queue is dropped and counted: a slow receiver
// never blocks the sender's reader, so it cannot stall relaying within a group. A
// sender holds at most a fair share of a receiver's queue, so a flood from one
// member does not crowd out another's traffic to the same receiver.
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
