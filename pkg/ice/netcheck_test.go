package ice

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/stunsrv"
)

// startSTUN runs the rendezvous' STUN server on n loopback ports.
func startSTUN(t *testing.T, n int) []string {
	t.Helper()
	srv := stunsrv.New(stunsrv.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, n)
	var addrs []string
	for range n {
		pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, pc.LocalAddr().String())
		go func() { srv.Serve(ctx, pc); done <- struct{}{} }()
	}
	t.Cleanup(func() {
		cancel()
		for range n {
			<-done
		}
	})
	return addrs
}

func TestNetcheckLoopback(t *testing.T) {
	checkGoroutines(t)
	servers := startSTUN(t, 2)
	rep, err := Netcheck(context.Background(), NetcheckConfig{STUN: servers})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.MarshalIndent(rep, "", "  ")
	t.Logf("%s\n%s", js, rep.Summary())
	if !rep.UDP.Known || !rep.UDP.Value {
		t.Errorf("UDP: %+v", rep.UDP)
	}
	if !rep.Public.Known || rep.Public.Value != rep.Local || rep.Local.Addr().String() != "127.0.0.1" {
		t.Errorf("public %+v, local %v: want the local socket", rep.Public, rep.Local)
	}
	// Loopback has no NAT: the server sees our own address, the same toward both
	// ports.
	if !rep.NAT.Known || rep.NAT.Value {
		t.Errorf("NAT %+v", rep.NAT)
	}
	if !rep.Mapping.Known || rep.Mapping.Value != MappingEndpointIndependent {
		t.Errorf("mapping %+v", rep.Mapping)
	}
	if !rep.Hairpin.Known || !rep.Hairpin.Value {
		t.Errorf("hairpin %+v", rep.Hairpin)
	}
	if !rep.RTT.Known || rep.RTT.Value <= 0 || rep.RTT.Value > time.Second {
		t.Errorf("RTT %+v", rep.RTT)
	}
	for _, p := range rep.Probes {
		if p.Mapped != rep.Local || p.Err != "" {
			t.Errorf("probe %+v", p)
		}
	}
	if !strings.HasPrefix(rep.Summary(), "no NAT") {
		t.Errorf("summary %q", rep.Summary())
	}
}

// TestMappingClassification covers the verdicts loopback cannot produce.
func TestMappingClassification(t *testing.T) {
	a, b := netipMust("198.18.1.2:40001"), netipMust("198.18.1.2:40002")
	for _, tc := range []struct {
		name   string
		probes []Probe
		want   Mapping
		known  bool
		why    string
	}{
		{"EIM", []Probe{{Server: "s1", Mapped: a}, {Server: "s2", Mapped: a}}, MappingEndpointIndependent, true, "both see"},
		{"EDM", []Probe{{Server: "s1", Mapped: a}, {Server: "s2", Mapped: b}}, MappingEndpointDependent, true, "s2 sees 198.18.1.2:40002"},
		{"EDM other IP", []Probe{{Server: "s1", Mapped: a}, {Server: "s2", Mapped: netipMust("198.18.9.9:40001")}}, MappingEndpointDependent, true, "different external IPs"},
		{"one port", []Probe{{Server: "s1", Mapped: a}}, MappingUnknown, false, "only one STUN port configured"},
		{"one answered", []Probe{{Server: "s1", Mapped: a}, {Server: "s2"}}, MappingUnknown, false, "only one STUN port answered"},
		{"none", []Probe{{Server: "s1"}, {Server: "s2"}}, MappingUnknown, false, "no STUN answer"},
	} {
		r := mapping(tc.probes)
		if r.Value != tc.want || r.Known != tc.known || !strings.Contains(r.Why, tc.why) {
			t.Errorf("%s: %+v, want %v known=%v why~%q", tc.name, r, tc.want, tc.known, tc.why)
		}
	}
}

func TestBehindNAT(t *testing.T) {
	local := netipMust("10.0.0.2:4000")
	for _, tc := range []struct {
		local        netip.AddrPort
		mapped       netip.AddrPort
		known, value bool
	}{
		{local, local, true, false},
		{local, netipMust("198.18.1.2:40001"), true, true},
		{local, netip.AddrPort{}, false, false},
		{netip.AddrPort{}, local, false, false},
	} {
		r := behindNAT(tc.local, Probe{Server: "s", Mapped: tc.mapped})
		if r.Known != tc.known || r.Value != tc.value || r.Why == "" {
			t.Errorf("behindNAT(%v, %v) = %+v", tc.local, tc.mapped, r)
		}
	}
}

func TestNetcheckNoUDP(t *testing.T) {
	checkGoroutines(t)
	// A port with no STUN server behind it: nothing answers.
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	start := time.Now()
	rep, err := Netcheck(context.Background(), NetcheckConfig{STUN: []string{pc.LocalAddr().String()}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v with a 1s timeout", d)
	}
	if !rep.UDP.Known || rep.UDP.Value || rep.Public.Known || rep.NAT.Known || rep.Mapping.Known || rep.Hairpin.Known || rep.RTT.Known {
		t.Fatalf("report %+v", rep)
	}
	if !strings.Contains(rep.Summary(), "no UDP") || !strings.Contains(rep.Probes[0].Err, "no answer") {
		t.Fatalf("summary %q, probe %+v", rep.Summary(), rep.Probes[0])
	}

	if _, err := Netcheck(context.Background(), NetcheckConfig{}); err == nil {
		t.Fatal("no servers accepted")
	}
	if _, err := Netcheck(context.Background(), NetcheckConfig{STUN: []string{"noport"}}); err == nil {
		t.Fatal("bad server accepted")
	}
}

func TestSequentialStep(t *testing.T) {
	cases := []struct {
		a, b, c uint16
		step    int
		seq     bool
	}{
		{30000, 30001, 30002, 1, true},
		{30001, 30000, 30003, 1, true}, // the two concurrent probes in either order
		{30000, 30002, 30004, 2, true},
		{30000, 30016, 30032, 16, true},
		{30000, 30017, 30018, 0, false}, // too far apart
		{30000, 30001, 29999, 0, false}, // the later one below
		{30000, 30000, 30001, 0, false}, // same port: not endpoint-dependent
		{28561, 19884, 7438, 0, false},  // random
	}
	for _, c := range cases {
		step, seq := sequentialStep(c.a, c.b, c.c)
		if step != c.step || seq != c.seq {
			t.Errorf("sequentialStep(%d, %d, %d) = %d, %v; want %d, %v", c.a, c.b, c.c, step, seq, c.step, c.seq)
		}
	}
}
