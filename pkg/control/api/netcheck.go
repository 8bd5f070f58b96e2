package api

import (
	"net/netip"
	"time"
)

// NetcheckResult is a netcheck report with its one-line verdict (GET /v1/netcheck).
type NetcheckResult struct {
	Summary string         `json:"summary"`
	Report  NetcheckReport `json:"report"`
}

// NATMapping is how the node's NAT maps one local UDP socket toward different
// destinations (RFC 4787).
type NATMapping string

// The NAT mappings netcheck tells apart.
const (
	NATMappingUnknown NATMapping = "unknown"
	// NATMappingEndpointIndependent: one external address toward every
	// destination: hole punching works with most peers.
	NATMappingEndpointIndependent NATMapping = "endpoint-independent"
	// NATMappingEndpointDependent: a new external port per destination
	// ("symmetric NAT").
	NATMappingEndpointDependent NATMapping = "endpoint-dependent"
)

// Finding is one finding of a NetcheckReport: Known says whether Value was
// determined; Why says how, or why it could not be.
type Finding[T any] struct {
	Known bool   `json:"known"`
	Value T      `json:"value"`
	Why   string `json:"why"`
}

// Probe is what one STUN server answered.
type Probe struct {
	Server string         `json:"server"`
	Mapped netip.AddrPort `json:"mapped"` // invalid when no answer
	RTT    time.Duration  `json:"rtt"`
	Err    string         `json:"err,omitempty"`
}

// NetcheckReport is what the node found out about its network.
type NetcheckReport struct {
	Local   netip.AddrPort          `json:"local"` // the probing socket: the local IP toward the primary server and the port
	UDP     Finding[bool]           `json:"udp"`   // UDP to the STUN ports works
	Public  Finding[netip.AddrPort] `json:"public"`
	NAT     Finding[bool]           `json:"nat"` // the public endpoint differs from the local one
	Mapping Finding[NATMapping]     `json:"mapping"`
	// SeqDelta: with an endpoint-dependent mapping, the step between the
	// external ports of consecutive new mappings when they are sequential
	// (> 0), or 0 when they look random.
	SeqDelta Finding[int]           `json:"seq_delta"`
	Hairpin  Finding[bool]          `json:"hairpin"` // a packet to our public endpoint comes back to us
	RTT      Finding[time.Duration] `json:"rtt"`     // to the primary STUN port (best of the probes)
	Probes   []Probe                `json:"probes"`
	// PortMapping is what the gateway said about port mapping.
	PortMapping PortMapReport `json:"port_mapping"`
}

// PortMapReport says whether the gateway maps ports and how.
type PortMapReport struct {
	Protocol string   `json:"protocol,omitempty"` // the one mappings use: pcp, nat-pmp, upnp ("" none)
	PCP      bool     `json:"pcp"`
	NATPMP   bool     `json:"nat_pmp"`
	UPnP     bool     `json:"upnp"`
	Gateway  string   `json:"gateway,omitempty"`
	External string   `json:"external,omitempty"` // the gateway's external address
	Mapped   []string `json:"mapped,omitempty"`   // mappings held now: "external -> internal (protocol)"
	Why      string   `json:"why,omitempty"`      // why no protocol (or not all) answered, or why it is off
}
