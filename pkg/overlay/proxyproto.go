package overlay

// PROXY protocol headers (haproxy.org/download/2.9/doc/proxy-protocol.txt),
// written to a service's target before the client's bytes when the service
// asks for them (api.Limits.ProxyProtocol), so that the target (nginx,
// HAProxy, a database) sees the real client's address.
//
// v1: "PROXY TCP4 SRC DST SPORT DPORT\r\n" (TCP6 for IPv6), or "PROXY
// UNKNOWN\r\n" when the client's address is not known (a node that predates
// streamServiceFrom, the proxy entry).
// v2: the binary form, command PROXY with the addresses, or LOCAL when the
// client's address is not known; it carries the mesh node the connection
// came from as a TLV of type tlvMeshNode (in the range the specification
// leaves to applications), its ID in base32 as `meshnode id` prints it.

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/meshnode/meshnode/pkg/control/api"
)

// tlvMeshNode is the v2 TLV type of the client's mesh node ID.
const tlvMeshNode = 0xE0

var proxyV2Sig = []byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// proxyHeader builds a PROXY header of version ("v1" or "v2") for a
// connection from src (invalid: unknown) to dst, from mesh node node.
func proxyHeader(version string, src, dst netip.AddrPort, node string) ([]byte, error) {
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	known := src.IsValid() && dst.IsValid()
	if known && src.Addr().Is4() != dst.Addr().Is4() { // one family for both: 4-in-6
		src = netip.AddrPortFrom(netip.AddrFrom16(src.Addr().As16()), src.Port())
		dst = netip.AddrPortFrom(netip.AddrFrom16(dst.Addr().As16()), dst.Port())
	}
	switch version {
	case "v1":
		if !known {
			return []byte("PROXY UNKNOWN\r\n"), nil
		}
		fam := "TCP4"
		if !src.Addr().Is4() {
			fam = "TCP6"
		}
		return fmt.Appendf(nil, "PROXY %s %s %s %d %d\r\n", fam, src.Addr(), dst.Addr(), src.Port(), dst.Port()), nil
	case "v2":
		b := append([]byte(nil), proxyV2Sig...)
		var body []byte
		if !known {
			b = append(b, 0x20, 0x00) // LOCAL, UNSPEC
		} else {
			b = append(b, 0x21) // version 2, PROXY
			if src.Addr().Is4() {
				b = append(b, 0x11) // TCP over IPv4
			} else {
				b = append(b, 0x21) // TCP over IPv6
			}
			body = append(body, src.Addr().AsSlice()...)
			body = append(body, dst.Addr().AsSlice()...)
			body = binary.BigEndian.AppendUint16(body, src.Port())
			body = binary.BigEndian.AppendUint16(body, dst.Port())
		}
		if node != "" {
			body = append(body, tlvMeshNode)
			body = binary.BigEndian.AppendUint16(body, uint16(len(node)))
			body = append(body, node...)
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
		return append(b, body...), nil
	}
	return nil, fmt.Errorf("PROXY protocol %q: want v1 or v2", version)
}

// writeProxyHeader writes a header of version ("": none) to w.
func writeProxyHeader(w io.Writer, version string, src, dst netip.AddrPort, node string) error {
	if version == "" {
		return nil
	}
	h, err := proxyHeader(version, src, dst, node)
	if err != nil {
		return err
	}
	_, err = w.Write(h)
	return err
}

// proxyVersion is the PROXY protocol version l asks for ("": none).
func proxyVersion(l *api.Limits) string {
	if l == nil {
		return ""
	}
	return l.ProxyProtocol
}

// addrPortOf is a TCP address as a netip.AddrPort (invalid for others),
// 4-in-6 addresses unmapped.
func addrPortOf(a net.Addr) netip.AddrPort {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
