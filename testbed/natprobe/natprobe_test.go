package natprobe

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"
)

// Without a NAT (loopback, two addresses) a host classifies as open: the
// server sees the socket's own address from every destination and replies
// from the other IP and port arrive.
func TestClassifyWithoutNAT(t *testing.T) {
	srv, err := Listen(net.ListenPacket, net.Listen, netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), 0)
	if err != nil {
		t.Skipf("loopback 127.0.0.2 not usable here: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go srv.Serve(ctx)
	tg := srv.Target()
	if tg.AltPort.Addr() != tg.Primary.Addr() || tg.AltPort.Port() == tg.Primary.Port() || tg.AltIP.Addr() == tg.Primary.Addr() {
		t.Fatalf("bad target %+v", tg)
	}
	res, err := Classify(ctx, Config{Local: netip.MustParseAddr("127.0.0.1"), Wait: 300 * time.Millisecond}, tg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind() != "open" || !res.UDP || !res.TCP || !res.PortPreserved || res.NAT() || !res.Hairpin ||
		res.Mapping != EndpointIndependent || res.Filtering != EndpointIndependent {
		t.Errorf("loopback classified as %v", res)
	}
	if res.TCPMapped.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("TCP source seen as %v", res.TCPMapped)
	}

	// Hole punching between two sockets without NAT works either way.
	a, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	b, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	defer a.Close()
	defer b.Close()
	ma, err1 := Mapped(ctx, a, tg.Primary, time.Second, 50*time.Millisecond)
	mb, err2 := Mapped(ctx, b, tg.Primary, time.Second, 50*time.Millisecond)
	if err1 != nil || err2 != nil || ma != addrPort(a.LocalAddr()) || mb != addrPort(b.LocalAddr()) {
		t.Fatalf("Mapped: %v %v %v %v", ma, err1, mb, err2)
	}
	pr, err := Punch(ctx, Peer{a, ma}, Peer{b, mb}, false, time.Second)
	if err != nil || !pr.OK() || pr.AFrom != mb || pr.BFrom != ma {
		t.Errorf("Punch = %+v, %v", pr, err)
	}
}

// With nobody answering, a host classifies as blocked, quickly and without error.
func TestClassifyNoServer(t *testing.T) {
	dead := netip.MustParseAddrPort("127.0.0.1:9")
	ctx := context.Background()
	start := time.Now()
	res, err := Classify(ctx, Config{Local: netip.MustParseAddr("127.0.0.1"), Wait: 100 * time.Millisecond, Interval: 20 * time.Millisecond},
		Target{Primary: dead, AltPort: dead, AltIP: dead})
	if err != nil {
		t.Fatal(err)
	}
	if res.UDP || res.TCP || res.Kind() != "blocked" {
		t.Errorf("no server classified as %v", res)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestKind(t *testing.T) {
	m := netip.MustParseAddrPort("198.18.0.9:1000")
	l := netip.MustParseAddrPort("10.0.0.2:1000")
	cases := []struct {
		r    Result
		want string
	}{
		{Result{UDP: false, TCP: true}, "udpblock"},
		{Result{UDP: false}, "blocked"},
		{Result{UDP: true, Local: l, Mapped: []netip.AddrPort{l, l, l}, Mapping: EndpointIndependent, Filtering: EndpointIndependent}, "open"},
		{Result{UDP: true, Local: l, Mapped: []netip.AddrPort{m, m, m}, Mapping: EndpointIndependent, Filtering: EndpointIndependent}, "fullcone"},
		{Result{UDP: true, Local: l, Mapped: []netip.AddrPort{m, m, m}, Mapping: EndpointIndependent, Filtering: AddressDependent}, "addrrestricted"},
		{Result{UDP: true, Local: l, Mapped: []netip.AddrPort{m, m, m}, Mapping: EndpointIndependent, Filtering: AddressAndPortDependent}, "portrestricted"},
		{Result{UDP: true, Local: l, Mapped: []netip.AddrPort{m, m, m}, Mapping: AddressAndPortDependent, Filtering: AddressAndPortDependent}, "symmetric"},
		{Result{UDP: true, Local: l, Mapped: []netip.AddrPort{m, m, m}, Mapping: EndpointIndependent, Filtering: Unknown}, "inconsistent"},
		{Result{UDP: true, Local: l, Mapped: ports(m, 30000, 30001, 30002), Mapping: AddressAndPortDependent, Filtering: AddressAndPortDependent}, "symseq"},
		{Result{UDP: true, Local: l, Mapped: ports(m, 30000, 30003, 30019), Mapping: AddressAndPortDependent, Filtering: AddressAndPortDependent}, "symseq"},
		{Result{UDP: true, Local: l, Mapped: ports(m, 30000, 30017, 30018), Mapping: AddressAndPortDependent, Filtering: AddressAndPortDependent}, "symmetric"},
		{Result{UDP: true, Local: l, Mapped: ports(m, 30002, 30001, 30003), Mapping: AddressAndPortDependent, Filtering: AddressAndPortDependent}, "symmetric"},
		{Result{UDP: true, Local: l, Mapped: ports(m, 30000, 30001), Mapping: AddressAndPortDependent, Filtering: AddressAndPortDependent}, "symmetric"},
	}
	for _, c := range cases {
		if got := c.r.Kind(); got != c.want {
			t.Errorf("Kind(%v) = %q, want %q", c.r, got, c.want)
		}
	}
}

// ports returns a's address with each port.
func ports(a netip.AddrPort, ps ...uint16) []netip.AddrPort {
	out := make([]netip.AddrPort, len(ps))
	for i, p := range ps {
		out[i] = netip.AddrPortFrom(a.Addr(), p)
	}
	return out
}
