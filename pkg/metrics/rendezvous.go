package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshnode/meshnode/pkg/relay"
	"github.com/meshnode/meshnode/pkg/stunsrv"
)

// RendezvousSource is what the rendezvous collector reads: the relay server,
// and the STUN server when there is one (nil: no STUN series).
type RendezvousSource struct {
	Relay *relay.Server
	STUN  *stunsrv.Server
}

// NewRendezvousRegistry returns a registry with the rendezvous' series (and
// the Go runtime's and the process').
func NewRendezvousRegistry(src RendezvousSource) *prometheus.Registry {
	reg := newRegistry()
	reg.MustRegister(&rendezvousCollector{src})
	return reg
}

var (
	dRzNodes  = desc("rendezvous_nodes", "Nodes connected (handshake done).")
	dRzHS     = desc("rendezvous_handshaking", "Connections still in the handshake.")
	dRzGroups = desc("rendezvous_groups", "Groups (namespaces) with at least one node connected.")
	dRzBytes  = desc("rendezvous_relayed_bytes_total", "Datagram payload bytes relayed between nodes.")
	dRzFrames = desc("rendezvous_relayed_frames_total", "Datagrams relayed between nodes.")
	dRzDrops  = desc("rendezvous_dropped_frames_total", "Datagrams dropped, by reason.", "reason")
	dRzRej    = desc("rendezvous_rejected_connections_total", "Connections refused before joining, by reason (the error code the client was told; handshake_error: none, the handshake timed out or broke).", "reason")
	dRzAuth   = desc("rendezvous_auth_failures_total", "Connections refused for their credentials, by reason (auth keys, node proof, group signature).", "reason")
	dRzEvict  = desc("rendezvous_evicted_handshakes_total", "Handshaking connections closed to make room (max-handshaking).")
	dRzClash  = desc("rendezvous_key_clashes_total", "Nodes refused because their key was connected from another live process.")
	dRzQueued = desc("rendezvous_queued_bytes", "Datagram bytes in all send queues now.")
	dRzSTUN   = desc("rendezvous_stun_requests_total", "STUN packets, by what became of them.", "result")
)

var rendezvousDescs = []*prometheus.Desc{dRzNodes, dRzHS, dRzGroups, dRzBytes, dRzFrames, dRzDrops, dRzRej, dRzAuth, dRzEvict, dRzClash, dRzQueued, dRzSTUN}

// authCodes are the refusal codes about credentials.
var authCodes = []relay.Code{relay.CodeNoAuthKey, relay.CodeBadAuthKey, relay.CodeAuthKeyExpired, relay.CodeAuthKeyGroup,
	relay.CodeAuthKeyRevoked, relay.CodeBadNodeProof, relay.CodeBadGroupSig}

type rendezvousCollector struct{ src RendezvousSource }

func (c *rendezvousCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range rendezvousDescs {
		ch <- d
	}
}

// codeLabel is a refusal code as a label value: its name in snake case.
func codeLabel(code relay.Code) string {
	return strings.NewReplacer(" ", "_", "'", "").Replace(code.String())
}

func (c *rendezvousCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Relay.Stats()
	gauge(ch, dRzNodes, float64(st.Conns))
	gauge(ch, dRzHS, float64(st.Handshaking))
	gauge(ch, dRzGroups, float64(st.Groups))
	counter(ch, dRzBytes, st.BytesRelayed)
	counter(ch, dRzFrames, st.FramesRelayed)
	counter(ch, dRzDrops, st.DroppedQueueFull, "queue_full")
	counter(ch, dRzDrops, st.DroppedFairShare, "fair_share")
	counter(ch, dRzDrops, st.DroppedMemory, "memory")
	counter(ch, dRzDrops, st.DroppedUnknownDst, "unknown_destination")
	for code, n := range st.RejectedBy {
		counter(ch, dRzRej, n, codeLabel(code))
	}
	counter(ch, dRzRej, st.HandshakeErrors, "handshake_error")
	for _, code := range authCodes {
		counter(ch, dRzAuth, st.RejectedBy[code], codeLabel(code))
	}
	counter(ch, dRzEvict, st.Evicted)
	counter(ch, dRzClash, st.Clashes)
	gauge(ch, dRzQueued, float64(st.QueuedBytes))
	if c.src.STUN != nil {
		ss := c.src.STUN.Stats()
		counter(ch, dRzSTUN, ss.Answered, "answered")
		counter(ch, dRzSTUN, ss.Malformed, "malformed")
		counter(ch, dRzSTUN, ss.Ignored, "ignored")
		counter(ch, dRzSTUN, ss.RateLimited, "rate_limited")
		counter(ch, dRzSTUN, ss.SendErrors, "send_error")
	}
}
