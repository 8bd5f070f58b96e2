// Package metrics exposes a running node and a rendezvous to Prometheus: a
// prometheus.Registry of their own (never the global default one) and an
// http.Handler serving it in the text format at /metrics.
//
// The collectors are custom prometheus.Collectors that read the counters the
// node (overlay.Node.Metrics) and the rendezvous (relay.Server.Stats,
// stunsrv.Server.Stats) keep anyway, at scrape time: nothing on a data path
// calls into Prometheus, and a series exists only while what it describes
// does (a peer's series go with its link, a mapping's with the mapping).
//
// Labels never carry a secret, a key's private half, a group name or a node
// or service name: peers are short node IDs (public-key prefixes), mappings
// their local port, reasons and outcomes small fixed sets. Per-peer series are
// capped (NodeOptions.MaxPeerSeries); peers beyond the cap are counted in
// meshnode_peer_series_omitted instead.
//
// Files: node.go (the node's collector), rendezvous.go (the rendezvous'
// collector), handler.go (registries and the HTTP handler), serve.go (listen
// addresses and a bounded HTTP server for the --metrics and --admin
// listeners).
//
// A node's HTTP API mounts NodeHandler at Path; `meshnode up --metrics` serves
// it alone on a listener of its own.
package metrics
