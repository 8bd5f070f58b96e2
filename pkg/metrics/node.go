package metrics

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshnode/meshnode/pkg/overlay"
)

// NodeSource is what the node collector reads: *overlay.Node.
type NodeSource interface {
	Metrics() overlay.Metrics
}

// NodeOptions tune the node's metrics.
type NodeOptions struct {
	// MaxPeerSeries caps the peers with series of their own (default 256);
	// the others are counted in meshnode_peer_series_omitted.
	MaxPeerSeries int
	// MaxMappingSeries caps the mappings, and this node's services, with
	// series of their own (default 256 each).
	MaxMappingSeries int
	// Entry, when set, is the node's SOCKS5/HTTP proxy entry.
	Entry EntrySource
}

// EntrySource is what the collector reads of the proxy entry:
// *proxyentry.Server.
type EntrySource interface {
	Open() int       // connections served now
	Refused() uint64 // connections refused because every slot was busy
}

// DefaultMaxPeerSeries is NodeOptions.MaxPeerSeries' default.
const DefaultMaxPeerSeries = 256

// NewNodeRegistry returns a registry with the node's series (and the Go
// runtime's and the process'): one per node, never the default registry.
func NewNodeRegistry(n NodeSource, opts NodeOptions) *prometheus.Registry {
	reg := newRegistry()
	reg.MustRegister(newNodeCollector(n, opts))
	return reg
}

// NodeHandler serves the node's metrics (a registry of its own) at whatever
// path it is mounted on (Path by convention); log gets scrape errors.
func NodeHandler(n NodeSource, log *slog.Logger, opts NodeOptions) http.Handler {
	return Handler(NewNodeRegistry(n, opts), log)
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	dPeerIn    = desc("meshnode_peer_received_bytes_total", "Sealed link bytes received from the peer (both routes).", "peer")
	dPeerOut   = desc("meshnode_peer_sent_bytes_total", "Sealed link bytes sent to the peer (both routes).", "peer")
	dPeerDir   = desc("meshnode_peer_direct", "1 while the link to the peer takes a direct path, 0 while it takes the relay.", "peer")
	dPeerUp    = desc("meshnode_peer_up", "1 while the link to the peer has a session and a route that can carry it.", "peer")
	dPeerRTT   = desc("meshnode_peer_rtt_seconds", "Smoothed round trip time of the link's KCP session.", "peer")
	dEntryOpen = desc("meshnode_proxy_entry_connections_open", "Connections the SOCKS5/HTTP proxy entry serves now.")
	dEntryRef  = desc("meshnode_proxy_entry_refused_total", "Connections the proxy entry refused because all its slots were busy.")
	dPeers     = desc("meshnode_peers", "Links to peers, by path.", "path")
	dOmitted   = desc("meshnode_peer_series_omitted", "Peers left without series of their own (over the cap).")
	dPending   = desc("meshnode_unauthenticated_links", "Links to nodes that never completed a handshake (connecting, or not holding the group secret); they get no per-peer series.")
	dPathChg   = desc("meshnode_path_changes_total", "Link route changes, by the route taken and why.", "to", "reason")
	dPunch     = desc("meshnode_holepunch_attempts_total", "ICE attempts (hole punches) that ended, by outcome.", "outcome")
	dHardNAT   = desc("meshnode_hardnat_total", "Hard-NAT attempts after plain ICE failed (result attempt) and the direct paths they found (result direct), by method: predict, lockstep, birthday.", "method", "result")
	dPunchPath = desc("meshnode_holepunch_connected_total", "ICE attempts that connected, by the selected pair's local and remote candidate type (the method that got through).", "local_type", "remote_type")
	dHSOK      = desc("meshnode_handshakes_ok_total", "Link handshakes that established a session (rekeys included).")
	dHSFail    = desc("meshnode_handshakes_failed_total", "Link handshakes that failed, by reason.", "reason")
	dMapOpen   = desc("meshnode_mapping_connections_open", "Connections (UDP: flows) open on the mapping now.", "port", "proto")
	dMapTotal  = desc("meshnode_mapping_connections_total", "Connections (UDP: flows) the mapping accepted.", "port", "proto")
	dMapErr    = desc("meshnode_mapping_connection_errors_total", "Connections (UDP: flows) the mapping could not serve or that were cut off.", "port", "proto")
	dMapOut    = desc("meshnode_mapping_sent_bytes_total", "Bytes from the mapping's local clients to the service.", "port", "proto")
	dMapIn     = desc("meshnode_mapping_received_bytes_total", "Bytes from the service to the mapping's local clients.", "port", "proto")
	dSvcOpen   = desc("meshnode_service_connections_open", "Connections (UDP: flows) this node's service is serving now.", "serveid", "proto")
	dSvcTotal  = desc("meshnode_service_connections_total", "Connections (UDP: flows) this node's service served.", "serveid", "proto")
	dSvcRef    = desc("meshnode_service_refused_total", "Connections refused at the service's max-conns.", "serveid", "proto")
	dSvcErr    = desc("meshnode_service_target_errors_total", "Connections whose target (the service's host:port) could not be reached.", "serveid", "proto")
	dSvcIn     = desc("meshnode_service_received_bytes_total", "Bytes from the mesh's clients to the service's target.", "serveid", "proto")
	dSvcOut    = desc("meshnode_service_sent_bytes_total", "Bytes from the service's target back to the mesh's clients.", "serveid", "proto")
	dMapOmit   = desc("meshnode_mapping_series_omitted", "Mappings left without series of their own (over the cap).")
	dCatMem    = desc("meshnode_catalog_members", "Alive group members other than this node (gossip).")
	dCatOwn    = desc("meshnode_catalog_entries", "Members whose catalog entry this node holds.")
	dCatSvc    = desc("meshnode_catalog_services", "Services in the catalog entries this node holds (other members').")
	dCatLocal  = desc("meshnode_local_services", "Services this node serves.")
	dCatMiss   = desc("meshnode_catalog_missing_entries", "Alive members whose catalog entry this node lacks.")
	dCatPend   = desc("meshnode_catalog_pending_fetches", "Newer catalog entries noticed and still being fetched.")
	dCatConv   = desc("meshnode_catalog_converged", "1 when this node holds the current entry of every alive member it knows.")
	dCatChg    = desc("meshnode_catalog_changes_total", "Changes of the catalog this node holds.")
	dCatVer    = desc("meshnode_catalog_local_version", "Version of this node's own catalog entry.")
	dRvConn    = desc("meshnode_rendezvous_connected", "1 while connected to the rendezvous.")
	dRvConns   = desc("meshnode_rendezvous_connects_total", "Successful connections to the rendezvous.")
	dRvRTT     = desc("meshnode_rendezvous_rtt_seconds", "Last measured round trip to the rendezvous.")
	dRlIn      = desc("meshnode_relay_received_bytes_total", "Datagram payload bytes received through the rendezvous.")
	dRlOut     = desc("meshnode_relay_sent_bytes_total", "Datagram payload bytes sent through the rendezvous.")
	dRlPIn     = desc("meshnode_relay_received_packets_total", "Datagrams received through the rendezvous.")
	dRlPOut    = desc("meshnode_relay_sent_packets_total", "Datagrams sent through the rendezvous.")
	dRlDrop    = desc("meshnode_relay_queue_drops_total", "Datagrams dropped because the send queue to the rendezvous was full.")
)

var nodeDescs = []*prometheus.Desc{dPeerIn, dPeerOut, dPeerDir, dPeerUp, dPeerRTT, dPeers, dOmitted, dPending, dPathChg, dPunch, dPunchPath,
	dHSOK, dHSFail, dMapOpen, dMapTotal, dMapErr, dMapOut, dMapIn, dMapOmit,
	dSvcOpen, dSvcTotal, dSvcRef, dSvcErr, dSvcIn, dSvcOut, dCatMem, dCatOwn, dCatSvc, dCatLocal, dCatMiss,
	dCatPend, dCatConv, dCatChg, dCatVer, dRvConn, dRvConns, dRvRTT, dRlIn, dRlOut, dRlPIn, dRlPOut, dRlDrop,
	dEntryOpen, dEntryRef, dHardNAT}

type nodeCollector struct {
	n    NodeSource
	opts NodeOptions
}

func newNodeCollector(n NodeSource, opts NodeOptions) *nodeCollector {
	if opts.MaxPeerSeries <= 0 {
		opts.MaxPeerSeries = DefaultMaxPeerSeries
	}
	if opts.MaxMappingSeries <= 0 {
		opts.MaxMappingSeries = 256
	}
	return &nodeCollector{n: n, opts: opts}
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range nodeDescs {
		ch <- d
	}
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.n.Metrics()

	direct, pending, listed, omitted := 0, 0, 0, 0
	seen := make(map[string]bool, min(len(m.Peers), c.opts.MaxPeerSeries))
	for _, p := range m.Peers {
		if p.Direct {
			direct++
		}
		if !p.Authenticated {
			pending++
			continue
		}
		if listed >= c.opts.MaxPeerSeries {
			omitted++
			continue
		}
		listed++
		id := p.ID.Short()
		if seen[id] { // two keys with one short form: the full key tells them apart
			id = p.ID.String()
		}
		seen[id] = true
		counter(ch, dPeerIn, p.BytesIn, id)
		counter(ch, dPeerOut, p.BytesOut, id)
		gauge(ch, dPeerDir, b2f(p.Direct), id)
		gauge(ch, dPeerUp, b2f(p.Up), id)
		gauge(ch, dPeerRTT, p.RTT.Seconds(), id)
	}
	gauge(ch, dPeers, float64(direct), "direct")
	gauge(ch, dPeers, float64(len(m.Peers)-direct), "relay")
	gauge(ch, dOmitted, float64(omitted))
	gauge(ch, dPending, float64(pending))

	for _, v := range m.PathChanges {
		counter(ch, dPathChg, v.Value, v.Labels...)
	}
	for _, v := range m.HolePunches {
		counter(ch, dPunch, v.Value, v.Labels...)
	}
	for _, v := range m.HolePunchMethods {
		counter(ch, dPunchPath, v.Value, v.Labels...)
	}
	for _, v := range m.HardNAT {
		counter(ch, dHardNAT, v.Value, v.Labels...)
	}
	if e := c.opts.Entry; e != nil {
		gauge(ch, dEntryOpen, float64(e.Open()))
		counter(ch, dEntryRef, e.Refused())
	}
	counter(ch, dHSOK, m.HandshakesOK)
	for _, v := range m.HandshakeFailures {
		counter(ch, dHSFail, v.Value, v.Labels...)
	}

	for i, mp := range m.Mappings {
		if i >= c.opts.MaxMappingSeries {
			break
		}
		port := strconv.Itoa(mp.Port)
		gauge(ch, dMapOpen, float64(mp.Open), port, mp.Proto)
		counter(ch, dMapTotal, mp.Total, port, mp.Proto)
		counter(ch, dMapErr, mp.Failed, port, mp.Proto)
		counter(ch, dMapOut, mp.BytesOut, port, mp.Proto)
		counter(ch, dMapIn, mp.BytesIn, port, mp.Proto)
	}
	gauge(ch, dMapOmit, float64(max(len(m.Mappings)-c.opts.MaxMappingSeries, 0)))

	for i, s := range m.Services {
		if i >= c.opts.MaxMappingSeries {
			break
		}
		id := strconv.Itoa(int(s.ID))
		gauge(ch, dSvcOpen, float64(s.Open), id, s.Proto)
		counter(ch, dSvcTotal, s.Total, id, s.Proto)
		counter(ch, dSvcRef, s.Refused, id, s.Proto)
		counter(ch, dSvcErr, s.Failed, id, s.Proto)
		counter(ch, dSvcIn, s.BytesIn, id, s.Proto)
		counter(ch, dSvcOut, s.BytesOut, id, s.Proto)
	}

	cat := m.Catalog
	gauge(ch, dCatMem, float64(cat.Members))
	gauge(ch, dCatOwn, float64(cat.Owners))
	gauge(ch, dCatSvc, float64(cat.Services))
	gauge(ch, dCatLocal, float64(cat.Local))
	gauge(ch, dCatMiss, float64(cat.Missing))
	gauge(ch, dCatPend, float64(cat.Pending))
	gauge(ch, dCatConv, b2f(cat.Converge))
	counter(ch, dCatChg, cat.Changes)
	gauge(ch, dCatVer, float64(cat.Version))

	r := m.Relay
	gauge(ch, dRvConn, b2f(r.Connected))
	counter(ch, dRvConns, r.Connects)
	gauge(ch, dRvRTT, r.RTT.Seconds())
	counter(ch, dRlIn, r.BytesIn)
	counter(ch, dRlOut, r.BytesOut)
	counter(ch, dRlPIn, r.PacketsIn)
	counter(ch, dRlPOut, r.PacketsOut)
	counter(ch, dRlDrop, r.Drops)
}
