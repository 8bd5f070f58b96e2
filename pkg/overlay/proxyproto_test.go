package overlay

import (
	"bufio"
	"bytes"
	"net"
	"net/netip"
	"testing"

	proxyproto "github.com/pires/go-proxyproto"
)

// TestProxyHeader: the headers parse with go-proxyproto (an independent
// implementation) to the addresses and mesh node they were made of.
func TestProxyHeader(t *testing.T) {
	const node = "zl6uzdlgrvbj5qelf6t4fbqrlwah4ecpyxjb4z54wxvls4oxbiea"
	v4a, v4b := netip.MustParseAddrPort("192.0.2.7:51234"), netip.MustParseAddrPort("127.0.0.1:22")
	v6a := netip.MustParseAddrPort("[2001:db8::7]:40000")
	for _, tc := range []struct {
		version  string
		src, dst netip.AddrPort
		wantSrc  string // "": LOCAL / UNKNOWN
		wantDst  string
	}{
		{"v1", v4a, v4b, "192.0.2.7:51234", "127.0.0.1:22"},
		{"v2", v4a, v4b, "192.0.2.7:51234", "127.0.0.1:22"},
		{"v1", v6a, v4b, "[2001:db8::7]:40000", "127.0.0.1:22"},
		{"v2", v6a, v4b, "[2001:db8::7]:40000", "127.0.0.1:22"},
		{"v2", netip.AddrPortFrom(netip.MustParseAddr("::ffff:10.1.2.3"), 5), v4b, "10.1.2.3:5", "127.0.0.1:22"},
		{"v1", netip.AddrPort{}, v4b, "", ""},
		{"v2", netip.AddrPort{}, v4b, "", ""},
	} {
		b, err := proxyHeader(tc.version, tc.src, tc.dst, node)
		if err != nil {
			t.Fatal(err)
		}
		h, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(append(b, "payload"...))))
		if err != nil {
			t.Errorf("%s %v: go-proxyproto cannot read %q: %v", tc.version, tc.src, b, err)
			continue
		}
		if tc.wantSrc == "" {
			if h.Command.IsProxy() && h.TransportProtocol != proxyproto.UNSPEC {
				t.Errorf("%s unknown source: %+v", tc.version, h)
			}
		} else if h.SourceAddr.String() != tc.wantSrc || h.DestinationAddr.String() != tc.wantDst {
			t.Errorf("%s: %v -> %v, want %s -> %s", tc.version, h.SourceAddr, h.DestinationAddr, tc.wantSrc, tc.wantDst)
		}
		if tc.version == "v2" {
			tlvs, err := h.TLVs()
			if err != nil || len(tlvs) != 1 || tlvs[0].Type != tlvMeshNode || string(tlvs[0].Value) != node {
				t.Errorf("v2 TLVs %+v %v; want the node ID as type %#x", tlvs, err, tlvMeshNode)
			}
		}
	}
	if _, err := proxyHeader("v3", v4a, v4b, node); err == nil {
		t.Error("PROXY protocol v3 accepted")
	}
	if got := addrPortOf(&net.UDPAddr{}); got.IsValid() {
		t.Errorf("addrPortOf(UDP) = %v", got)
	}
}
