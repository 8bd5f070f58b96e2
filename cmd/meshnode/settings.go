package main

import (
	"github.com/meshnode/meshnode/internal/config"
	"github.com/meshnode/meshnode/pkg/control/api"
)

// Built-in cipher and transport names; any other name is a plugin.
const (
	builtinAuto   = "auto"
	builtinChaCha = "chacha20poly1305"
	builtinAESGCM = "aes-256-gcm"
	builtinTCP    = "tcp"
	builtinTLS    = "tls"
)

// upTable is `meshnode up`'s settings: flags, environment variables and config
// file keys come from here (and the README's key table: `go test
// ./cmd/meshnode -run TestREADME -update` rewrites it). Adding a setting is one
// entry here plus its use in upconfig.go.
func upTable() *config.Table {
	return &config.Table{
		Command: "meshnode up",
		Settings: []config.Setting{
			{Name: "config", Env: "MESHNODE_CONFIG", Global: true, FlagOnly: true,
				Usage: "config `FILE` (TOML; keys are the long flag names of 'meshnode up'); default " + defaultConfigFile + " when it exists and no --group is given"},
			{Name: "state", Env: "MESHNODE_STATE", Global: true,
				Usage: "state `DIR` (node key, live mappings and services); default /var/lib/meshnode as root, else ~/.local/state/meshnode"},
			{Name: "control", Env: "MESHNODE_CONTROL", Global: true,
				Usage: "control socket `PATH` of the node (default STATE/control.sock, but /run/meshnode/control.sock for the state dir /var/lib/meshnode, as meshnode.service runs it); give each node on one machine its own"},
			{Name: "group", Env: "MESHNODE_GROUP", Required: true, Usage: "group `NAME` to join"},
			{Name: "rendezvous", Env: "MESHNODE_RENDEZVOUS", Required: true, Usage: "the rendezvous, `HOST:PORT` (or a ws:// or wss:// URL with the websocket transport)"},
			{Name: "rendezvous-ca", Env: "MESHNODE_RENDEZVOUS_CA",
				Usage: "trust only the CA certificates in this PEM `FILE` for the rendezvous' TLS (tls transport, wss://), instead of the system's: a private CA or a self-signed certificate"},
			{Name: "rendezvous-pin", Env: "MESHNODE_RENDEZVOUS_PIN",
				Usage: "accept the rendezvous' TLS certificate by its key: `sha256:HASH` of its public key (the rendezvous logs it at start; several comma-separated for a key rollover); with rendezvous-ca both must hold"},
			{Name: "auth-key-file", Env: "MESHNODE_AUTH_KEY_FILE",
				Usage: "read the rendezvous' auth key from `FILE` (its first word: a line of the rendezvous' keys file works; not readable by other users); needed unless the rendezvous is open"},
			{Name: "auth-key", Env: "MESHNODE_AUTH_KEY", Secret: true,
				Usage: "the rendezvous' auth `KEY` (mnrk1_...); prefer auth-key-file"},
			{Name: "secret", Env: "MESHNODE_SECRET", Secret: true,
				Usage: "group `SECRET` (>= 8 characters; use 20+ random ones). Prefer secret-file: command lines are visible to other users; a config file holding it must not be world-readable"},
			{Name: "secret-file", Env: "MESHNODE_SECRET_FILE", Usage: "read the group secret from `FILE` (not world-readable)"},
			{Name: "name", Env: "MESHNODE_NAME", Usage: "this node's `NAME` (default: the host name)"},
			{Name: "serve", Kind: config.List, FlagOnly: true,
				Usage: "serve `SPEC` to the group: SERVEID=HOST:PORT[,name=X][,info=Y][,proto=udp][,max-conns=N][,rate=1MB][,idle-timeout=5m][,proxy-protocol=v2] (repeatable); in the config file: [serve.NAME] sections"},
			{Name: "relay-only", Env: "MESHNODE_RELAY_ONLY", Kind: config.Bool, Usage: "never look for direct paths: every link stays on the relay (networks that forbid UDP; debugging)"},
			{Name: "no-port-mapping", Env: "MESHNODE_NO_PORT_MAPPING", Kind: config.Bool,
				Usage: "do not ask the gateway (PCP, NAT-PMP, UPnP IGD) to map a port for direct paths"},
			{Name: "no-hard-nat", Env: "MESHNODE_NO_HARD_NAT", Kind: config.Bool,
				Usage: "after plain ICE failed, do not try the hard-NAT methods (port prediction toward sequential symmetric NATs, birthday punching toward random ones: bursts of UDP packets to many ports that some networks flag)"},
			{Name: "direct-only", Env: "MESHNODE_DIRECT_ONLY", Kind: config.Bool, Usage: "move data only over direct paths (debugging: relayed peers get nothing)"},
			{Name: "ice-interfaces", Env: "MESHNODE_ICE_INTERFACES", Kind: config.List,
				Usage: "only these network interfaces, `IF[,IF]`, give direct-path candidates (repeatable; default all but loopback; \"lo\" adds loopback)"},
			{Name: "cipher", Env: "MESHNODE_CIPHER", Default: builtinAuto,
				Usage: "link cipher `NAME`: " + builtinAuto + " (" + builtinAESGCM + " where both nodes' CPUs have AES instructions, else " + builtinChaCha + ", chosen per link), " + builtinChaCha + " or " + builtinAESGCM + " (only that suite; an " + builtinAuto + " peer falls back to " + builtinChaCha + "), or a plugin (meshnode-cipher-NAME in plugin-dir; the same in the whole group)"},
			{Name: "transport", Env: "MESHNODE_TRANSPORT", Default: builtinTCP,
				Usage: "how to reach the rendezvous, `NAME`: built-in " + builtinTCP + " or " + builtinTLS + ", or a plugin (meshnode-transport-NAME, e.g. websocket)"},
			{Name: "plugin-dir", Env: "MESHNODE_PLUGIN_DIR", Usage: "`DIR` with plugin executables (default: plugins/ beside the meshnode executable if it exists, else PREFIX/lib/meshnode/plugins for PREFIX/bin/meshnode)"},
			{Name: "api", Env: "MESHNODE_API",
				Usage: "serve the HTTP API and the dashboard on `ADDR`: HOST:PORT, a bare PORT or \"on\" (127.0.0.1, port " + defaultAPIPort + "); off by default. Needs the key of api-key-file"},
			{Name: "api-key-file", Env: "MESHNODE_API_KEY_FILE",
				Usage: "the HTTP API's key `FILE` (default STATE/api.key, generated 0600 when absent); clients send it as Authorization: Bearer KEY or X-API-Key"},
			{Name: "api-tls-cert", Env: "MESHNODE_API_TLS_CERT", Usage: "serve the HTTP API over HTTPS with this PEM certificate `FILE` (with api-tls-key)"},
			{Name: "api-tls-key", Env: "MESHNODE_API_TLS_KEY", Usage: "the PEM private key `FILE` of api-tls-cert (not readable by other users)"},
			{Name: "metrics", Env: "MESHNODE_METRICS",
				Usage: "serve Prometheus metrics at http://`ADDR`/metrics (host:port; a bare port or :port listens on 127.0.0.1; plain HTTP without auth: keep it on loopback or a private network); \"\" = off"},
			{Name: "socks5", Env: "MESHNODE_SOCKS5",
				Usage: "serve a SOCKS5 proxy entry on `ADDR` (e.g. 127.0.0.1:1080): apps reach services by name, SERVEID.mesh or NAME.NODE.mesh (curl --socks5-hostname; UDP ASSOCIATE for UDP services)"},
			{Name: "http-proxy", Env: "MESHNODE_HTTP_PROXY",
				Usage: "serve an HTTP proxy entry on `ADDR` (e.g. 127.0.0.1:8080): CONNECT and http:// URLs to SERVEID.mesh or NAME.NODE.mesh"},
			{Name: "proxy-user", Env: "MESHNODE_PROXY_USER",
				Usage: "`USER` the proxy entries require (SOCKS5 username/password, HTTP Basic), with proxy-password-file; required when an entry listens beyond loopback"},
			{Name: "proxy-password-file", Env: "MESHNODE_PROXY_PASSWORD_FILE",
				Usage: "read the proxy entries' password from `FILE` (not readable by other users)"},
			{Name: "proxy-fallthrough", Env: "MESHNODE_PROXY_FALLTHROUGH", Kind: config.Bool,
				Usage: "let the proxy entries reach names outside .mesh from this node (off: they are refused, the entry is no open proxy)"},
			{Name: "allow-adhoc", Env: "MESHNODE_ALLOW_ADHOC", Kind: config.Bool,
				Usage: "let the group's members ask for ad-hoc access to targets this node never declared ('meshnode map 127.0.0.1:8888@NODE PORT'); off by default"},
			{Name: "adhoc-remote", Env: "MESHNODE_ADHOC_REMOTE", Kind: config.Bool,
				Usage: "ad-hoc targets may be any address this node reaches (off: only its loopback); narrow it with adhoc-allow"},
			{Name: "adhoc-allow", Env: "MESHNODE_ADHOC_ALLOW", Kind: config.List,
				Usage: "with adhoc-remote, only these targets: `CIDR[:PORT[-PORT]]` (repeatable; \"10.0.0.0/8:22\", \"192.168.1.0/24:8000-8100\")"},
			{Name: "adhoc-max", Env: "MESHNODE_ADHOC_MAX", Kind: config.Int, Default: 1,
				Usage: "ad-hoc services at once, `N` (vnet's unserve_num)"},
			{Name: "adhoc-unused-expiry", Env: "MESHNODE_ADHOC_UNUSED_EXPIRY", Default: "3m",
				Usage: "an ad-hoc service never used goes after `DURATION`"},
			{Name: "adhoc-idle-expiry", Env: "MESHNODE_ADHOC_IDLE_EXPIRY", Default: "1m",
				Usage: "an ad-hoc service goes `DURATION` after its last connection closed"},
			{Name: "log-level", Env: "MESHNODE_LOG_LEVEL", Default: "info", Live: true, Usage: "log `LEVEL`: debug, info, warn or error"},
			{Name: "log-format", Env: "MESHNODE_LOG_FORMAT", Default: "text", Usage: "log `FORMAT`: text or json"},
		},
		Sections: []config.Section{
			{Name: "serve", Live: true, Doc: "a service this node serves to its group (like --serve); NAME is the service name unless `name` is given",
				Keys: []config.Setting{
					{Name: "serveid", Kind: config.Int, Usage: "500-999 static, 1-499 dynamic, 0 or absent: the mesh assigns a free dynamic one"},
					{Name: "target", Required: true, Usage: "the local `HOST:PORT` the service forwards to"},
					{Name: "name", Usage: "service name (map it as NAME@NODE); default the section's NAME"},
					{Name: "proto", Default: "tcp", Usage: "tcp or udp"},
					{Name: "info", Usage: "free-form text shown in 'meshnode services'"},
					{Name: "active", Kind: config.Bool, Default: true, Usage: "false: declared but not served"},
					{Name: "max-conns", Kind: config.Int, Usage: "connections open at once; more are refused at once (0: the node's default, 4096)"},
					{Name: "rate", Usage: "bytes per second in each direction, shared by the service's connections: \"1MB\", \"500KiB\" (TCP; \"\": no limit)"},
					{Name: "idle-timeout", Usage: "close a connection that moved nothing for this long: \"5m\" (TCP; \"\": never)"},
					{Name: "proxy-protocol", Usage: "\"v1\" or \"v2\": send the target a PROXY protocol header with the real client's address (v2 also the mesh node's ID)"},
				}},
			{Name: "use", Live: true, Doc: "a mapping (vnet's \"use\", like 'meshnode map'): a local port forwarding to a group service",
				Keys: []config.Setting{
					{Name: "service", Required: true, Usage: "the service: a serveid (\"700\") or NAME@NODE"},
					{Name: "port", Kind: config.Int, Required: true, Usage: "local port to listen on (1-65535)"},
					{Name: "bind", Default: api.DefaultBind, Usage: "local address to listen on"},
					{Name: "proto", Default: "tcp", Usage: "tcp or udp: the service's protocol"},
					{Name: "active", Kind: config.Bool, Default: true, Usage: "false: declared but not mapped"},
					{Name: "max-conns", Kind: config.Int, Usage: "connections open at once; more are refused at once (0: the node's default, 4096)"},
					{Name: "rate", Usage: "bytes per second in each direction, shared by the mapping's connections (TCP; \"\": no limit)"},
					{Name: "idle-timeout", Usage: "close a connection that moved nothing for this long (TCP; \"\": never)"},
				}},
		},
	}
}
