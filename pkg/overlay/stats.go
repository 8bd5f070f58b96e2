package overlay

import (
	"context"
	"errors"
	"sort"
	"sync/atomic"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/ice"
	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/relay"
	"github.com/meshnode/meshnode/pkg/seal"
)

// The node's counters for monitoring (pkg/metrics turns them into Prometheus
// series at scrape time). Everything here is an atomic add where it happens,
// and nothing on the per-packet path: traffic is counted by the counters the
// links and mappings keep anyway. Labels are small fixed sets (the reason
// tables below), so no error text, name or key ever becomes a label value.

// Why a link's route changed (pathChangeReasons[i] names reason i).
const (
	pathToDirect      = iota // ICE connected: relay -> direct
	pathConsentLost          // direct -> relay: consent checks went unanswered
	pathPeerClosed           // the peer closed its ICE session
	pathPeerRestarted        // the peer started a new ICE attempt
	pathClosed               // the link or the node closed the path
	pathOther                // any other error
	numPathReasons
)

var pathChangeReasons = [numPathReasons]string{"ice_connected", "consent_lost", "peer_closed", "peer_restarted", "closed", "error"}

// How an ICE attempt (hole punch) ended.
const (
	punchConnected = iota
	punchNoAnswer
	punchNoPath
	punchNoCandidates
	punchPeerRestarted
	punchPeerClosed
	punchClosed
	punchCanceled
	punchOther
	numPunchOutcomes
)

var punchOutcomes = [numPunchOutcomes]string{"connected", "no_answer", "no_path", "no_candidates", "peer_restarted", "peer_closed", "closed", "canceled", "error"}

// ICE candidate types of a connected pair: the method that got through.
var candTypes = [...]string{"host", "srflx", "prflx", "relay", "other"}

const numCandTypes = len(candTypes)

// Why a handshake with a peer failed (failureReason's cases).
const (
	hsSecretMismatch = iota
	hsSuiteMismatch
	hsPeerKeyMismatch
	hsTimeout
	hsOther
	numHSReasons
)

var handshakeFailReasons = [numHSReasons]string{"secret_mismatch", "suite_mismatch", "peer_key_mismatch", "timeout", "other"}

// nodeStats are the node's event counters.
type nodeStats struct {
	pathChanges   [numPathReasons]atomic.Uint64
	punches       [numPunchOutcomes]atomic.Uint64
	punchMethods  [numCandTypes][numCandTypes]atomic.Uint64 // [local][remote] candidate type
	handshakesOK  atomic.Uint64
	handshakeFail [numHSReasons]atomic.Uint64
}

func candIndex(t string) int {
	for i, c := range candTypes[:numCandTypes-1] {
		if t == c {
			return i
		}
	}
	return numCandTypes - 1
}

// countPathChange counts a route change: to direct (path != nil) or back to
// the relay because of why.
func (s *nodeStats) countPathChange(direct bool, why error) {
	r := pathOther
	switch {
	case direct:
		r = pathToDirect
	case why == nil || errors.Is(why, ice.ErrClosed):
		r = pathClosed
	case errors.Is(why, ice.ErrDisconnected):
		r = pathConsentLost
	case errors.Is(why, ice.ErrPeerClosed):
		r = pathPeerClosed
	case errors.Is(why, ice.ErrPeerRestarted):
		r = pathPeerRestarted
	}
	s.pathChanges[r].Add(1)
}

// countPunch counts an ICE attempt's outcome: a path (its candidate types) or
// the error Connect returned.
func (s *nodeStats) countPunch(p *ice.Path, err error) {
	if err == nil && p != nil {
		_, lt := p.Local()
		_, rt := p.Remote()
		s.punches[punchConnected].Add(1)
		s.punchMethods[candIndex(lt)][candIndex(rt)].Add(1)
		return
	}
	o := punchOther
	switch {
	case errors.Is(err, ice.ErrNoAnswer):
		o = punchNoAnswer
	case errors.Is(err, ice.ErrNoPath):
		o = punchNoPath
	case errors.Is(err, ice.ErrNoCandidates):
		o = punchNoCandidates
	case errors.Is(err, ice.ErrPeerRestarted):
		o = punchPeerRestarted
	case errors.Is(err, ice.ErrPeerClosed):
		o = punchPeerClosed
	case errors.Is(err, ice.ErrClosed):
		o = punchClosed
	case errors.Is(err, context.Canceled):
		o = punchCanceled
	}
	s.punches[o].Add(1)
}

// countHandshakeFailure counts a failed handshake by failureReason's cases.
func (s *nodeStats) countHandshakeFailure(err error) {
	r := hsOther
	switch {
	case errors.Is(err, seal.ErrSecretMismatch):
		r = hsSecretMismatch
	case errors.Is(err, seal.ErrSuiteMismatch):
		r = hsSuiteMismatch
	case errors.Is(err, seal.ErrPeerKeyMismatch):
		r = hsPeerKeyMismatch
	case errors.Is(err, seal.ErrHandshakeTimeout):
		r = hsTimeout
	}
	s.handshakeFail[r].Add(1)
}

// Metrics is a snapshot of the node's counters and gauges for monitoring. It
// holds no secret, no group name and no node or service name: peers are
// their public keys, mappings their local ports.
type Metrics struct {
	Peers    []PeerMetrics    // by key
	Mappings []MappingMetrics // by port
	Services []ServiceMetrics // this node's services, by serveid

	PathChanges       []Count // Labels: {to, reason}
	HolePunches       []Count // Labels: {outcome}
	HolePunchMethods  []Count // Labels: {local candidate type, remote candidate type}; connected attempts only
	HandshakesOK      uint64  // sessions established with peers (rekeys included)
	HandshakeFailures []Count // Labels: {reason}
	// HardNAT counts the hard-NAT attempts (after plain ICE failed) and the
	// direct paths they found. Labels: {method, result: attempt | direct}.
	HardNAT []Count

	Catalog CatalogMetrics
	Relay   relay.Status // the rendezvous connection (Drops: datagrams its full send queue refused)
}

// Count is one labeled counter value; Labels follow the field's documented order.
type Count struct {
	Labels []string
	Value  uint64
}

// PeerMetrics are one link's counters.
type PeerMetrics struct {
	ID identity.PublicKey
	// Authenticated: a session with the peer was up once (it proved the group
	// secret). Links that never got there are strangers' or still connecting.
	Authenticated     bool
	BytesIn, BytesOut uint64 // sealed link packets, both routes
	Direct            bool   // the route is a direct path (else the relay)
	Up                bool   // a session is up and its route can carry it
	RTT               time.Duration
}

// MappingMetrics are one mapping's counters.
type MappingMetrics struct {
	Port   int
	Proto  string // tcp or udp
	Open   int    // connections (UDP: flows) open now
	Total  uint64 // connections (flows) accepted so far
	Failed uint64 // connections (flows) that could not be served or were cut off
	// BytesOut went from local clients to the service, BytesIn back.
	BytesOut, BytesIn uint64
}

// ServiceMetrics are the counters of one service this node serves.
type ServiceMetrics struct {
	ID      ServeID
	Proto   string // tcp or udp
	Open    int    // connections (UDP: flows) being served now
	Total   uint64 // connections (flows) served so far
	Refused uint64 // connections refused at the service's max-conns
	Failed  uint64 // connections whose target could not be reached
	// BytesIn went from the mesh's clients to the target, BytesOut back.
	BytesIn, BytesOut uint64
}

// CatalogMetrics describe the group's catalog as this node sees it.
type CatalogMetrics struct {
	Members  int    // alive group members other than this node (gossip)
	Owners   int    // members whose catalog entry this node holds
	Services int    // services in those entries
	Local    int    // services this node serves
	Missing  int    // alive members whose entry this node lacks
	Pending  int    // newer entries noticed and still being fetched
	Changes  uint64 // times the catalog changed
	Version  uint64 // this node's own entry version
	Converge bool   // Missing and Pending are both zero
}

// Metrics returns a snapshot of the node's counters. It takes the locks the
// query methods take, briefly, and touches no packet path.
func (n *Node) Metrics() Metrics {
	var m Metrics
	for _, l := range n.linkList() {
		pm := PeerMetrics{ID: l.peer, Authenticated: l.everUp.Load(), BytesIn: l.bytesIn.Load(), BytesOut: l.bytesOut.Load(), Direct: l.route.isDirect()}
		down, _ := l.routeDown()
		l.mu.Lock()
		if l.gen != nil {
			pm.Up = down == ""
			pm.RTT = time.Duration(l.gen.kcp.GetSRTT()) * time.Millisecond
		}
		l.mu.Unlock()
		m.Peers = append(m.Peers, pm)
	}
	sort.Slice(m.Peers, func(i, j int) bool { return m.Peers[i].ID.Less(m.Peers[j].ID) })

	n.mu.Lock()
	maps := make([]*mapping, 0, len(n.mappings))
	for _, mp := range n.mappings {
		maps = append(maps, mp)
	}
	local := len(n.services)
	for _, ls := range n.services {
		proto := ls.Proto
		if proto == "" {
			proto = "tcp"
		}
		m.Services = append(m.Services, ServiceMetrics{ID: ls.ID, Proto: proto, Open: len(ls.lim.slots),
			Total: ls.total.Load(), Refused: ls.lim.refused.Load(), Failed: ls.failed.Load(),
			BytesIn: ls.bytesIn.Load(), BytesOut: ls.bytesOut.Load()})
	}
	n.mu.Unlock()
	sort.Slice(m.Services, func(i, j int) bool { return m.Services[i].ID < m.Services[j].ID })
	for _, mp := range maps {
		mp.mu.Lock()
		open := len(mp.conns) + len(mp.flows)
		mp.mu.Unlock()
		proto := mp.req.Proto
		if proto == "" {
			proto = "tcp"
		}
		m.Mappings = append(m.Mappings, MappingMetrics{Port: mp.req.Port, Proto: proto, Open: open,
			Total: mp.total.Load(), Failed: mp.failed.Load(), BytesOut: mp.bytesOut.Load(), BytesIn: mp.bytesIn.Load()})
	}
	sort.Slice(m.Mappings, func(i, j int) bool { return m.Mappings[i].Port < m.Mappings[j].Port })

	s := &n.stats
	for i := range s.pathChanges {
		to := string(api.PathRelay)
		if i == pathToDirect {
			to = string(api.PathDirect)
		}
		m.PathChanges = append(m.PathChanges, Count{[]string{to, pathChangeReasons[i]}, s.pathChanges[i].Load()})
	}
	for i := range s.punches {
		m.HolePunches = append(m.HolePunches, Count{[]string{punchOutcomes[i]}, s.punches[i].Load()})
	}
	for i := range s.punchMethods {
		for j := range s.punchMethods[i] {
			if v := s.punchMethods[i][j].Load(); v > 0 {
				m.HolePunchMethods = append(m.HolePunchMethods, Count{[]string{candTypes[i], candTypes[j]}, v})
			}
		}
	}
	m.HandshakesOK = s.handshakesOK.Load()
	for i := range s.handshakeFail {
		m.HandshakeFailures = append(m.HandshakeFailures, Count{[]string{handshakeFailReasons[i]}, s.handshakeFail[i].Load()})
	}

	for _, h := range []struct {
		method      string
		tries, wins *atomic.Uint64
	}{
		{"predict", &n.hardNATTries.predict, &n.hardNATWins.predict},
		{"lockstep", &n.hardNATTries.lockstep, &n.hardNATWins.lockstep},
		{"birthday", &n.hardNATTries.birthday, &n.hardNATWins.birthday},
	} {
		m.HardNAT = append(m.HardNAT, Count{[]string{h.method, "attempt"}, h.tries.Load()}, Count{[]string{h.method, "direct"}, h.wins.Load()})
	}

	m.Catalog = n.catalogMetrics(local)
	m.Relay = n.relay.Status()
	return m
}

func (n *Node) catalogMetrics(local int) CatalogMetrics {
	cm := CatalogMetrics{Local: local, Version: n.localEntry().Version}
	entries := n.catalog.snapshot()
	have := make(map[identity.PublicKey]bool, len(entries))
	for _, e := range entries {
		have[e.Owner] = true
		cm.Services += len(e.Services)
	}
	cm.Owners = len(entries)
	cm.Changes = n.catalog.changeCount()
	if g := n.gossip.Load(); g != nil {
		g.mu.Lock()
		cm.Members = len(g.members)
		for k := range g.members {
			if !have[k] {
				cm.Missing++
			}
		}
		cm.Pending = len(g.wanted)
		g.mu.Unlock()
	}
	cm.Converge = cm.Missing == 0 && cm.Pending == 0
	return cm
}
