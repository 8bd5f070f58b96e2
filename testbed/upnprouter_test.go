package testbed

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/meshnode/meshnode/testbed/lab"
	"github.com/meshnode/meshnode/testbed/labtest"
)

// TestUPnPRouter checks that a upnp site's router runs the real miniupnpd and
// that it answers each protocol from the LAN: NAT-PMP (public address
// request), PCP (ANNOUNCE) and UPnP IGD (SSDP discovery), each naming the
// router's public address or its description. That a mapping actually opens
// the symmetric NAT is pkg/portmap's lab test.
func TestUPnPRouter(t *testing.T) {
	labtest.RequireRoot(t)
	t.Parallel()
	l := up(t, map[string]string{"SITE_A_NAT": "portrestricted", "SITE_B_NAT": "upnp"})
	gw := netip.MustParseAddr("10.22.0.1")
	public := netip.MustParseAddr("198.18.12.2")

	t.Run("nat-pmp", func(t *testing.T) {
		resp := udpExchange(t, l, "b1", netip.AddrPortFrom(gw, 5351), []byte{0, 0})
		// version 0, opcode 128, result u16, epoch u32, address
		if len(resp) != 12 || resp[0] != 0 || resp[1] != 128 {
			t.Fatalf("NAT-PMP answer % x: want 12 bytes, version 0, opcode 128", resp)
		}
		if rc := binary.BigEndian.Uint16(resp[2:]); rc != 0 {
			t.Fatalf("NAT-PMP result code %d", rc)
		}
		if got := netip.AddrFrom4([4]byte(resp[8:12])); got != public {
			t.Errorf("NAT-PMP public address %v, want %v", got, public)
		}
	})
	t.Run("pcp", func(t *testing.T) {
		req := make([]byte, 24) // version 2, ANNOUNCE, lifetime 0
		req[0] = 2
		client := netip.AddrFrom4([4]byte{10, 22, 0, 2}).As16()
		copy(req[8:], client[:])
		resp := udpExchange(t, l, "b1", netip.AddrPortFrom(gw, 5351), req)
		// version 2, R|opcode 0x80, reserved, result code
		if len(resp) < 24 || resp[0] != 2 || resp[1] != 0x80 {
			t.Fatalf("PCP answer % x: want >= 24 bytes, version 2, ANNOUNCE response", resp)
		}
		if resp[3] != 0 {
			t.Errorf("PCP result code %d", resp[3])
		}
	})
	t.Run("upnp-igd", func(t *testing.T) {
		req := "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\n" +
			"ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n"
		resp := string(udpExchange(t, l, "b1", netip.MustParseAddrPort("239.255.255.250:1900"), []byte(req)))
		if !strings.HasPrefix(resp, "HTTP/1.1 200") || !strings.Contains(resp, "InternetGatewayDevice:1") {
			t.Fatalf("SSDP answer %q: want 200 for the IGD", resp)
		}
		if !strings.Contains(strings.ToLower(resp), "location: http://10.22.0.1:") {
			t.Errorf("SSDP answer %q: want the router's LAN address as LOCATION", resp)
		}
	})
}

// udpExchange sends req from node to dst (retrying a few times) and returns
// the first answer.
func udpExchange(t *testing.T, l *lab.Lab, node string, dst netip.AddrPort, req []byte) []byte {
	t.Helper()
	pc, err := l.ListenPacket(node, "udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	buf := make([]byte, 2048)
	for try := 0; try < 5; try++ {
		if _, err := pc.WriteTo(req, net.UDPAddrFromAddrPort(dst)); err != nil {
			t.Fatalf("send to %v: %v", dst, err)
		}
		_ = pc.SetReadDeadline(time.Now().Add(time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err == nil {
			return bytes.Clone(buf[:n])
		}
	}
	t.Fatalf("no answer from %v to % x", dst, req[:min(len(req), 16)])
	return nil
}
