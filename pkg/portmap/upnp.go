package portmap

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"time"

	"github.com/huin/goupnp"
	"github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/huin/goupnp/soap"
)

// UPnP IGD: an SSDP search sent to the gateway (unicast, and to the SSDP
// multicast group), its device description fetched from the LOCATION it
// answers with, and the WAN connection service driven through goupnp's SOAP
// clients. Everything must point at the gateway itself: an answer from
// another host or a description naming another host is ignored, so no other
// device on the LAN can steer where our requests go. goupnp's own discovery
// and description fetch use package-level HTTP clients; this file fetches
// the description with its own client (bounded body, our dialer) and hands
// goupnp the parsed device.

// igdConn is what the three WAN connection services have in common.
type igdConn interface {
	AddPortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string, intPort uint16,
		intClient string, enabled bool, desc string, lease uint32) error
	DeletePortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string) error
	GetExternalIPAddressCtx(ctx context.Context) (string, error)
}

// igd is the gateway's WAN connection service.
type igd struct {
	conn    igdConn
	any     *internetgateway2.WANIPConnection2 // IGDv2: AddAnyPortMapping
	service string
	local   netip.Addr
}

const ssdpAddr = "239.255.255.250:1900"

// maxDescription bounds the device description we read.
const maxDescription = 256 << 10

// UPnP error codes (IGD spec).
const (
	upnpConflict           = 718 // ConflictInMappingEntry
	upnpOnlyPermanentLease = 725 // OnlyPermanentLeasesSupported
)

// igdFor returns the gateway's UPnP service (cached per gateway).
func (c *Client) igdFor(ctx context.Context, gw, local netip.Addr) (*igd, error) {
	c.mu.Lock()
	if c.igd != nil && c.igdGW == gw && c.igd.local == local {
		g := c.igd
		c.mu.Unlock()
		return g, nil
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	loc, err := c.ssdpSearch(ctx, gw, local)
	if err != nil {
		return nil, err
	}
	g, err := c.openIGD(ctx, gw, local, loc)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.igd, c.igdGW = g, gw
	c.mu.Unlock()
	return g, nil
}

// forgetIGD drops a cached service that failed (the gateway may have
// restarted on another port).
func (c *Client) forgetIGD(g *igd) {
	c.mu.Lock()
	if g == nil || c.igd == g {
		c.igd = nil
	}
	c.mu.Unlock()
}

// ssdpSearch asks for an InternetGatewayDevice and returns the LOCATION of
// the first answer from gw.
func (c *Client) ssdpSearch(ctx context.Context, gw, local netip.Addr) (*url.URL, error) {
	pc, err := c.cfg.ListenPacket("udp4", netip.AddrPortFrom(local, 0).String())
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	stop := context.AfterFunc(ctx, func() { _ = pc.SetReadDeadline(time.Now()) })
	defer stop()
	mcast, _ := net.ResolveUDPAddr("udp4", ssdpAddr)
	targets := []net.Addr{net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw, 1900)), mcast}
	var sent bool
	for _, st := range []string{"urn:schemas-upnp-org:device:InternetGatewayDevice:1", "urn:schemas-upnp-org:device:InternetGatewayDevice:2"} {
		req := "M-SEARCH * HTTP/1.1\r\nHOST: " + ssdpAddr + "\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: " + st + "\r\n\r\n"
		for _, dst := range targets {
			if _, err := pc.WriteTo([]byte(req), dst); err == nil {
				sent = true
			}
		}
	}
	if !sent {
		return nil, fmt.Errorf("SSDP search: cannot send to %v or %s", gw, ssdpAddr)
	}
	buf := make([]byte, 4096)
	for {
		n, src, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("no UPnP gateway answered the SSDP search within %v", c.cfg.Timeout)
			}
			return nil, err
		}
		if ua, ok := src.(*net.UDPAddr); !ok || ua.AddrPort().Addr().Unmap() != gw {
			continue
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(buf[:n])), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			continue
		}
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || !pointsAt(loc, gw) {
			continue
		}
		return loc, nil
	}
}

// pointsAt reports whether u is an http URL on host gw.
func pointsAt(u *url.URL, gw netip.Addr) bool {
	if u == nil || u.Scheme != "http" {
		return false
	}
	a, err := netip.ParseAddr(u.Hostname())
	return err == nil && a.Unmap() == gw
}

// openIGD fetches the device description at loc and finds its WAN
// connection service (WANIPConnection2, WANIPConnection1, WANPPPConnection1).
func (c *Client) openIGD(ctx context.Context, gw, local netip.Addr, loc *url.URL) (*igd, error) {
	hc := http.Client{Transport: &http.Transport{DialContext: c.cfg.DialContext, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return errors.New("redirect refused") }}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("device description: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("device description %s: HTTP %s", loc, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDescription+1))
	if err != nil {
		return nil, fmt.Errorf("device description: %w", err)
	}
	if len(body) > maxDescription {
		return nil, fmt.Errorf("device description %s exceeds %d bytes", loc, maxDescription)
	}
	root := new(goupnp.RootDevice)
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.DefaultSpace = goupnp.DeviceXMLNamespace
	if err := dec.Decode(root); err != nil {
		return nil, fmt.Errorf("device description %s: %w", loc, err)
	}
	base := loc
	if root.URLBaseStr != "" {
		if base, err = url.Parse(root.URLBaseStr); err != nil || !pointsAt(base, gw) {
			return nil, fmt.Errorf("device description %s: URLBase %q is not on the gateway", loc, root.URLBaseStr)
		}
	}
	root.SetURLBase(base)
	usable := func(sc *goupnp.ServiceClient) bool {
		if !pointsAt(&sc.SOAPClient.EndpointURL, gw) {
			return false
		}
		sc.SOAPClient.HTTPClient = hc
		return true
	}
	g := &igd{local: local}
	if cs, _ := internetgateway2.NewWANIPConnection2ClientsFromRootDevice(root, loc); len(cs) > 0 && usable(&cs[0].ServiceClient) {
		g.conn, g.any, g.service = cs[0], cs[0], "WANIPConnection:2"
	} else if cs, _ := internetgateway2.NewWANIPConnection1ClientsFromRootDevice(root, loc); len(cs) > 0 && usable(&cs[0].ServiceClient) {
		g.conn, g.service = cs[0], "WANIPConnection:1"
	} else if cs, _ := internetgateway2.NewWANPPPConnection1ClientsFromRootDevice(root, loc); len(cs) > 0 && usable(&cs[0].ServiceClient) {
		g.conn, g.service = cs[0], "WANPPPConnection:1"
	} else {
		return nil, fmt.Errorf("device %s has no WAN connection service on the gateway", loc)
	}
	return g, nil
}

func (g *igd) externalIP(ctx context.Context) (netip.Addr, error) {
	s, err := g.conn.GetExternalIPAddressCtx(ctx)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%s GetExternalIPAddress: %w", g.service, err)
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%s GetExternalIPAddress: %q is not an IPv4 address", g.service, s)
	}
	return a, nil
}

// addMapping maps internal's port: at port want (an existing mapping's, or
// the internal port), else any port the gateway picks (IGDv2) or a few
// random ones. Its lease is lifetime seconds, or permanent on a gateway that
// leases only forever (lifetime 0 returned).
func (g *igd) addMapping(ctx context.Context, internal netip.AddrPort, want uint16, lifetime uint32, desc string) (netip.AddrPort, uint32, error) {
	ext, err := g.externalIP(ctx)
	if err != nil {
		return netip.AddrPort{}, 0, err
	}
	client := internal.Addr().String()
	add := func(port uint16, lease uint32) error {
		return g.conn.AddPortMappingCtx(ctx, "", port, "UDP", internal.Port(), client, true, desc, lease)
	}
	lease := lifetime
	tryPort := func(port uint16) error {
		err := add(port, lease)
		if upnpCode(err) == upnpOnlyPermanentLease {
			lease = 0
			err = add(port, lease)
		}
		return err
	}
	err = tryPort(want)
	if err == nil {
		return netip.AddrPortFrom(ext, want), lease, nil
	}
	if upnpCode(err) != upnpConflict {
		return netip.AddrPort{}, 0, fmt.Errorf("%s AddPortMapping %d: %w", g.service, want, err)
	}
	if g.any != nil {
		p, aerr := g.any.AddAnyPortMappingCtx(ctx, "", want, "UDP", internal.Port(), client, true, desc, lease)
		if aerr == nil && p != 0 {
			return netip.AddrPortFrom(ext, p), lease, nil
		}
	}
	for range 3 {
		p := uint16(1024 + rand.IntN(65535-1024))
		if err = tryPort(p); err == nil {
			return netip.AddrPortFrom(ext, p), lease, nil
		}
	}
	return netip.AddrPort{}, 0, fmt.Errorf("%s AddPortMapping: every port tried is taken: %w", g.service, err)
}

func (g *igd) deleteMapping(ctx context.Context, port uint16) error {
	if err := g.conn.DeletePortMappingCtx(ctx, "", port, "UDP"); err != nil {
		return fmt.Errorf("%s DeletePortMapping %d: %w", g.service, port, err)
	}
	return nil
}

// upnpCode returns a SOAP fault's UPnP error code (0 if err is not one).
func upnpCode(err error) int {
	var f *soap.SOAPFaultError
	if errors.As(err, &f) {
		return f.Detail.UPnPError.Errorcode
	}
	return 0
}

// readProcRoutes reads the IPv4 routing table.
func readProcRoutes() ([]byte, error) {
	b, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return nil, fmt.Errorf("read the routing table: %w", err)
	}
	return b, nil
}
