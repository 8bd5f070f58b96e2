// Command rendezvous is the server that meshnode nodes meet at: it authenticates
// nodes, tells the members of a group about each other and relays their sealed
// datagrams (pkg/relay), and answers STUN Binding requests on UDP (pkg/stunsrv) so
// nodes can learn their public endpoint for hole punching. It runs in the foreground, logs to stderr with log/slog
// and stops cleanly on SIGINT or SIGTERM, so a plain systemd unit runs it.
//
//	rendezvous [--listen :7749] [--stun :3478] [--stun2 :3479] [--max-conns 10000] [--idle-timeout 60s]
//	           [--tls-cert FILE --tls-key FILE] [--log-level info] [--log-format text]
//
// Every flag can also come from an environment variable (RENDEZVOUS_LISTEN, ...).
// On start it logs one Info line "rendezvous listening" whose addr attribute is the
// bound address; tests start it on 127.0.0.1:0 and read the port from that line.
// The same line ends with the bound STUN addresses (stun=ADDR stun2=ADDR, or
// stun=off).
//
// STUN: two UDP ports, so a node can compare the mappings its NAT gives toward
// each (same external port: endpoint-independent mapping; different: "symmetric").
// The ports are announced to nodes in the relay protocol's ServerInfo frame; nodes
// use them on the host they dialed. --stun "" turns STUN off. When the addresses
// are the defaults and a port is taken (a second rendezvous on one host), the
// rendezvous warns and runs without STUN rather than failing; an address given by
// flag or environment must bind.
//
// The admin API comes in a later issue; it gets its own listener next to the
// relay's in serve.go.
package main
