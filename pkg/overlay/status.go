package overlay

import (
	"github.com/meshnode/meshnode/pkg/control/api"
	"strings"
)

// Status reports the node's state.
func (n *Node) Status() api.StatusInfo {
	rs := n.relay.Status()
	peers := n.Peers()
	up := 0
	for _, p := range peers {
		if p.State == api.LinkStateUp {
			up++
		}
	}
	var plugins []api.PluginStatus
	if n.cfg.PluginStatus != nil {
		plugins = n.cfg.PluginStatus()
	}
	var refused string
	if rs.Refused != 0 {
		refused = rs.Refused.String()
	}
	hard := map[string]api.HardNATCount{}
	if t, w := n.hardNATTries.predict.Load(), n.hardNATWins.predict.Load(); t > 0 {
		hard["predict"] = api.HardNATCount{Attempts: t, Direct: w}
	}
	if t, w := n.hardNATTries.birthday.Load(), n.hardNATWins.birthday.Load(); t > 0 {
		hard["birthday"] = api.HardNATCount{Attempts: t, Direct: w}
	}
	if t, w := n.hardNATTries.lockstep.Load(), n.hardNATWins.lockstep.Load(); t > 0 {
		hard["lockstep"] = api.HardNATCount{Attempts: t, Direct: w}
	}
	if len(hard) == 0 {
		hard = nil
	}
	return api.StatusInfo{
		HardNAT:   hard,
		Plugins:   plugins,
		ID:        n.pub.String(),
		Name:      n.name,
		Group:     n.cfg.Group,
		Started:   n.start,
		Cipher:    n.suites(),
		Transport: n.cfg.Transport.Name(),
		Rendezvous: api.RendezvousStatus{
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

// suites names the link suites: the one this node initiates with, then those
// it falls back to ("noise-ikpsk2-aesgcm (falls back to noise-ikpsk2-chachapoly)").
func (n *Node) suites() string {
	s := n.cipher.Name()
	if len(n.cfg.CipherAccept) == 0 {
		return s
	}
	names := make([]string, len(n.cfg.CipherAccept))
	for i, a := range n.cfg.CipherAccept {
		names[i] = a.Name()
	}
	return s + " (falls back to " + strings.Join(names, ", ") + ")"
}
