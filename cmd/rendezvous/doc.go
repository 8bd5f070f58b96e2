// Command rendezvous is the server that meshnode nodes meet at: it authenticates
// nodes, tells the members of a group about each other and relays their sealed
// datagrams (pkg/relay), and answers STUN Binding requests on UDP (pkg/stunsrv) so
// nodes can learn their public endpoint for hole punching. It runs in the foreground, logs to stderr with log/slog
// and stops cleanly on SIGINT or SIGTERM, so a plain systemd unit runs it.
//
//	rendezvous [--config FILE] [--listen :7749] [--ws-listen ADDR [--ws-path /meshnode/v1/relay]]
//	           [--stun :3478] [--stun2 :3479] [--max-conns 10000] [--idle-timeout 60s]
//	           [--tls-cert FILE --tls-key FILE] [--metrics ADDR] [--admin ADDR --admin-key-file FILE]
//	           [--log-level info] [--log-format text]
//
// Every setting is a flag, an environment variable (RENDEZVOUS_LISTEN, ...) and
// a key of the TOML config file (--config, RENDEZVOUS_CONFIG; keys are the long
// flag names): one table in settings.go makes all three (internal/config), with
// precedence flag > env > file > default; --print-config shows the result.
// SIGHUP re-reads the file (reload.go): a file with an error is rejected whole;
// otherwise applyConfig, the one place a reload's new configuration takes
// effect, applies the live settings (log-level today) and reports the others
// as needing a restart, in one log line.
// On start it logs one Info line "rendezvous listening" whose addr attribute is the
// bound address; tests start it on 127.0.0.1:0 and read the port from that line.
// Next comes ws=ADDR, the bound WebSocket address (or ws=off), and the line ends
// with the bound STUN addresses (stun=ADDR stun2=ADDR, or stun=off).
//
// WebSocket: for nodes on networks that pass only HTTP(S), --ws-listen ADDR also
// serves the relay over WebSocket (websocket.go): HTTP on ADDR, HTTPS with the
// --tls-cert certificate when one is given. A GET upgrade on --ws-path becomes a
// connection of the same relay server as the TCP ones (same groups, --max-conns,
// --idle-timeout); nodes use meshnode's websocket transport with host:port (the
// default path) or a ws:// or wss:// URL. Other paths get 404, plain requests on
// the path 426, each with a short text saying what this endpoint is, and one
// debug log line; a WebSocket message above 128 KiB ends its connection. The 404
// does not name the configured path.
//
// STUN: two UDP ports, so a node can compare the mappings its NAT gives toward
// each (same external port: endpoint-independent mapping; different: "symmetric").
// The ports are announced to nodes in the relay protocol's ServerInfo frame; nodes
// use them on the host they dialed. --stun "" turns STUN off. When the addresses
// are the defaults and a port is taken (a second rendezvous on one host), the
// rendezvous warns and runs without STUN rather than failing; an address given by
// flag or environment must bind.
//
// Monitoring: --metrics ADDR serves Prometheus metrics (pkg/metrics) at
// /metrics over plain HTTP; --admin ADDR serves the admin API (admin.go: the
// connected nodes, disconnecting one, the same /metrics) behind the key in
// --admin-key-file (created, 0600, when absent), as a Bearer token compared in
// constant time. A bare port or :port listens on 127.0.0.1. Both bound
// addresses end the "rendezvous listening" line (metrics=ADDR admin=ADDR).
//
// Files: settings.go (the settings table), app.go (the command, checking the
// configuration), reload.go (SIGHUP), serve.go (listeners, STUN, the relay
// server, the metrics and admin listeners), websocket.go (the WebSocket
// endpoint), admin.go (the admin API and its key), main.go (process entry).
package main
