// Package api owns the JSON shapes of the node's control API: what the routes
// of pkg/control answer and accept, the events they stream and the errors they
// return. It imports only the standard library, so a Go client (the CLI's
// verbs, pkg/control/client, scripts) gets the types without the data plane
// (pion, kcp, smux, memberlist). States a client compares are typed
// constants (LinkState, Path, EventKind, PluginState, Origin).
//
// The JSON field names are the wire format of the API: change them only with
// the API's version.
//
// # Files
//
//	status.go    StatusInfo, RendezvousStatus, PluginStatus, ConfigInfo, ReloadResult
//	peers.go     PeerInfo, LinkState, Path
//	services.go  ServeID and its parsing, Service, LocalService, CatalogEntry, Origin
//	mappings.go  MappingRequest, MappingInfo
//	events.go    Event, EventKind
//	ping.go      PingRequest, PingResult
//	netcheck.go  NetcheckResult, NetcheckReport
//	errors.go    the error body {"error": {"code", "message"}}, ErrorCode, and Error, an error the node answered with
package api
