// Package plugin owns meshnode's plugin contract and the node's side of it:
// out-of-process Cipher and Transport implementations run as
// hashicorp/go-plugin processes speaking gRPC, and this package turns them back
// into the seal.Cipher and transport.Transport interfaces the node uses for
// its built-ins.
//
// The contract (version ProtocolVersion; see plugins/README.md) keeps every
// per-packet byte out of RPC, as measured in ../shared/FACTS.md (an RPC per
// buffer runs at ~0.07x of in-process):
//
//   - Cipher: the plugin runs the key agreement (one RPC per handshake
//     message) and hands back the transport keys with the name of a datagram
//     AEAD the node runs in-process (seal.NewAEAD). A plugin chooses its
//     handshake, suite name, hash and AEAD; the node never sees its code.
//   - Transport: the plugin dials the rendezvous its own way and hands the
//     byte stream over on a one-shot unix socket in a private directory; the
//     node's relay protocol runs over that socket unchanged. Only the dial is
//     an RPC.
//
// Manager launches plugins from a directory, checks the handshake and
// version, health-checks them, restarts a crashed or hung plugin with backoff
// and reports each of these as one log line and in Status. Serve* are what a
// plugin's main calls.
//
// # A plugin dies with its node
//
// A cipher plugin holds the node's private key, so no plugin may outlive its
// node, also when the node is killed with SIGKILL or crashes. Two mechanisms,
// each enough alone (tests kill -9 a node-like parent and watch /proc):
//
//   - The node forks each plugin with Pdeathsig = SIGKILL (launch.go). The
//     kernel sends it when the forking *thread* ends, and Go retires threads
//     (a goroutine that exits while locked to its thread ends it), so the
//     fork runs on a goroutine locked to its thread that stays parked until
//     the plugin is gone: that thread ends only with the process.
//   - The plugin side (Serve*, watchdog.go) exits when its parent process
//     changes (getppid polled every 250 ms) or when the node's gRPC
//     connection, once made, closes. This covers a plugin started some other
//     way and a node that stopped talking to it without killing it. (go-plugin
//     gives a plugin the node's own stdin, so stdin's EOF says nothing.)
//
// Measured here, from the node's kill -9 (its own exit included) to the plugin
// gone from /proc: 2-3 ms as the node launches plugins, 2-4 ms by the death
// signal alone, 3-7 ms by the watchdog alone (the closing connection; the
// parent poll is the slower fallback).
//
// # What a plugin's environment holds
//
// A plugin does not inherit meshnode's secrets or settings (env.go): its
// environment is the node's minus every MESHNODE_* variable (MESHNODE_SECRET,
// MESHNODE_AUTH_KEY, MESHNODE_SECRET_FILE, MESHNODE_GROUP, ...), except the
// reference plugins' settings, MESHNODE_WS_*; even among those a name that
// looks like a secret (a part that is or ends in KEY/KEYS, or holds SECRET,
// PASSW, TOKEN, CREDENTIAL; PRIVATE; PSK) is removed. Config.Env adds entries
// the node sets itself (e.g. MESHNODE_WS_PIN from --rendezvous-pin); one the
// rule would remove is refused. Everything else (PATH, HOME, TMPDIR, proxies,
// SSL_CERT_FILE, a third-party plugin's own FOO_* settings) passes: a plugin
// runs as the node's user anyway; the rule keeps what the node was given for
// itself out of processes that have no use for it. go-plugin adds its
// handshake variables (MESHNODE_PLUGIN, PLUGIN_*) after the filter.
//
// # Files
//
//	contract.go   the contract: handshake, kinds, messages
//	rpc.go        gRPC plumbing: JSON in BytesValue, service descriptors
//	manager.go    the node side: load, supervise, restart, Status
//	launch.go     forking a plugin so that it dies with the node (Pdeathsig, pinned thread)
//	env.go        the environment a plugin gets: the node's minus meshnode's secrets and settings
//	cipher.go     a cipher plugin as a seal.Cipher
//	transport.go  a transport plugin as a transport.Transport
//	hclog.go      go-plugin's logger onto slog
//	serve.go      the plugin side: ServeCipher, ServeTransport
//	watchdog.go   the plugin side's watch on its node (parent pid, connection)
//	noise.go      NoiseIK: a Noise IK handshake for cipher plugins
package plugin
