package overlay

import (
	"time"
)

// StatusInfo is the node's state for `meshnode status`.
type StatusInfo struct {
	ID         string           `json:"id"`
	Name       string           `json:"name"`
	Group      string           `json:"group"`
	Started    time.Time        `json:"started"`
	Cipher     string           `json:"cipher"`
	Transport  string           `json:"transport"`
	Rendezvous RendezvousStatus `json:"rendezvous"`
	PeersUp    int              `json:"peers_up"`
	Peers      int              `json:"peers"`
	Services   []LocalService   `json:"services"`
	// CatalogVersion is the version of this node's catalog entry: it grows
	// with every change, across restarts (it is kept in the state dir).
	CatalogVersion uint64         `json:"catalog_version"`
	Mappings       []MappingInfo  `json:"mappings"`
	Plugins        []PluginStatus `json:"plugins,omitempty"`
	// Config is the configuration's state, when the node runs with one
	// (filled in by the control API from `meshnode up`).
	Config *ConfigInfo `json:"config,omitempty"`
	// HardNAT counts the hard-NAT attempts (after plain ICE failed) and the
	// direct paths they found, by method.
	HardNAT map[string]HardNATCount `json:"hard_nat,omitempty"`
}

// HardNATCount is one method's attempts and successes.
type HardNATCount struct {
	Attempts uint64 `json:"attempts"`
	Direct   uint64 `json:"direct"`
}

// PluginStatus describes a cipher or transport plugin the node runs.
type PluginStatus struct {
	Kind      string    `json:"kind"` // cipher | transport
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	Suite     string    `json:"suite,omitempty"`
	State     string    `json:"state"` // running | restarting | stopped
	PID       int       `json:"pid,omitempty"`
	Restarts  int       `json:"restarts"`
	Since     time.Time `json:"since"`
	LastError string    `json:"last_error,omitempty"`
	// Refused is set while the rendezvous refuses this node for a reason only a
	// configuration change fixes (no or a bad auth key, a node key in use...).
	Refused string `json:"refused,omitempty"`
	// OthersInGroup counts the nodes the rendezvous says use this group's name
	// with a different secret.
	OthersInGroup int `json:"others_in_group,omitempty"`
}

// RendezvousStatus is the node's view of its rendezvous connection.
type RendezvousStatus struct {
	Addr      string    `json:"addr"`
	Connected bool      `json:"connected"`
	Since     time.Time `json:"since,omitempty"`
	RTTMillis float64   `json:"rtt_ms"`
	LastError string    `json:"last_error,omitempty"`
	// Refused is set while the rendezvous refuses this node for a reason only a
	// configuration change fixes (no or a bad auth key, a node key in use...).
	Refused string `json:"refused,omitempty"`
	// OthersInGroup counts the nodes the rendezvous says use this group's name
	// with a different secret.
	OthersInGroup int `json:"others_in_group,omitempty"`
}

// Status reports the node's state.
func (n *Node) Status() StatusInfo {
	rs := n.relay.Status()
	peers := n.Peers()
	up := 0
	for _, p := range peers {
		if p.State == LinkStateUp {
			up++
		}
	}
	var plugins []PluginStatus
	if n.cfg.PluginStatus != nil {
		plugins = n.cfg.PluginStatus()
	}
	var refused string
	if rs.Refused != 0 {
		refused = rs.Refused.String()
	}
	hard := map[string]HardNATCount{}
	if t, w := n.hardNATTries.predict.Load(), n.hardNATWins.predict.Load(); t > 0 {
		hard["predict"] = HardNATCount{Attempts: t, Direct: w}
	}
	if t, w := n.hardNATTries.birthday.Load(), n.hardNATWins.birthday.Load(); t > 0 {
		hard["birthday"] = HardNATCount{Attempts: t, Direct: w}
	}
	if t, w := n.hardNATTries.lockstep.Load(), n.hardNATWins.lockstep.Load(); t > 0 {
		hard["lockstep"] = HardNATCount{Attempts: t, Direct: w}
	}
	if len(hard) == 0 {
		hard = nil
	}
	return StatusInfo{
		HardNAT:   hard,
		Plugins:   plugins,
		ID:        n.pub.String(),
		Name:      n.name,
		Group:     n.cfg.Group,
		Started:   n.start,
		Cipher:    n.cipher.Name(),
		Transport: n.cfg.Transport.Name(),
		Rendezvous: RendezvousStatus{
			Addr:          n.cfg.Rendezvous,
			Connected:     rs.Connected,
			Since:         rs.Since,
			RTTMillis:     float64(rs.RTT.Microseconds()) / 1000,
			LastError:     rs.LastError,
			OthersInGroup: rs.OthersInGroup,
			Refused:       refused,
		},
		PeersUp:        up,
		Peers:          len(peers),
		Services:       n.localServiceInfos(),
		Mappings:       n.Mappings(),
		CatalogVersion: n.localEntry().Version,
	}
}
