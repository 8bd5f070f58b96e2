package portmap

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Protocol names a port mapping protocol.
type Protocol string

// The protocols, in the order a Client tries them by default.
const (
	PCP    Protocol = "pcp"
	NATPMP Protocol = "nat-pmp"
	UPnP   Protocol = "upnp"
)

// DefaultProtocols is the order Map tries protocols in: PCP, NAT-PMP, UPnP
// IGD. (A gateway speaking PCP usually speaks NAT-PMP on the same port; UPnP
// costs an SSDP search and HTTP round trips, so it comes last.)
var DefaultProtocols = []Protocol{PCP, NATPMP, UPnP}

// Defaults of Config.
const (
	// DefaultLifetime is the lifetime a mapping is asked for; it is renewed at
	// half of what the gateway grants.
	DefaultLifetime = 2 * time.Hour
	// DefaultTimeout bounds one protocol's try (NAT-PMP/PCP: requests at 0,
	// 250, 750 ms, answers until the timeout).
	DefaultTimeout = 1500 * time.Millisecond
	// minRenew is the shortest renewal interval (a gateway granting seconds).
	minRenew = 5 * time.Second
	// retryRenew is how soon a failed renewal is retried.
	retryRenew = 15 * time.Second
)

// ErrNoGateway: no default IPv4 gateway (or no local address toward it).
var ErrNoGateway = errors.New("portmap: no default IPv4 gateway")

// ErrNotLocal: the socket to map is not on the address the gateway sees.
var ErrNotLocal = errors.New("portmap: not the address toward the gateway")

// ErrNoProtocol: no protocol got a mapping from the gateway.
var ErrNoProtocol = errors.New("portmap: the gateway granted no mapping")

// Config configures a Client. Zero values take the defaults.
type Config struct {
	// Gateway is the router to ask (default: the default route's gateway,
	// looked up at every probe and mapping, so a network change is followed).
	Gateway netip.Addr
	// Local is this host's address toward Gateway (default: the source
	// address the kernel picks).
	Local netip.Addr
	// Protocols are tried in this order (default DefaultProtocols).
	Protocols []Protocol
	// Lifetime is asked for every mapping (default 2 h; at least 2 min).
	Lifetime time.Duration
	// Timeout bounds one protocol's try (default 1.5 s).
	Timeout time.Duration
	// Description names the mappings in the gateway's UPnP table.
	Description string
	// Logger gets mapping events (default: discard).
	Logger *slog.Logger

	// ListenPacket and DialContext open the client's sockets (default: the
	// net package's); tests use them to work inside a network namespace.
	ListenPacket func(network, address string) (net.PacketConn, error)
	DialContext  func(ctx context.Context, network, address string) (net.Conn, error)
	// Routes reads the IPv4 routing table (default: /proc/net/route).
	Routes func() ([]byte, error)
}

func (c Config) withDefaults() (Config, error) {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if len(c.Protocols) == 0 {
		c.Protocols = DefaultProtocols
	}
	for _, p := range c.Protocols {
		if !slices.Contains(DefaultProtocols, p) {
			return c, fmt.Errorf("portmap: unknown protocol %q (want %s, %s or %s)", p, PCP, NATPMP, UPnP)
		}
	}
	if c.Lifetime == 0 {
		c.Lifetime = DefaultLifetime
	}
	if c.Lifetime < 2*time.Minute || c.Lifetime > 24*time.Hour {
		return c, fmt.Errorf("portmap: lifetime %v is outside 2m..24h", c.Lifetime)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Timeout < 100*time.Millisecond {
		return c, fmt.Errorf("portmap: timeout %v is below 100ms", c.Timeout)
	}
	if c.Description == "" {
		c.Description = "meshnode"
	}
	if c.Gateway.IsValid() && !c.Gateway.Is4() {
		return c, fmt.Errorf("portmap: gateway %v: only IPv4 gateways are supported", c.Gateway)
	}
	if c.Local.IsValid() && !c.Local.Is4() {
		return c, fmt.Errorf("portmap: local address %v: only IPv4 is supported", c.Local)
	}
	if c.ListenPacket == nil {
		c.ListenPacket = net.ListenPacket
	}
	if c.DialContext == nil {
		var d net.Dialer
		c.DialContext = d.DialContext
	}
	if c.Routes == nil {
		c.Routes = readProcRoutes
	}
	return c, nil
}

// Client asks one gateway for UDP port mappings. Safe for concurrent use.
type Client struct {
	cfg      Config
	log      *slog.Logger
	minRenew time.Duration // floor of the renewal interval (tests lower it)

	mu     sync.Mutex
	last   Protocol // the protocol that last granted a mapping: tried first
	igd    *igd     // the gateway's UPnP service, once found
	igdGW  netip.Addr
	maps   map[*Mapping]struct{}
	status Status
	// noneUntil: no protocol answered on gateway noneGW; Map fails at once
	// until then (a network without port mapping costs one round of
	// timeouts per noneFor, not one per ICE attempt).
	noneUntil time.Time
	noneGW    netip.Addr
}

// noneFor is how long a gateway that answered no protocol is not asked again
// by Map (Probe always asks).
const noneFor = 5 * time.Minute

// New checks cfg and returns a Client. It sends nothing yet.
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Client{cfg: cfg, log: cfg.Logger, minRenew: minRenew, maps: map[*Mapping]struct{}{}}, nil
}

// Status is what a Client knows of its gateway: for netcheck.
type Status struct {
	Gateway  netip.Addr `json:"gateway"`
	Local    netip.Addr `json:"local"`
	PCP      bool       `json:"pcp"`     // answered PCP
	NATPMP   bool       `json:"nat_pmp"` // answered NAT-PMP
	UPnP     bool       `json:"upnp"`    // has a UPnP IGD WAN connection service
	External netip.Addr `json:"external,omitzero"`
	// Protocol is the one mappings use: the first of Config.Protocols that
	// answered ("" when none did).
	Protocol Protocol `json:"protocol,omitempty"`
	// Mappings are the mappings held now (external address -> local port).
	Mappings []MappingInfo `json:"mappings,omitempty"`
	Error    string        `json:"error,omitempty"`
}

// MappingInfo describes a held mapping.
type MappingInfo struct {
	Protocol  Protocol       `json:"protocol"`
	Internal  netip.AddrPort `json:"internal"`
	External  netip.AddrPort `json:"external"`
	ExpiresIn time.Duration  `json:"expires_in"`
}

// Probe asks the gateway, by every configured protocol, whether it maps
// ports, and learns the external address. It returns the Status (also kept
// for Status); the error says why nothing answered.
func (c *Client) Probe(ctx context.Context) (Status, error) {
	gw, local, err := c.route()
	st := Status{Gateway: gw, Local: local}
	if err != nil {
		st.Error = err.Error()
		c.setStatus(st)
		return c.Status(), err
	}
	// All protocols at once: a gateway that answers none costs one timeout.
	type answer struct {
		ext netip.Addr
		err error
	}
	answers := make([]answer, len(c.cfg.Protocols))
	var wg sync.WaitGroup
	for i, p := range c.cfg.Protocols {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := &answers[i]
			switch p {
			case PCP:
				a.err = c.pcpAnnounce(ctx, gw, local)
			case NATPMP:
				a.ext, a.err = c.pmpAddress(ctx, gw, local)
			case UPnP:
				var g *igd
				if g, a.err = c.igdFor(ctx, gw, local); a.err == nil {
					a.ext, a.err = g.externalIP(ctx)
				}
			}
		}()
	}
	wg.Wait()
	var errs []error
	for i, p := range c.cfg.Protocols {
		a := answers[i]
		if a.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, a.err))
			continue
		}
		switch p {
		case PCP:
			st.PCP = true
		case NATPMP:
			st.NATPMP = true
		case UPnP:
			st.UPnP = true
		}
		if st.Protocol == "" {
			st.Protocol = p
		}
		if !st.External.IsValid() && a.ext.IsValid() {
			st.External = a.ext
		}
	}
	c.mu.Lock()
	c.noneGW, c.noneUntil = gw, time.Time{}
	if st.Protocol == "" {
		err = fmt.Errorf("%w: %w", ErrNoProtocol, errors.Join(errs...))
		st.Error = err.Error()
		c.noneUntil = time.Now().Add(noneFor)
	}
	c.mu.Unlock()
	c.setStatus(st)
	return c.Status(), err
}

func (c *Client) setStatus(st Status) {
	c.mu.Lock()
	c.status = st
	c.mu.Unlock()
}

// Status returns the last Probe's findings and the mappings held now.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.status
	st.Mappings = nil
	for m := range c.maps {
		st.Mappings = append(st.Mappings, m.Info())
	}
	slices.SortFunc(st.Mappings, func(a, b MappingInfo) int { return int(a.Internal.Port()) - int(b.Internal.Port()) })
	return st
}

// route returns the gateway and the local address toward it.
func (c *Client) route() (gw, local netip.Addr, err error) {
	gw, local = c.cfg.Gateway, c.cfg.Local
	if !gw.IsValid() {
		b, err := c.cfg.Routes()
		if err != nil {
			return gw, local, fmt.Errorf("%w: %w", ErrNoGateway, err)
		}
		if gw, err = defaultGateway(b); err != nil {
			return gw, local, err
		}
	}
	if !local.IsValid() {
		// A connected UDP socket sends nothing but learns its source address.
		conn, err := c.cfg.DialContext(context.Background(), "udp4", netip.AddrPortFrom(gw, Port).String())
		if err != nil {
			return gw, local, fmt.Errorf("%w: no route to %v: %w", ErrNoGateway, gw, err)
		}
		la, _ := conn.LocalAddr().(*net.UDPAddr)
		conn.Close()
		if la == nil {
			return gw, local, fmt.Errorf("%w: no local address toward %v", ErrNoGateway, gw)
		}
		local = la.AddrPort().Addr().Unmap()
	}
	return gw, local, nil
}

// Map asks the gateway to forward UDP to local (this host's address toward
// the gateway and a socket's port) and keeps the mapping alive (renewed at
// half its lifetime) until Mapping.Close, which deletes it. Protocols are
// tried in order, the one that last worked first. It returns an error
// wrapping ErrNotLocal when local is on another address, ErrNoGateway, or
// ErrNoProtocol with each protocol's reason.
func (c *Client) Map(ctx context.Context, local netip.AddrPort) (*Mapping, error) {
	gw, la, err := c.route()
	if err != nil {
		return nil, err
	}
	if local.Addr().Unmap() != la {
		return nil, fmt.Errorf("%w: %v (the gateway %v sees %v)", ErrNotLocal, local, gw, la)
	}
	c.mu.Lock()
	if c.noneGW == gw && time.Now().Before(c.noneUntil) {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %v answered no protocol lately (asked again by the next netcheck or after %v)", ErrNoProtocol, gw, noneFor)
	}
	order := slices.Clone(c.cfg.Protocols)
	if i := slices.Index(order, c.last); i > 0 {
		order = append([]Protocol{c.last}, slices.Delete(order, i, i+1)...)
	}
	c.mu.Unlock()
	m := &Mapping{c: c, gw: gw, internal: netip.AddrPortFrom(la, local.Port()), done: make(chan struct{}), stopped: make(chan struct{})}
	if _, err := rand.Read(m.nonce[:]); err != nil {
		return nil, fmt.Errorf("portmap: nonce: %w", err)
	}
	var errs []error
	for _, p := range order {
		m.proto = p
		if err := m.request(ctx, netip.AddrPort{}); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		c.mu.Lock()
		c.last = p
		c.maps[m] = struct{}{}
		c.mu.Unlock()
		c.log.Info("port mapped", "protocol", p, "gateway", gw, "internal", m.internal, "external", m.External(), "lifetime", m.Lifetime().String())
		go m.keep()
		return m, nil
	}
	if ctx.Err() == nil { // not just canceled: the gateway answered nothing usable
		c.mu.Lock()
		c.noneGW, c.noneUntil = gw, time.Now().Add(noneFor)
		c.mu.Unlock()
	}
	return nil, fmt.Errorf("%w for %v: %w", ErrNoProtocol, local, errors.Join(errs...))
}

// Mapping is a port mapping a Client holds.
type Mapping struct {
	c        *Client
	gw       netip.Addr
	internal netip.AddrPort
	proto    Protocol
	nonce    [12]byte // PCP

	mu       sync.Mutex
	external netip.AddrPort
	lifetime time.Duration
	expires  time.Time

	closeOnce sync.Once
	done      chan struct{} // closed by Close
	stopped   chan struct{} // closed when keep returns
}

// External returns the address the internet reaches the mapping at.
func (m *Mapping) External() netip.AddrPort {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.external
}

// Internal returns the local address the mapping forwards to.
func (m *Mapping) Internal() netip.AddrPort { return m.internal }

// Protocol returns the protocol that granted the mapping.
func (m *Mapping) Protocol() string { return string(m.proto) }

// Lifetime returns the lifetime the gateway granted last (0: permanent, a
// UPnP gateway that leases only forever).
func (m *Mapping) Lifetime() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lifetime
}

// Info describes the mapping.
func (m *Mapping) Info() MappingInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	mi := MappingInfo{Protocol: m.proto, Internal: m.internal, External: m.external}
	if !m.expires.IsZero() {
		mi.ExpiresIn = time.Until(m.expires).Round(time.Second)
	}
	return mi
}

// request asks for (or renews) the mapping; suggested is the external
// address wanted (zero: the internal port).
func (m *Mapping) request(ctx context.Context, suggested netip.AddrPort) error {
	c := m.c
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	want := uint32(c.cfg.Lifetime / time.Second)
	if !suggested.IsValid() {
		suggested = netip.AddrPortFrom(netip.Addr{}, m.internal.Port())
	}
	var ext netip.AddrPort
	var life uint32
	var err error
	switch m.proto {
	case PCP:
		ext, life, err = c.pcpMap(ctx, m.gw, m.internal, m.nonce, suggested, want)
	case NATPMP:
		ext, life, err = c.pmpMap(ctx, m.gw, m.internal, suggested.Port(), want)
	case UPnP:
		var g *igd
		if g, err = c.igdFor(ctx, m.gw, m.internal.Addr()); err == nil {
			ext, life, err = g.addMapping(ctx, m.internal, suggested.Port(), want, c.cfg.Description)
		}
		if err != nil {
			c.forgetIGD(g)
		}
	}
	if err != nil {
		return err
	}
	if !ext.Addr().IsValid() || ext.Addr().IsUnspecified() || ext.Port() == 0 {
		return fmt.Errorf("the gateway granted the unusable external address %v", ext)
	}
	m.mu.Lock()
	m.external = ext
	m.lifetime = time.Duration(life) * time.Second
	m.expires = time.Time{}
	if life > 0 {
		m.expires = time.Now().Add(m.lifetime)
	}
	m.mu.Unlock()
	return nil
}

// keep renews the mapping at half its lifetime until Close.
func (m *Mapping) keep() {
	defer close(m.stopped)
	log := m.c.log.With("protocol", m.proto, "internal", m.internal)
	failing := false
	for {
		wait := m.Lifetime() / 2
		if wait == 0 { // permanent: nothing to renew
			<-m.done
			return
		}
		if failing {
			wait = retryRenew
		}
		wait = max(wait, m.c.minRenew)
		t := time.NewTimer(wait)
		select {
		case <-m.done:
			t.Stop()
			return
		case <-t.C:
		}
		old := m.External()
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-m.done:
			case <-ctx.Done():
			}
			cancel()
		}()
		err := m.request(ctx, old)
		cancel()
		switch {
		case err != nil && !failing:
			failing = true
			log.Warn("port mapping renewal failed; retrying", "external", old, "retry_in", retryRenew.String(), "err", err)
		case err == nil:
			if failing {
				log.Info("port mapping renewed after failures", "external", m.External())
			}
			failing = false
			if ext := m.External(); ext != old {
				log.Warn("port mapping moved on renewal", "was", old, "external", ext)
			}
		}
	}
}

// Close stops renewing and deletes the mapping at the gateway (bounded by
// the Client's timeout). Safe to call more than once.
func (m *Mapping) Close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.done)
		<-m.stopped
		c := m.c
		c.mu.Lock()
		delete(c.maps, m)
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
		defer cancel()
		ext := m.External()
		switch m.proto {
		case PCP:
			_, _, err = c.pcpMap(ctx, m.gw, m.internal, m.nonce, ext, 0)
		case NATPMP:
			_, _, err = c.pmpMap(ctx, m.gw, m.internal, 0, 0)
		case UPnP:
			var g *igd
			if g, err = c.igdFor(ctx, m.gw, m.internal.Addr()); err == nil {
				err = g.deleteMapping(ctx, ext.Port())
			}
		}
		if err != nil {
			err = fmt.Errorf("portmap: delete %s mapping %v: %w", m.proto, ext, err)
			c.log.Debug("port mapping not deleted", "err", err)
			return
		}
		c.log.Debug("port mapping deleted", "protocol", m.proto, "external", ext)
	})
	return err
}

// exchange sends req to the gateway's port 5351 from a fresh socket on local
// (at 0, 250 and 750 ms) and returns the first answer parse accepts, until
// ctx ends.
func (c *Client) exchange(ctx context.Context, gw, local netip.Addr, req []byte, parse func([]byte) error) error {
	pc, err := c.cfg.ListenPacket("udp4", netip.AddrPortFrom(local, 0).String())
	if err != nil {
		return err
	}
	defer pc.Close()
	stop := context.AfterFunc(ctx, func() { _ = pc.SetReadDeadline(time.Now()) })
	defer stop()
	dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw, Port))
	buf := make([]byte, pcpMaxLen+4)
	sends := []time.Duration{0, 250 * time.Millisecond, 750 * time.Millisecond}
	start := time.Now()
	var lastErr error
	for i := 0; ; {
		if i < len(sends) && time.Since(start) >= sends[i] {
			if _, err := pc.WriteTo(req, dst); err != nil {
				return err
			}
			i++
		}
		next := time.Now().Add(time.Hour)
		if i < len(sends) {
			next = start.Add(sends[i])
		}
		if ctx.Err() != nil {
			break
		}
		_ = pc.SetReadDeadline(next)
		n, src, err := pc.ReadFrom(buf)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			return err
		}
		if ua, ok := src.(*net.UDPAddr); !ok || ua.AddrPort().Addr().Unmap() != gw || ua.Port != Port {
			continue // not the gateway
		}
		if lastErr = parse(buf[:n]); lastErr == nil {
			return nil
		}
		if !errors.Is(lastErr, errWire) && !errors.Is(lastErr, errMismatch) {
			return lastErr // a definite answer (refused, unsupported)
		}
	}
	if lastErr != nil {
		return lastErr
	}
	return fmt.Errorf("no answer from %v:%d within %v", gw, Port, time.Since(start).Round(time.Millisecond))
}

// errMismatch: an answer to another request (skipped).
var errMismatch = errors.New("answer to another request")

func (c *Client) pcpAnnounce(ctx context.Context, gw, local netip.Addr) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	return c.exchange(ctx, gw, local, pcpAnnounceRequest(local), func(b []byte) error {
		r, err := parsePCP(b)
		switch {
		case err != nil:
			return err
		case r.result != 0:
			return fmt.Errorf("PCP result %s", pcpResultText(r.result))
		case r.op != pcpOpAnnounce:
			return errMismatch
		}
		return nil
	})
}

func (c *Client) pcpMap(ctx context.Context, gw netip.Addr, internal netip.AddrPort, nonce [12]byte, suggested netip.AddrPort, lifetime uint32) (netip.AddrPort, uint32, error) {
	var ext netip.AddrPort
	var life uint32
	req := pcpMapRequest(internal.Addr(), nonce, internal.Port(), suggested, lifetime)
	err := c.exchange(ctx, gw, internal.Addr(), req, func(b []byte) error {
		r, err := parsePCP(b)
		switch {
		case err != nil:
			return err
		case r.result != 0:
			return fmt.Errorf("PCP result %s", pcpResultText(r.result))
		case r.op != pcpOpMap || r.nonce != nonce || r.protocol != protoUDP || r.internal != internal.Port():
			return errMismatch
		}
		ext, life = r.external, r.lifetime
		return nil
	})
	return ext, life, err
}

func (c *Client) pmpAddress(ctx context.Context, gw, local netip.Addr) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var ext netip.Addr
	err := c.exchange(ctx, gw, local, pmpAddressRequest(), func(b []byte) error {
		r, err := parsePMP(b)
		switch {
		case err != nil:
			return err
		case r.op != pmpOpAddress:
			return errMismatch
		case r.result != 0:
			return fmt.Errorf("NAT-PMP result %s", pmpResultText(r.result))
		}
		ext = r.external
		return nil
	})
	return ext, err
}

func (c *Client) pmpMap(ctx context.Context, gw netip.Addr, internal netip.AddrPort, suggested uint16, lifetime uint32) (netip.AddrPort, uint32, error) {
	var ext netip.AddrPort
	var life uint32
	var addr netip.Addr
	if lifetime > 0 { // NAT-PMP mapping answers carry no address: ask for it
		var err error
		if addr, err = c.pmpAddress(ctx, gw, internal.Addr()); err != nil {
			return ext, 0, err
		}
	}
	err := c.exchange(ctx, gw, internal.Addr(), pmpMapRequest(internal.Port(), suggested, lifetime), func(b []byte) error {
		r, err := parsePMP(b)
		switch {
		case err != nil:
			return err
		case r.op != pmpOpMapUDP:
			return errMismatch
		case r.result != 0:
			return fmt.Errorf("NAT-PMP result %s", pmpResultText(r.result))
		case r.internal != internal.Port():
			return errMismatch
		}
		ext, life = netip.AddrPortFrom(addr, r.mapped), r.lifetime
		return nil
	})
	return ext, life, err
}

// defaultGateway finds the IPv4 default route's gateway in /proc/net/route's
// format (hex little-endian addresses).
func defaultGateway(table []byte) (netip.Addr, error) {
	lines := strings.Split(string(table), "\n")
	for _, l := range lines[min(1, len(lines)):] {
		f := strings.Fields(l)
		if len(f) < 8 || f[1] != "00000000" || f[7] != "00000000" {
			continue // not a default route
		}
		var gw [4]byte
		if _, err := fmt.Sscanf(f[2], "%02X%02X%02X%02X", &gw[3], &gw[2], &gw[1], &gw[0]); err != nil {
			continue
		}
		if a := netip.AddrFrom4(gw); !a.IsUnspecified() {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%w in the routing table", ErrNoGateway)
}
