package control

import (
	"net/netip"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/ice"
)

// netcheckResult is the API's form of a netcheck report: the one place
// ice.Report becomes api.NetcheckReport.
func netcheckResult(r ice.Report) api.NetcheckResult {
	rep := api.NetcheckReport{
		Local:   r.Local,
		UDP:     api.Finding[bool](r.UDP),
		Public:  api.Finding[netip.AddrPort](r.Public),
		NAT:     api.Finding[bool](r.NAT),
		Mapping: api.Finding[api.NATMapping]{Known: r.Mapping.Known, Value: api.NATMapping(r.Mapping.Value), Why: r.Mapping.Why},
		Hairpin: api.Finding[bool](r.Hairpin),
		RTT:     api.Finding[time.Duration](r.RTT),
		Probes:  make([]api.Probe, len(r.Probes)),

		SeqDelta:    api.Finding[int](r.SeqDelta),
		PortMapping: api.PortMapReport(r.PortMapping),
	}
	for i, p := range r.Probes {
		rep.Probes[i] = api.Probe(p)
	}
	return api.NetcheckResult{Summary: r.Summary(), Report: rep}
}
