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
			{Name: "max-conns", Env: "RENDEZVOUS_MAX_CONNS", Kind: cfgtab.Int, Default: relay.DefaultMaxConns,
				Usage: "accept at most `N` node connections at once; more are refused with an error"},
			{Name: "idle-timeout", Env: "RENDEZVOUS_IDLE_TIMEOUT", Kind: cfgtab.Duration, Default: relay.DefaultIdleTimeout,
				Usage: "close a connection that sent nothing for `DURATION` (nodes ping every 15s)"},
			{Name: "tls-cert", Env: "RENDEZVOUS_TLS_CERT",
				Usage: "serve TLS with this PEM certificate chain `FILE` (needs tls-key)"},
			{Name: "tls-key", Env: "RENDEZVOUS_TLS_KEY",
				Usage: "PEM private key `FILE` of tls-cert"},
			{Name: "log-level", Env: "RENDEZVOUS_LOG_LEVEL", Default: "info", Live: true,
				Usage: "log `LEVEL`: debug, info, warn or error"},
			{Name: "log-format", Env: "RENDEZVOUS_LOG_FORMAT", Default: "text",
				Usage: "log `FORMAT`: text or json"},
		},
	}
}
