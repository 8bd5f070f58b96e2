// Package ice finds direct UDP paths between two nodes: one Session per attempt
// with one peer wraps a pion/ice/v2 agent, carries its signaling as opaque
// messages the caller forwards (over the link's sealed channel, which rides the
// relay), and yields a Path, a datagram route over the selected candidate pair.
// It also has Netcheck, which probes this host's NAT against the rendezvous' STUN
// ports. It does not encrypt or retransmit: the overlay seals every datagram and
// runs KCP end to end over whichever route is current.
//
// # Choices
//
//   - Candidates: host (every non-loopback interface, loopback only when asked)
//     and server-reflexive (the rendezvous' STUN ports), UDP4 and optionally UDP6;
//     peer-reflexive ones are learned by pion from the peer's checks. No mDNS, no
//     TURN: the rendezvous relay is the fallback.
//   - Mapped candidates (Config.PortMapper, pkg/portmap): each IPv4 host
//     candidate's socket is offered to the gateway for a port mapping; the
//     first one granted is sent as a "portmap" candidate (wire type 3; as
//     server-reflexive to peers that do not read it) and released on Close.
//     pion never sees it as a local candidate: the peer's checks to it arrive
//     on the host socket and pion answers them as usual. Path.Method says
//     "portmap" when the selected pair rests on a mapping.
//   - Hard NATs: Config.PeerSeqDelta adds predicted candidates for a peer
//     whose symmetric NAT allocates ports in sequence (pion's own checks then
//     open our filter for the peer's next mapping; Path.Method "predict").
//     BirthdayHard/BirthdayEasy punch a random symmetric NAT from many
//     sockets (birthday.go); the pair found becomes a Path without a pion
//     agent, with the same Send/Done/Err contract.
//   - Signaling (signal.go): each offer is a full snapshot (credentials, every
//     candidate so far, end-of-candidates), sent at once, on every new candidate,
//     on hearing from a peer that does not know us yet, and every 250 ms backing
//     off to 1 s until connected. Loss, duplication, reordering and early
//     delivery therefore need no protocol of their own. Attempt ids make messages
//     of an old attempt harmless and tell a Session that its peer restarted.
//   - Datagrams bypass pion's Conn (sock.go): our transport.Net wraps every socket
//     pion opens; STUN goes to the agent, everything else straight to the
//     caller's onPacket on the socket's read goroutine (no 1 MB agent buffer to
//     overflow). Every socket gets 4 MiB buffers (SO_RCVBUFFORCE when root).
//   - Datagrams move in batches (mmsg.go): Path.Send queues a copy and a
//     goroutine sends what queued up with one sendmmsg call, runs of equal-size
//     datagrams as one UDP GSO buffer each (sender.go); a socket that carries
//     data reads with recvmmsg and UDP GRO (receiver.go). One system call per
//     datagram capped a direct path at ~140 MB/s on loopback here; batched,
//     the syscalls are no longer what limits it. A full send queue drops and
//     counts, never blocks.
//   - Liveness is consent (RFC 7675 style): pion sends a Binding request on the
//     selected pair every KeepaliveInterval (2 s) whether or not data flows, which
//     also keeps NAT bindings (~30 s) open; the Path dies after
//     DisconnectedTimeout (5 s) without an answer. Data does not count as
//     liveness, so a path whose checks fail is dropped even while junk arrives.
//   - pion gives each pair 25 checks (5 s) instead of 7, so late trickled
//     candidates on a lossy relay still punch.
//
// # Files
//
//	config.go    Config and defaults
//	signal.go    the signaling format: pure codec
//	session.go   Session: agent, signaling state machine, Connect, Close
//	path.go      Path: Send, addresses, stats, death
//	sock.go      the sockets: buffers, STUN/data demux, one-off sends
//	sender.go    Path.Send's queue and the goroutine that sends it in batches
//	receiver.go  batched reads of a socket that carries data
//	mmsg.go      sendmmsg/recvmmsg, UDP GSO and GRO, raw socket addresses
//	logging.go   pion's logs into slog at Debug
//	netcheck.go  Netcheck: UDP reachability, public endpoint, NAT mapping (and
//	             sequential or random ports), hairpin, RTT
//	birthday.go  birthday punching (random symmetric <-> easy NAT) and the raw
//	             Path it yields: one socket, our own STUN consent checks
package ice
