// Package overlay is the node: it owns the peers of a group, the link to each peer,
// the streams multiplexed over a link, the catalog of services the group serves, and
// the local mappings that make a remote service reachable on a local port.
//
// # Data path
//
// A mapped TCP connection becomes one smux stream; streams of a peer share one KCP
// session (reliable, ordered, congestion-controlled); KCP's datagrams are sealed by
// the link's seal.Channel (Noise IKpsk2 keys, AEAD per datagram, replay window) and
// sent on the link's current route. The route is the only thing that may change
// under an open link (the relay, or an ICE-selected UDP path), which is why KCP
// runs end to end over a net.PacketConn of our own (kcpConn) rather than over a
// socket: streams survive route switches.
//
// # Routes
//
// A link's route (route.go) is where its sealed packets go: the relay, or a
// direct path. The relay is a Relay (relay.go): pkg/relay's rendezvous client
// in a running node, an in-memory hub in tests. The send and receive sides of a
// link each read top to bottom in one file (send.go, receive.go).
//
// Every link starts on the relay at once. When its first session is up, a
// pathFinder (path.go) runs ICE with the peer in the background, signaling as
// sealed link messages; when a pair connects the route switches to it, and when
// consent checks fail it falls back to the relay and ICE retries with backoff.
// Each change is one log line ("peer path changed") and an api.Event. After a
// plain attempt failed, the next one adds what the two NATs call for (path.go,
// birthday.go): the gateway's port mapping is always offered; port prediction
// toward a sequential symmetric NAT; lockstep prediction between two of
// them; birthday punching between a random symmetric NAT and an
// endpoint-independent one (the last two coordinated by msgHard). Handshake
// packets take both routes, so a peer that restarted behind the old direct path
// can still re-key. Nodes tell each other what their netcheck found (nat.go), so
// either side can say why a link is relayed; ping.go measures the current route.
//
// # Link generations
//
// The KCP+smux pair of a link is a "generation", named by the two sides' epochs: a
// random value each side puts in its handshake hello. A rekey keeps both epochs, so
// the generation (and every open stream) survives it. A peer that restarted, or that
// tore its generation down, comes back with a new epoch, and both sides then replace
// their generation: stale KCP state can never wedge a link. The KCP conversation id
// is derived from both epochs, so packets of an old generation are dropped by the new.
//
// # Cut-off connections
//
// A spliced connection ends cleanly only one way: its sender half-closes, which
// travels as the stream's end-of-data marker (chunk.go) and becomes a FIN on the
// other side. Every other end is a cut-off, and splice passes it on as one: the
// local TCP connection is reset (SO_LINGER 0, an RST) and the stream is closed
// without its marker, so neither the mapped client nor the service can take a
// cut-off download for a complete one. smux cannot tell a stream of a dead
// session from a stream the peer closed (both read io.EOF or io.ErrClosedPipe),
// so a stream knows its generation, and a generation records why it went down
// (the peer went silent, restarted, left; this node stops). A generation from
// which nothing authentic arrived for linkSilenceLimit (15 s; 3 s after the peer
// said goodbye) is taken down, so a peer that died (kill -9, a lost network)
// cuts its transfers off within that bound; smux's keepalive is only a backstop.
// The node logs one warning per cut-off (rate-limited): "mapped connection cut
// off" or "served connection cut off", with the peer and why.
//
// # Entries other than mappings
//
// DialService and DialServiceUDP (dial.go) reach a service by its spec for a
// front door that is not a mapped port (the SOCKS5/HTTP proxy entry). Unlike a
// mapping's connection, which writes at once and learns of a refusal on its
// first read, they wait for the serving node's answer, so that the entry can
// reply with the right code; their errors wrap ErrNoService, ErrWrongProto,
// ErrServiceRefused or ErrUnreachable.
//
// # Rendezvous outages
//
// A link whose route is the relay moves nothing while this node is not connected
// to the rendezvous (or the peer is not): api.PeerInfo.State says so (an api.LinkState),
// its services show as unreachable, and a new stream over it fails at once with
// the reason instead of waiting for OpenTimeout. Streams in flight wait: if the
// rendezvous is back within linkSilenceLimit, KCP retransmits and they resume;
// after that they are cut off as above. Direct links carry on meanwhile.
//
// # Membership and catalog
//
// Every node links to every member of its group it learns of (from the
// rendezvous' presence list or from gossip; both sides initiate, the seal channel
// converges). Membership and the catalog of services are gossiped with
// hashicorp/memberlist over those links (gossip.go, gossip_transport.go), so they
// keep working without the rendezvous wherever links have a direct path. A
// link's handshake response also carries the responder's catalog entry (when it
// fits a hello), so a node that just came up can map a peer's service one round
// trip after the link, without waiting for gossip's push/pull. serveid
// rules (services.go): 500-999 static and never moved, 1-499 dynamic; a dynamic
// serveid claimed twice goes to the earlier claim and the other owner moves; a
// static one claimed twice is an error both owners report.
//
// A link lives while its peer is at the rendezvous or a member of the group, and
// a grace period beyond, so a rendezvous restart does not break open streams.
//
// # What the control API sees
//
// The node's exported query and change methods (Status, Peers, Services,
// Mappings, AddMapping, LocalServices, AddService, Ping, Subscribe) answer in
// the control API's types (pkg/control/api, a leaf package of plain structs):
// what the node reports is the API's JSON, with no copy in between. Service,
// the catalog's gossiped form, stays here: the API's Service has the same
// fields (a Go conversion between the two fails to compile if they drift), so
// the gossip wire format does not change with the API. Netcheck answers
// ice.Report; pkg/control converts it.
//
// # Metrics
//
// Node.Metrics (stats.go) is a snapshot for monitoring: the links' and
// mappings' own counters, read at call time, and event counters (path
// changes, ICE attempts, handshakes) kept as atomic adds in fixed arrays
// indexed by small reason sets, so no error text becomes a label. Nothing on
// the per-packet path is added for it; mappings and served connections count
// bytes once per copied buffer (splice.go), UDP flows once per datagram. pkg/metrics turns the snapshot into Prometheus series:
// this package does not import Prometheus.
package overlay
