package api

// DefaultBind is where mappings listen unless told otherwise: loopback only, so a
// mapping never exposes a remote service to the local network by accident.
const DefaultBind = "127.0.0.1"

// MappingRequest asks the node to make a service reachable on a local port
// (POST /v1/mappings).
type MappingRequest struct {
	Target string `json:"target"`          // SERVEID or NAME@NODE
	Port   int    `json:"port"`            // local port; 0 picks a free one
	Bind   string `json:"bind,omitempty"`  // local address, default DefaultBind
	Proto  string `json:"proto,omitempty"` // tcp or udp: the service's, filled in by the node
	// Limits bound the mapping's connections (no proxy-protocol here).
	Limits *Limits `json:"limits,omitempty"`
}

// MappingInfo describes a mapping for status and `map` answers.
type MappingInfo struct {
	MappingRequest
	Origin    Origin `json:"origin"`
	Ref       string `json:"ref,omitempty"`    // where a declared mapping is declared: "[use.ssh]"
	Listen    string `json:"listen,omitempty"` // the bound address; empty when not listening
	Active    int    `json:"active"`
	Total     uint64 `json:"total"`
	Failed    uint64 `json:"failed"`
	LastError string `json:"last_error,omitempty"`
}
