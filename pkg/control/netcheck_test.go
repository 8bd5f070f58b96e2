package control

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/ice"
)

// TestNetcheckJSONUnchanged: the API's netcheck report encodes exactly as the
// ice.Report it comes from, so clients see the same JSON as before the API had
// its own type.
func TestNetcheckJSONUnchanged(t *testing.T) {
	ap := netip.MustParseAddrPort("192.0.2.7:40000")
	r := ice.Report{
		Local:   netip.MustParseAddrPort("10.0.0.2:40000"),
		UDP:     ice.Result[bool]{Known: true, Value: true, Why: "2 of 2 STUN ports answered"},
		Public:  ice.Result[netip.AddrPort]{Known: true, Value: ap, Why: "XOR-MAPPED-ADDRESS"},
		NAT:     ice.Result[bool]{Known: true, Value: true, Why: "differs"},
		Mapping: ice.Result[ice.Mapping]{Known: true, Value: ice.MappingEndpointDependent, Why: "two ports"},
		Hairpin: ice.Result[bool]{Why: "timed out"},
		RTT:     ice.Result[time.Duration]{Known: true, Value: 1500 * time.Microsecond, Why: "best of 3"},
		Probes: []ice.Probe{
			{Server: "192.0.2.1:3478", Mapped: ap, RTT: 2 * time.Millisecond},
			{Server: "192.0.2.1:3479", Err: "no answer"},
		},
	}
	want, err := json.Marshal(struct {
		Summary string     `json:"summary"`
		Report  ice.Report `json:"report"`
	}{r.Summary(), r})
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(netcheckResult(r))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("netcheck JSON changed:\n got %s\nwant %s", got, want)
	}
}
