package api

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ServeID numbers a service within a group. vnet's convention: 500-999 are static
// (chosen by the operator, never changed by the mesh), 1-499 are dynamic.
type ServeID uint16

// The range of serveids.
const (
	MaxServeID  = 999
	MinStaticID = 500
)

// Static reports whether the serveid is static (500-999): the mesh never
// changes it, and a second claim is an error rather than a renumbering.
func (id ServeID) Static() bool { return id >= MinStaticID }

// ParseServeID parses a serveid (1-999).
func ParseServeID(s string) (ServeID, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("serveid %q is not a number", s)
	}
	if n < 1 || n > MaxServeID {
		return 0, fmt.Errorf("serveid %d out of range 1-%d", n, MaxServeID)
	}
	return ServeID(n), nil
}

// ParseServeIDOrZero parses a serveid, or 0 (ask the mesh for a free dynamic one).
func ParseServeIDOrZero(s string) (ServeID, error) {
	if strings.TrimSpace(s) == "0" {
		return 0, nil
	}
	return ParseServeID(s)
}

// Origin says where a local service or mapping comes from. Live items (`serve
// add`, `map`) are kept in the node's state dir; declared ones (the config
// file, --serve) are not: they come from the configuration at every start and
// reload, and the API refuses to remove them.
type Origin string

// The origins of local services and mappings.
const (
	OriginLive Origin = "live"
	OriginFile Origin = "file"
	OriginFlag Origin = "flag"
	// OriginAdhoc: served for another member's ad-hoc request; it expires.
	OriginAdhoc Origin = "adhoc"
)

// Service is something a node serves to its group: a local target reachable
// through the mesh under a serveid (GET and POST /v1/serve).
type Service struct {
	ID     ServeID `json:"serveid"`
	Name   string  `json:"name,omitempty"`
	Proto  string  `json:"proto"`
	Info   string  `json:"info,omitempty"`
	Target string  `json:"target,omitempty"` // host:port; only the owner knows it
	// Claimed is when the owner took the serveid (unix ns): of two services
	// claiming one dynamic serveid, the earlier keeps it. Set by the mesh.
	Claimed int64 `json:"claimed,omitempty"`
	// Was is the serveid the mesh moved this service from after a dynamic
	// serveid conflict (0: never moved). Set by the mesh.
	Was ServeID `json:"was,omitempty"`
	// Limits bound the service's connections; only the owner knows them.
	Limits *Limits `json:"limits,omitempty"`
	// WantsClient says the owner wants each connection's client address
	// (for its PROXY protocol header): openers send streamServiceFrom.
	// Public, unlike Limits. Set by the mesh.
	WantsClient bool `json:"wants_client,omitempty"`
	// AdHoc marks a temporary service served for an ad-hoc request. Set by
	// the mesh.
	AdHoc bool `json:"adhoc,omitempty"`
}

// LocalService is a service this node serves, with where it comes from.
type LocalService struct {
	Service
	Origin Origin `json:"origin"`
	Ref    string `json:"ref,omitempty"` // a declared one's place: "[serve.ssh]", "--serve 700=..."
	// Expires is when an ad-hoc service goes unless used (zero while a
	// connection is open).
	Expires time.Time `json:"expires,omitzero"`
}

// CatalogEntry is one service of the group, for `meshnode services`.
type CatalogEntry struct {
	ServeID   ServeID `json:"serveid"`
	Name      string  `json:"name,omitempty"`
	Proto     string  `json:"proto"`
	Info      string  `json:"info,omitempty"`
	Owner     string  `json:"owner"`
	OwnerName string  `json:"owner_name,omitempty"`
	Local     bool    `json:"local"`
	Reachable bool    `json:"reachable"`
	Conflict  string  `json:"conflict,omitempty"` // the serveid is claimed more than once
}
