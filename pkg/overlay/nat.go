package overlay

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/meshnode/meshnode/pkg/ice"
	"github.com/meshnode/meshnode/pkg/portmap"
)

// natInfo is what a node tells its peers about its network (msgNAT), so either
// side can explain why their link is relayed.
type natInfo struct {
	Known     bool `json:"known"` // a netcheck ran
	UDP       bool `json:"udp"`
	Symmetric bool `json:"symmetric"` // endpoint-dependent mapping
	// Ports, behind a symmetric NAT: "sequential" (SeqDelta is the step) or
	// "random"; "" when unknown.
	Ports     string `json:"ports,omitempty"`
	SeqDelta  int    `json:"seq_delta,omitempty"`
	RelayOnly bool   `json:"relay_only"`
	// MappedCands: this node's ICE signaling reads mapped candidates (wire
	// type 3), so peers may send theirs as such.
	MappedCands bool `json:"mapped_cands,omitempty"`
}

const maxNATInfo = 256

// natInfo.Ports values.
const (
	portsSequential = "sequential"
	portsRandom     = "random"
)

func parseNATInfo(b []byte) (natInfo, error) {
	var ni natInfo
	if len(b) > maxNATInfo {
		return ni, fmt.Errorf("nat info of %d bytes: %w", len(b), errMalformed)
	}
	if err := json.Unmarshal(b, &ni); err != nil {
		return ni, fmt.Errorf("nat info: %v: %w", err, errMalformed)
	}
	return ni, nil
}

func (ni natInfo) marshal() []byte { b, _ := json.Marshal(ni); return b }

func natInfoOf(r ice.Report, relayOnly bool) natInfo {
	ni := natInfo{Known: r.UDP.Known, UDP: r.UDP.Value, RelayOnly: relayOnly, MappedCands: true}
	ni.Symmetric = r.Mapping.Known && r.Mapping.Value == ice.MappingEndpointDependent
	if ni.Symmetric && r.SeqDelta.Known {
		ni.Ports = portsRandom
		if r.SeqDelta.Value > 0 {
			ni.Ports, ni.SeqDelta = portsSequential, r.SeqDelta.Value
		}
	}
	return ni
}

// netcheckInterval is how often a node re-checks its network.
const netcheckInterval = 5 * time.Minute

// Netcheck probes the network now through the rendezvous' STUN ports, and
// asks the gateway whether it maps ports (at the same time).
func (n *Node) Netcheck(ctx context.Context) (ice.Report, error) {
	stun := n.relay.STUNServers()
	if len(stun) == 0 {
		return ice.Report{}, fmt.Errorf("the rendezvous announced no STUN ports (not connected yet, or it runs without --stun)")
	}
	var pm ice.PortMapReport
	done := make(chan struct{})
	go func() { defer close(done); pm = n.probePortMapping(ctx) }()
	r, err := ice.Netcheck(ctx, ice.NetcheckConfig{STUN: stun, Logger: n.log})
	<-done
	r.PortMapping = pm
	if err != nil {
		return r, err
	}
	n.setNAT(r)
	return r, nil
}

// probePortMapping asks the gateway which port mapping protocols it speaks.
func (n *Node) probePortMapping(ctx context.Context) ice.PortMapReport {
	if n.portmap == nil {
		why := "off (--no-port-mapping)"
		if n.cfg.RelayOnly {
			why = "off (--relay-only)"
		}
		return ice.PortMapReport{Why: why}
	}
	st, err := n.portmap.Probe(ctx)
	rep := ice.PortMapReport{Protocol: string(st.Protocol), PCP: st.PCP, NATPMP: st.NATPMP, UPnP: st.UPnP}
	if st.Gateway.IsValid() {
		rep.Gateway = st.Gateway.String()
	}
	if st.External.IsValid() {
		rep.External = st.External.String()
	}
	for _, m := range st.Mappings {
		rep.Mapped = append(rep.Mapped, m.External.String()+" -> "+m.Internal.String()+" ("+string(m.Protocol)+")")
	}
	if err != nil {
		rep.Why = err.Error()
	}
	return rep
}

// portMapper adapts the portmap client to pkg/ice.
type portMapper struct{ c *portmap.Client }

func (p portMapper) MapUDP(ctx context.Context, local netip.AddrPort) (ice.PortMapping, error) {
	m, err := p.c.Map(ctx, local)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// netcheckLoop checks the network once STUN is known and then periodically,
// and tells peers when the verdict changes.
func (n *Node) netcheckLoop(ctx context.Context) {
	// The first check runs as soon as the rendezvous' STUN ports are known
	// (peers need our NAT's kind for the hard-NAT methods), later ones every
	// netcheckInterval.
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n.cfg.RelayOnly || len(n.relay.STUNServers()) == 0 || time.Since(last) < netcheckInterval {
			continue
		}
		last = time.Now()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		r, err := n.Netcheck(cctx)
		cancel()
		if err != nil {
			n.log.Debug("netcheck failed", "err", err)
			continue
		}
		n.log.Info("netcheck", "summary", r.Summary())
	}
}

func (n *Node) setNAT(r ice.Report) {
	ni := natInfoOf(r, n.cfg.RelayOnly)
	n.mu.Lock()
	if r.Public.Known {
		n.public = r.Public.Value.Addr()
	}
	changed := ni != n.nat
	n.nat = ni
	n.mu.Unlock()
	if changed {
		for _, l := range n.linkList() {
			l.sendMessage(msgNAT, ni.marshal())
		}
	}
}

// publicIP is this node's public address from the last netcheck (invalid
// before one answered).
func (n *Node) publicIP() netip.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.public
}

func (n *Node) natInfo() natInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	ni := n.nat
	ni.RelayOnly = n.cfg.RelayOnly
	ni.MappedCands = true
	return ni
}

// iceConfig is the ICE configuration for new sessions.
func (n *Node) iceConfig() ice.Config {
	cfg := ice.Config{Logger: n.log}
	if n.portmap != nil {
		cfg.PortMapper = portMapper{n.portmap}
	}
	if stun := n.relay.STUNServers(); len(stun) > 0 {
		cfg.STUN = stun[:1] // one is enough for ICE; both are for netcheck
	}
	if len(n.cfg.ICEInterfaces) > 0 {
		allowed := make(map[string]bool, len(n.cfg.ICEInterfaces))
		for _, name := range n.cfg.ICEInterfaces {
			allowed[name] = true
		}
		cfg.Loopback = allowed["lo"]
		cfg.InterfaceFilter = func(name string) bool { return allowed[name] }
	}
	return cfg
}

// hardNATCounters count hard-NAT attempts (or their successes) by method.
type hardNATCounters struct {
	predict, birthday, lockstep atomic.Uint64
}
