// Command meshnode: `meshnode up` runs a node in the foreground; the other verbs
// drive the running node through its control socket (pkg/control).
//
// The CLI accepts what people type: flags may follow positional arguments
// (`meshnode map 700 2222 --bind 0.0.0.0`), global flags (--state, --control,
// --config) and --json may stand before or after the verb, `--` ends flags,
// extra arguments are an error. urfave/cli stops parsing flags at the first
// positional argument, so args.go puts each command line in the order urfave
// wants first, driven by the command's own flag definitions (which flags take
// a value).
//
// Configuration: `up`'s settings are one table (settings.go, machinery in
// internal/config) from which its flags, the TOML config file's keys and the
// README's key table come. Services and mappings declared by the file
// ([serve.NAME], [use.NAME]) or --serve are the declared state; `serve add`
// and `map` make live changes, kept in the state dir. A reload (SIGHUP or
// `meshnode reload`) re-reads the file and applies what changed to the
// declared state and live settings (daemon.go, declare.go); it never touches
// live items.
//
// Files: main.go (process entry, env), app.go (the command tree), args.go
// (argument order), verb.go (argument counts, shared flags), settings.go (the
// table), globals.go (state dir, control socket, which config file),
// upconfig.go (settings -> checked config), up.go (the `up` verb: node,
// control API, --metrics listener (pkg/metrics), SIGHUP), apiconfig.go (--api and its key
// and TLS settings; opening and serving the HTTP API), daemon.go (reload, down and config status inside the
// running node), declare.go (declared items and applying them by diff),
// lifecycle.go (the reload, down and version verbs), then one file per verb
// or verb group: mapping.go, serve.go, status.go, peers.go (peers,
// services), path.go (ping, netcheck, events), id.go; plugins.go, format.go.
package main
