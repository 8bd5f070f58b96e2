// Command rendezvous is the server that meshnode nodes meet at: it authenticates
// nodes, tells the members of a group about each other and relays their sealed
// datagrams (pkg/relay). It runs in the foreground, logs to stderr with log/slog
// and stops cleanly on SIGINT or SIGTERM, so a plain systemd unit runs it.
//
//	rendezvous [--listen :7749] [--max-conns 10000] [--idle-timeout 60s]
//	           [--tls-cert FILE --tls-key FILE] [--log-level info] [--log-format text]
//
// Every flag can also come from an environment variable (RENDEZVOUS_LISTEN, ...).
// On start it logs one Info line "rendezvous listening" whose addr attribute is the
// bound address; tests start it on 127.0.0.1:0 and read the port from that line.
//
// STUN and the admin API come in later issues; they get their own listeners next
// to the relay's in serve.go.
package main
