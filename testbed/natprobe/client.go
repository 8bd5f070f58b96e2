package natprobe

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Behavior is an RFC 4787 mapping or filtering behaviour.
type Behavior int

const (
	Unknown Behavior = iota
	EndpointIndependent
	AddressDependent
	AddressAndPortDependent
)

func (b Behavior) String() string {
	switch b {
	case EndpointIndependent:
		return "endpoint-independent"
	case AddressDependent:
		return "address-dependent"
	case AddressAndPortDependent:
		return "address-and-port-dependent"
	}
	return "unknown"
}

// Result is what a probe measured from one host.
type Result struct {
	Local  netip.AddrPort   // the mapping socket's local address
	UDP    bool             // any UDP reply came back
	Mapped []netip.AddrPort // mapping seen by Primary, AltPort, AltIP
	// Mapping: the same external address toward all three (independent), per
	// destination IP (address-dependent) or per destination (symmetric).
	Mapping Behavior
	// Filtering: inbound from the other IP arrives (independent), only from
	// the other port of the same IP (address-dependent), or neither.
	Filtering     Behavior
	PortPreserved bool // external port == local port
	Hairpin       bool // a packet to the own mapping, sent from the same host, came back
	TCP           bool // a TCP connection to Primary worked
	TCPMapped     netip.AddrPort
}

// NAT tells whether the host's packets are translated.
func (r Result) NAT() bool { return r.UDP && r.Mapped[0] != r.Local }

// maxSeqDelta is the largest step between the external ports of consecutive
// mappings that still counts as sequential: the probe's own mappings follow
// each other, but other hosts behind the NAT may take ports in between.
const maxSeqDelta = 16

// Sequential reports whether the three mappings (toward Primary, AltPort,
// AltIP, made in that order) took increasing external ports, each at most
// maxSeqDelta above the one before: a symmetric NAT whose next ports can be
// predicted.
func (r Result) Sequential() bool {
	if len(r.Mapped) < 3 {
		return false
	}
	for i := 1; i < len(r.Mapped); i++ {
		d := int(r.Mapped[i].Port()) - int(r.Mapped[i-1].Port())
		if d < 1 || d > maxSeqDelta {
			return false
		}
	}
	return true
}

// Kind names the NAT the way the lab does: open, fullcone, addrrestricted,
// portrestricted, symseq (symmetric, sequential ports), symmetric, udpblock
// (or blocked/inconsistent). A upnp router probes as symmetric: the probe
// asks for no port mapping.
func (r Result) Kind() string {
	switch {
	case !r.UDP && r.TCP:
		return "udpblock"
	case !r.UDP:
		return "blocked"
	case r.Filtering == Unknown:
		return "inconsistent"
	case r.Mapping != EndpointIndependent && r.Sequential():
		return "symseq"
	case r.Mapping != EndpointIndependent:
		return "symmetric"
	case r.Filtering == EndpointIndependent && !r.NAT():
		return "open"
	case r.Filtering == EndpointIndependent:
		return "fullcone"
	case r.Filtering == AddressDependent:
		return "addrrestricted"
	}
	return "portrestricted"
}

func (r Result) String() string {
	if !r.UDP {
		return fmt.Sprintf("kind=%s udp=no tcp=%v tcp-mapped=%v", r.Kind(), r.TCP, r.TCPMapped)
	}
	return fmt.Sprintf("kind=%s local=%v mapped=%v mapping=%v filtering=%v port-preserved=%v hairpin=%v tcp=%v",
		r.Kind(), r.Local, r.Mapped, r.Mapping, r.Filtering, r.PortPreserved, r.Hairpin, r.TCP)
}

// Config tells Classify how to open sockets on the probed host.
type Config struct {
	Local        netip.Addr // the host's own address (sockets bind to it)
	ListenPacket ListenFunc // default net.ListenPacket
	DialTCP      func(ctx context.Context, addr string) (net.Conn, error)
	// Wait bounds how long to wait for a packet a NAT may drop (default 1s);
	// requests are retransmitted every Interval (default 100ms).
	Wait, Interval time.Duration
}

func (c *Config) defaults() {
	if c.ListenPacket == nil {
		c.ListenPacket = net.ListenPacket
	}
	if c.DialTCP == nil {
		c.DialTCP = func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp4", addr)
		}
	}
	if c.Wait == 0 {
		c.Wait = time.Second
	}
	if c.Interval == 0 {
		c.Interval = 100 * time.Millisecond
	}
}

// Classify measures the NAT between the host and the probe server t. Each
// measurement uses fresh sockets, so one cannot open the filter for another.
// Errors are local failures only; dropped packets are results.
func Classify(ctx context.Context, cfg Config, t Target) (Result, error) {
	cfg.defaults()
	var r Result
	var mu sync.Mutex
	var errs []error
	fail := func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	open := func() (net.PacketConn, error) {
		return cfg.ListenPacket("udp4", netip.AddrPortFrom(cfg.Local, 0).String())
	}

	// Mapping, and whether UDP works at all.
	m, err := open()
	if err != nil {
		return r, fmt.Errorf("probe socket: %w", err)
	}
	defer m.Close()
	r.Local = addrPort(m.LocalAddr())
	for _, dst := range []netip.AddrPort{t.Primary, t.AltPort, t.AltIP} {
		rep, _, ok, err := exchange(ctx, m, dst, Request{Op: OpEcho}, 2*cfg.Wait, cfg.Interval, nil)
		if err != nil {
			return r, err
		}
		if !ok {
			break
		}
		mp, err := netip.ParseAddrPort(rep.Mapped)
		if err != nil {
			return r, fmt.Errorf("probe server sent bad mapped address %q: %w", rep.Mapped, err)
		}
		r.Mapped = append(r.Mapped, mp)
	}
	r.UDP = len(r.Mapped) == 3

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // TCP
		defer wg.Done()
		tctx, cancel := context.WithTimeout(ctx, 2*cfg.Wait)
		defer cancel()
		conn, err := cfg.DialTCP(tctx, t.Primary.String())
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(2 * cfg.Wait))
		line, err := bufio.NewReader(conn).ReadString('\n')
		var rep Reply
		if err == nil && json.Unmarshal([]byte(line), &rep) == nil {
			r.TCP = true
			r.TCPMapped, _ = netip.ParseAddrPort(rep.Mapped)
		}
	}()
	if !r.UDP {
		wg.Wait()
		return r, errors.Join(errs...)
	}
	switch {
	case r.Mapped[0] == r.Mapped[1] && r.Mapped[1] == r.Mapped[2]:
		r.Mapping = EndpointIndependent
	case r.Mapped[0] == r.Mapped[1]:
		r.Mapping = AddressDependent
	default:
		r.Mapping = AddressAndPortDependent
	}
	r.PortPreserved = r.Mapped[0].Port() == r.Local.Port()

	// Filtering: a fresh socket talks to Primary only, then asks for a
	// reply from the other IP / the other port.
	var fromIP, fromPort bool
	filter := func(op string, from netip.AddrPort, got *bool) {
		defer wg.Done()
		c, err := open()
		if err != nil {
			fail(fmt.Errorf("probe socket: %w", err))
			return
		}
		defer c.Close()
		_, _, ok, err := exchange(ctx, c, t.Primary, Request{Op: op}, cfg.Wait, cfg.Interval,
			func(_ Reply, src netip.AddrPort) bool { return src == from })
		if err != nil {
			fail(err)
		}
		*got = ok
	}
	wg.Add(3)
	go filter(OpFromAltIP, t.AltIP, &fromIP)
	go filter(OpFromAltPort, t.AltPort, &fromPort)
	go func() { // hairpin
		defer wg.Done()
		ok, err := hairpin(ctx, open, t.Primary, cfg.Wait, cfg.Interval)
		if err != nil {
			fail(err)
		}
		r.Hairpin = ok
	}()
	wg.Wait()
	switch {
	case fromIP && fromPort:
		r.Filtering = EndpointIndependent
	case !fromIP && fromPort:
		r.Filtering = AddressDependent
	case !fromIP && !fromPort:
		r.Filtering = AddressAndPortDependent
	}
	return r, errors.Join(errs...)
}

// hairpin learns a socket's mapping, then sends to it from a second socket
// of the same host and reports whether it arrives.
func hairpin(ctx context.Context, open func() (net.PacketConn, error), srv netip.AddrPort, wait, interval time.Duration) (bool, error) {
	h1, err := open()
	if err != nil {
		return false, fmt.Errorf("probe socket: %w", err)
	}
	defer h1.Close()
	h2, err := open()
	if err != nil {
		return false, fmt.Errorf("probe socket: %w", err)
	}
	defer h2.Close()
	mapped, err := Mapped(ctx, h1, srv, wait, interval)
	if err != nil || !mapped.IsValid() {
		return false, err
	}
	tok := randomToken()
	msg, _ := json.Marshal(Request{Op: opHairpin, Tok: tok})
	got := make(chan bool, 1)
	go func() {
		buf := make([]byte, 2048)
		_ = h1.SetReadDeadline(time.Now().Add(wait))
		for {
			n, _, err := h1.ReadFrom(buf)
			if err != nil {
				got <- false
				return
			}
			var req Request
			if json.Unmarshal(buf[:n], &req) == nil && req.Op == opHairpin && req.Tok == tok {
				got <- true
				return
			}
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if _, err := h2.WriteTo(msg, net.UDPAddrFromAddrPort(mapped)); err != nil && !isTransient(err) {
			return false, fmt.Errorf("hairpin send: %w", err)
		}
		select {
		case ok := <-got:
			return ok, nil
		case <-ctx.Done():
			return false, ctx.Err()
		case <-tick.C:
		}
	}
}

// Mapped asks the probe server at srv which address c's packets come from
// (zero AddrPort when no answer came within wait).
func Mapped(ctx context.Context, c net.PacketConn, srv netip.AddrPort, wait, interval time.Duration) (netip.AddrPort, error) {
	rep, _, ok, err := exchange(ctx, c, srv, Request{Op: OpEcho}, wait, interval, nil)
	if err != nil || !ok {
		return netip.AddrPort{}, err
	}
	mp, err := netip.ParseAddrPort(rep.Mapped)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("probe server sent bad mapped address %q: %w", rep.Mapped, err)
	}
	return mp, nil
}

// exchange sends req to dst every interval until a reply with its id arrives
// (and accept, if set, likes it) or wait passes.
func exchange(ctx context.Context, c net.PacketConn, dst netip.AddrPort, req Request, wait, interval time.Duration,
	accept func(Reply, netip.AddrPort) bool) (Reply, netip.AddrPort, bool, error) {
	req.ID = randomID()
	msg, _ := json.Marshal(req)
	deadline := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	buf := make([]byte, 2048)
	for {
		if _, err := c.WriteTo(msg, net.UDPAddrFromAddrPort(dst)); err != nil && !isTransient(err) {
			return Reply{}, netip.AddrPort{}, false, fmt.Errorf("send to %v: %w", dst, err)
		}
		next := time.Now().Add(interval)
		if next.After(deadline) {
			next = deadline
		}
		_ = c.SetReadDeadline(next)
		for {
			n, src, err := c.ReadFrom(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() || isTransient(err) {
					break
				}
				return Reply{}, netip.AddrPort{}, false, fmt.Errorf("receive: %w", err)
			}
			var rep Reply
			if json.Unmarshal(buf[:n], &rep) != nil || rep.ID != req.ID {
				continue
			}
			from := addrPort(src)
			if accept == nil || accept(rep, from) {
				_ = c.SetReadDeadline(time.Time{})
				return rep, from, true, nil
			}
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			_ = c.SetReadDeadline(time.Time{})
			return Reply{}, netip.AddrPort{}, false, nil
		}
	}
}

// isTransient tells errors a lossy network or an ICMP error can cause on a
// UDP socket (e.g. ECONNREFUSED from an earlier send); they mean "no reply".
func isTransient(err error) bool {
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "no route to host") ||
		strings.Contains(s, "network is unreachable") || strings.Contains(s, "operation not permitted")
}

func randomID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

func randomToken() string { return fmt.Sprintf("%016x", randomID()) }
