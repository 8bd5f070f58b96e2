package main

import (
	cfgtab "github.com/meshnode/meshnode/internal/config"
	"github.com/meshnode/meshnode/pkg/relay"
	"github.com/meshnode/meshnode/pkg/transport"
)

// settings is the rendezvous' table: its flags, environment variables and
// config-file keys come from here (and the README's key table: `go test
// ./cmd/rendezvous -run TestREADMEConfigTable -update` rewrites it). Adding a
// setting is one entry here, plus its field in parseConfig and, if a reload
// can apply it (Live), a line in applyConfig.
func settings() *cfgtab.Table {
	return &cfgtab.Table{
		Command: "rendezvous",
		Settings: []cfgtab.Setting{
			{Name: "config", Env: "RENDEZVOUS_CONFIG", FlagOnly: true,
				Usage: "config `FILE` (TOML; keys are the long flag names); SIGHUP re-reads it"},
			{Name: "listen", Env: "RENDEZVOUS_LISTEN", Default: ":7749",
				Usage: "listen for nodes on `ADDR` (host:port)"},
			{Name: "ws-listen", Env: "RENDEZVOUS_WS_LISTEN",
				Usage: "also serve nodes over WebSocket, on HTTP (HTTPS with tls-cert) `ADDR` (host:port), for networks that pass only HTTP(S); \"\" = off"},
			{Name: "ws-path", Env: "RENDEZVOUS_WS_PATH", Default: transport.WebSocketPath,
				Usage: "the HTTP `PATH` of the WebSocket endpoint; nodes must dial a URL with this path; other paths get 404"},
			{Name: "stun", Env: "RENDEZVOUS_STUN", Default: ":3478",
				Usage: "answer STUN binding requests on UDP `ADDR`; \"\" disables STUN (and stun2)"},
			{Name: "stun2", Env: "RENDEZVOUS_STUN2", Default: ":3479",
				Usage: "a second STUN UDP `ADDR`, so nodes can tell whether their NAT maps per destination; \"\" disables it"},
			{Name: "auth-keys", Env: "RENDEZVOUS_AUTH_KEYS", Live: true,
				Usage: "admit only nodes that hold a key from this `FILE` (one per line, made by 'rendezvous keygen'; mode 0600); SIGHUP re-reads it and disconnects the nodes of removed keys"},
			{Name: "open", Env: "RENDEZVOUS_OPEN", Kind: cfgtab.Bool,
				Usage: "run without auth-keys on an address other machines can reach: a public relay for anyone (without it, such a rendezvous refuses to start)"},
			{Name: "max-conns", Env: "RENDEZVOUS_MAX_CONNS", Kind: cfgtab.Int, Default: relay.DefaultMaxConns,
				Usage: "accept at most `N` node connections at once; more are refused with an error"},
			{Name: "max-conns-per-ip", Env: "RENDEZVOUS_MAX_CONNS_PER_IP", Kind: cfgtab.Int, Default: relay.DefaultMaxConnsPerIP,
				Usage: "accept at most `N` connections from one IP address (nodes behind one NAT share one); 0 = no limit"},
			{Name: "max-handshaking", Env: "RENDEZVOUS_MAX_HANDSHAKING", Kind: cfgtab.Int, Default: relay.DefaultMaxHandshaking,
				Usage: "at most `N` connections in the handshake; a newer one evicts the oldest, so stalled handshakes cannot lock nodes out"},
			{Name: "max-group-members", Env: "RENDEZVOUS_MAX_GROUP_MEMBERS", Kind: cfgtab.Int, Default: relay.DefaultMaxGroupMembers,
				Usage: "at most `N` nodes in one group; 0 = no limit"},
			{Name: "relay-rate", Env: "RENDEZVOUS_RELAY_RATE", Default: "0",
				Usage: "relay at most `BYTES` per second for each node (e.g. 20MB, 100MiB; 0 = no limit); a node over it is read more slowly"},
			{Name: "relay-burst", Env: "RENDEZVOUS_RELAY_BURST", Default: "0",
				Usage: "`BYTES` a node may send at once above relay-rate (default: a quarter of a second's worth)"},
			{Name: "group-relay-rate", Env: "RENDEZVOUS_GROUP_RELAY_RATE", Default: "0",
				Usage: "relay at most `BYTES` per second for each group, all its nodes together (0 = no limit)"},
			{Name: "queue-memory", Env: "RENDEZVOUS_QUEUE_MEMORY", Default: "256MiB",
				Usage: "`BYTES` all nodes' send queues may hold together; beyond, datagrams are dropped and counted"},
			{Name: "handshake-timeout", Env: "RENDEZVOUS_HANDSHAKE_TIMEOUT", Kind: cfgtab.Duration, Default: relay.DefaultHandshakeTimeout,
				Usage: "close a connection that has not finished the handshake after `DURATION`"},
			{Name: "idle-timeout", Env: "RENDEZVOUS_IDLE_TIMEOUT", Kind: cfgtab.Duration, Default: relay.DefaultIdleTimeout,
				Usage: "close a connection that sent nothing for `DURATION` (nodes ping every 15s)"},
			{Name: "write-timeout", Env: "RENDEZVOUS_WRITE_TIMEOUT", Kind: cfgtab.Duration, Default: relay.DefaultWriteTimeout,
				Usage: "close a connection that took no data for `DURATION` (a node that stopped reading)"},
			{Name: "tls-cert", Env: "RENDEZVOUS_TLS_CERT",
				Usage: "serve TLS with this PEM certificate chain `FILE` (needs tls-key)"},
			{Name: "tls-key", Env: "RENDEZVOUS_TLS_KEY",
				Usage: "PEM private key `FILE` of tls-cert"},
			{Name: "metrics", Env: "RENDEZVOUS_METRICS",
				Usage: "serve Prometheus metrics at http://`ADDR`/metrics (host:port; a bare port or :port listens on 127.0.0.1; plain HTTP without auth, no node IDs in it); \"\" = off"},
			{Name: "admin", Env: "RENDEZVOUS_ADMIN",
				Usage: "serve the admin API (connected nodes, disconnect one, /metrics) on HTTP `ADDR` (host:port; a bare port or :port listens on 127.0.0.1), behind admin-key-file's key; \"\" = off"},
			{Name: "admin-key-file", Env: "RENDEZVOUS_ADMIN_KEY_FILE",
				Usage: "the admin API's key, in `FILE` (created with a new random key, mode 0600, when it does not exist); required with admin"},
			{Name: "log-level", Env: "RENDEZVOUS_LOG_LEVEL", Default: "info", Live: true,
				Usage: "log `LEVEL`: debug, info, warn or error"},
			{Name: "log-format", Env: "RENDEZVOUS_LOG_FORMAT", Default: "text",
				Usage: "log `FORMAT`: text or json"},
		},
	}
}
