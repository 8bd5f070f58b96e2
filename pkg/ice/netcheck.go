package ice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/pion/stun"
)

// NetcheckConfig says what Netcheck probes.
type NetcheckConfig struct {
	// STUN servers as "host:port", primary first: the rendezvous' two STUN ports
	// (relay.Client.STUNServers()). The mapping test needs two.
	STUN []string
	// Timeout bounds the whole check (default 3 s).
	Timeout time.Duration
	Logger  *slog.Logger
}

// Mapping is how this host's NAT maps one local UDP socket toward different
// destinations (RFC 4787).
type Mapping string

const (
	MappingUnknown Mapping = "unknown"
	// MappingEndpointIndependent: one external address toward every destination
	// (full cone, restricted, port-restricted NATs, and no NAT at all): hole
	// punching works with most peers.
	MappingEndpointIndependent Mapping = "endpoint-independent"
	// MappingEndpointDependent: a new external port per destination ("symmetric
	// NAT"): the peer can punch back only if its own NAT maps independently and
	// does not filter by port (peer-reflexive learning), else the link stays
	// relayed.
	MappingEndpointDependent Mapping = "endpoint-dependent"
)

// Result is one finding of a Report: Known says whether Value was determined; Why
// says how, or why it could not be.
type Result[T any] struct {
	Known bool   `json:"known"`
	Value T      `json:"value"`
	Why   string `json:"why"`
}

// Probe is what one STUN server answered.
type Probe struct {
	Server string         `json:"server"`
	Mapped netip.AddrPort `json:"mapped"` // invalid when no answer
	RTT    time.Duration  `json:"rtt"`
	Err    string         `json:"err,omitempty"`
}

// Report is the outcome of Netcheck.
type Report struct {
	Local   netip.AddrPort         `json:"local"` // the probing socket: the local IP toward the primary server and the port
	UDP     Result[bool]           `json:"udp"`   // UDP to the STUN ports works
	Public  Result[netip.AddrPort] `json:"public"`
	NAT     Result[bool]           `json:"nat"` // the public endpoint differs from the local one
	Mapping Result[Mapping]        `json:"mapping"`
	// SeqDelta: with an endpoint-dependent mapping, the step between the
	// external ports of consecutive new mappings when they are sequential
	// (> 0, ports predictable), or 0 when they look random.
	SeqDelta Result[int]           `json:"seq_delta"`
	Hairpin  Result[bool]          `json:"hairpin"` // a packet to our public endpoint comes back to us
	RTT      Result[time.Duration] `json:"rtt"`     // to the primary STUN port (best of the probes)
	Probes   []Probe               `json:"probes"`
	// PortMapping is what the gateway said about port mapping (filled by the
	// node, not by Netcheck).
	PortMapping PortMapReport `json:"port_mapping"`
}

// PortMapReport says whether the gateway maps ports and how.
type PortMapReport struct {
	Protocol string   `json:"protocol,omitempty"` // the one mappings use: pcp, nat-pmp, upnp ("" none)
	PCP      bool     `json:"pcp"`
	NATPMP   bool     `json:"nat_pmp"`
	UPnP     bool     `json:"upnp"`
	Gateway  string   `json:"gateway,omitempty"`
	External string   `json:"external,omitempty"` // the gateway's external address
	Mapped   []string `json:"mapped,omitempty"`   // mappings held now: "external -> internal (protocol)"
	Why      string   `json:"why,omitempty"`      // why no protocol (or not all) answered, or why it is off
}

// Summary is a one-line verdict for people: what the network allows.
func (r Report) Summary() string {
	switch {
	case r.UDP.Known && !r.UDP.Value:
		return "no UDP to the rendezvous: every peer is relayed"
	case r.NAT.Known && !r.NAT.Value:
		return "no NAT: peers can reach this node directly"
	case !r.Mapping.Known:
		return "NAT mapping unknown (" + r.Mapping.Why + ")"
	case r.Mapping.Value == MappingEndpointDependent && r.SeqDelta.Known && r.SeqDelta.Value > 0:
		return fmt.Sprintf("symmetric NAT with sequential ports (step %d) on this side: plain ICE reaches peers without NAT or behind full-cone/address-restricted NATs; port prediction reaches port-restricted ones", r.SeqDelta.Value)
	case r.Mapping.Value == MappingEndpointDependent:
		return "symmetric NAT (endpoint-dependent mapping) on this side: direct paths only to peers without NAT or behind full-cone/address-restricted NATs; others are relayed"
	}
	return "endpoint-independent NAT: direct paths to most peers (not to peers behind symmetric NATs that filter by port)"
}

const (
	defaultNetcheckTimeout = 3 * time.Second
	firstRetransmit        = 100 * time.Millisecond
	rttSamples             = 3
	hairpinWait            = 500 * time.Millisecond
)

// Netcheck probes this host's UDP connectivity with the STUN servers in cfg from
// one socket: reachability, public endpoint, mapping behaviour (the same external
// port toward both servers, or not), hairpinning and the RTT to the primary. Every
// finding that cannot be determined is reported unknown with the reason; the
// error is only for a config it cannot use or a socket it cannot open.
func Netcheck(ctx context.Context, cfg NetcheckConfig) (Report, error) {
	var rep Report
	if len(cfg.STUN) == 0 {
		return rep, errors.New("netcheck: no STUN servers (the rendezvous announced none: an older server or --stun \"\")")
	}
	for _, s := range cfg.STUN {
		if err := checkHostPort(s); err != nil {
			return rep, fmt.Errorf("netcheck: STUN server %q: %w", s, err)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultNetcheckTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	pc, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return rep, fmt.Errorf("netcheck: open a UDP socket: %w", err)
	}
	c := newStunClient(pc)
	defer c.close()

	// Resolve and probe every server at once; the hairpin test gets the rest of
	// the time.
	probeTime := cfg.Timeout - hairpinWait
	if probeTime < cfg.Timeout/2 {
		probeTime = cfg.Timeout / 2
	}
	pctx, pcancel := context.WithTimeout(ctx, probeTime)
	rep.Probes = make([]Probe, len(cfg.STUN))
	var wg sync.WaitGroup
	for i, srv := range cfg.STUN {
		samples := 1
		if i == 0 {
			samples = rttSamples // the RTT is measured against the primary
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep.Probes[i] = c.probe(pctx, srv, samples)
		}()
	}
	wg.Wait()
	pcancel()
	rep.Local = localAddr(cfg.STUN[0], pc)

	answered := 0
	for _, p := range rep.Probes {
		if p.Mapped.IsValid() {
			answered++
		}
	}
	first := rep.Probes[0]
	switch {
	case answered > 0:
		rep.UDP = Result[bool]{Known: true, Value: true, Why: fmt.Sprintf("%d of %d STUN ports answered", answered, len(rep.Probes))}
	case allUnresolved(rep.Probes):
		rep.UDP = Result[bool]{Why: "no STUN server could be resolved: " + first.Err}
	default:
		rep.UDP = Result[bool]{Known: true, Value: false, Why: fmt.Sprintf("no STUN port answered within %v: UDP is blocked on the way, or the rendezvous runs without STUN", probeTime)}
	}

	if first.Mapped.IsValid() {
		rep.Public = Result[netip.AddrPort]{Known: true, Value: first.Mapped, Why: "XOR-MAPPED-ADDRESS from " + first.Server}
		rep.RTT = Result[time.Duration]{Known: true, Value: first.RTT, Why: fmt.Sprintf("best of up to %d Binding round trips to %s", rttSamples, first.Server)}
	} else {
		why := first.Server + " did not answer: " + first.Err
		rep.Public = Result[netip.AddrPort]{Why: why}
		rep.RTT = Result[time.Duration]{Why: why}
	}

	rep.NAT = behindNAT(rep.Local, first)
	rep.Mapping = mapping(rep.Probes)
	rep.SeqDelta = Result[int]{Why: "only measured behind an endpoint-dependent mapping"}
	if rep.Mapping.Known && rep.Mapping.Value == MappingEndpointDependent {
		rep.SeqDelta = seqDelta(ctx, rep.Probes, cfg.STUN[0])
	}

	if first.Mapped.IsValid() {
		rep.Hairpin = c.hairpin(ctx, first.Mapped, rep.NAT)
	} else {
		rep.Hairpin = Result[bool]{Why: "public endpoint unknown"}
	}
	cfg.Logger.Debug("netcheck done", "udp", rep.UDP.Value, "public", rep.Public.Value, "nat", rep.NAT.Value, "mapping", rep.Mapping.Value,
		"hairpin", rep.Hairpin.Value, "rtt", rep.RTT.Value)
	return rep, nil
}

func allUnresolved(ps []Probe) bool {
	for _, p := range ps {
		if !strings.HasPrefix(p.Err, "resolve") {
			return false
		}
	}
	return true
}

// behindNAT compares our local and public endpoints.
func behindNAT(local netip.AddrPort, first Probe) Result[bool] {
	switch {
	case !first.Mapped.IsValid():
		return Result[bool]{Why: "public endpoint unknown"}
	case !local.IsValid():
		return Result[bool]{Why: "no route to " + first.Server + " to learn our local address from"}
	case first.Mapped == local:
		return Result[bool]{Known: true, Value: false, Why: fmt.Sprintf("%s sees our own address %s", first.Server, local)}
	}
	return Result[bool]{Known: true, Value: true, Why: fmt.Sprintf("%s sees %s; we are %s", first.Server, first.Mapped, local)}
}

// mapping classifies the NAT's mapping from the probes' mapped addresses.
func mapping(ps []Probe) Result[Mapping] {
	r := Result[Mapping]{Value: MappingUnknown}
	var got []Probe
	for _, p := range ps {
		if p.Mapped.IsValid() {
			got = append(got, p)
		}
	}
	switch {
	case len(got) == 0:
		r.Why = "no STUN answer"
		return r
	case len(ps) < 2:
		r.Why = "only one STUN port configured; comparing mappings needs two"
		return r
	case len(got) < 2:
		r.Why = "only one STUN port answered; comparing mappings needs two"
		return r
	}
	a, b := got[0], got[1]
	if a.Mapped == b.Mapped {
		return Result[Mapping]{Known: true, Value: MappingEndpointIndependent,
			Why: fmt.Sprintf("%s and %s both see %s", a.Server, b.Server, a.Mapped)}
	}
	why := fmt.Sprintf("%s sees %s, %s sees %s", a.Server, a.Mapped, b.Server, b.Mapped)
	if a.Mapped.Addr() != b.Mapped.Addr() {
		why += " (different external IPs: address pooling is not paired)"
	}
	return Result[Mapping]{Known: true, Value: MappingEndpointDependent, Why: why}
}

// maxSeqDelta is the largest step between consecutive mappings' external
// ports that still counts as sequential.
const maxSeqDelta = 16

// seqDelta tells sequential from random port allocation: the two probes'
// mappings were made at about the same time; one more, from a new socket
// toward the primary, must come right after them.
func seqDelta(ctx context.Context, ps []Probe, primary string) Result[int] {
	a, b := ps[0].Mapped, ps[1].Mapped
	pc, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return Result[int]{Why: "open a third socket: " + err.Error()}
	}
	c := newStunClient(pc)
	defer c.close()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	p := c.probe(ctx, primary, 1)
	if !p.Mapped.IsValid() {
		return Result[int]{Why: "a third mapping got no answer: " + p.Err}
	}
	d, ok := sequentialStep(a.Port(), b.Port(), p.Mapped.Port())
	why := fmt.Sprintf("external ports %d and %d, then %d from a new socket", a.Port(), b.Port(), p.Mapped.Port())
	if !ok {
		return Result[int]{Known: true, Value: 0, Why: why + ": random"}
	}
	return Result[int]{Known: true, Value: d, Why: fmt.Sprintf("%s: sequential, step %d", why, d)}
}

// sequentialStep says whether a and b (made at about the same time) and c
// (made after them) are sequential external ports, and the step.
func sequentialStep(a, b, c uint16) (int, bool) {
	lo, hi := int(min(a, b)), int(max(a, b))
	d1, d2 := hi-lo, int(c)-hi
	if d1 < 1 || d1 > maxSeqDelta || d2 < 1 || d2 > maxSeqDelta {
		return 0, false
	}
	return min(d1, d2), true
}

// localAddr is the address the socket uses toward server: the kernel's source IP
// for that route and the socket's port.
func localAddr(server string, pc *net.UDPConn) netip.AddrPort {
	port := pc.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	c, err := net.Dial("udp4", server) // no packet is sent
	if err != nil {
		return netip.AddrPort{}
	}
	defer c.Close()
	ip := c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
	return netip.AddrPortFrom(ip, port)
}

// stunClient sends Binding requests from one socket and matches the answers by
// transaction id on a reader goroutine.
type stunClient struct {
	pc   *net.UDPConn
	done chan struct{}

	mu      sync.Mutex
	waiting map[[stun.TransactionIDSize]byte]chan<- stunAnswer
}

type stunAnswer struct {
	tid    [stun.TransactionIDSize]byte
	mapped netip.AddrPort // of a Binding success; invalid for a request (hairpin)
	at     time.Time
}

func newStunClient(pc *net.UDPConn) *stunClient {
	c := &stunClient{pc: pc, done: make(chan struct{}), waiting: make(map[[stun.TransactionIDSize]byte]chan<- stunAnswer)}
	go c.read()
	return c
}

func (c *stunClient) close() {
	c.pc.Close()
	<-c.done
}

func (c *stunClient) read() {
	defer close(c.done)
	buf := make([]byte, 1500)
	for {
		n, _, err := c.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ECONNREFUSED from an ICMP error
		}
		at := time.Now()
		m := &stun.Message{Raw: buf[:n]}
		if !stun.IsMessage(buf[:n]) || m.Decode() != nil {
			continue
		}
		ans := stunAnswer{tid: m.TransactionID, at: at}
		if m.Type == stun.BindingSuccess {
			mapped, ok := xorMapped(m)
			if !ok {
				continue
			}
			ans.mapped = mapped
		} else if m.Type != stun.BindingRequest { // requests: the hairpin probe
			continue
		}
		c.mu.Lock()
		ch := c.waiting[m.TransactionID]
		delete(c.waiting, m.TransactionID)
		c.mu.Unlock()
		if ch != nil {
			select {
			case ch <- ans:
			default: // the waiter has enough answers
			}
		}
	}
}

// expect routes the answer to tid (one) to ch.
func (c *stunClient) expect(tid [stun.TransactionIDSize]byte, ch chan<- stunAnswer) {
	c.mu.Lock()
	c.waiting[tid] = ch
	c.mu.Unlock()
}

func (c *stunClient) forget(tid [stun.TransactionIDSize]byte) {
	c.mu.Lock()
	delete(c.waiting, tid)
	c.mu.Unlock()
}

// probe asks server for our mapped address, retransmitting with backoff until
// ctx ends, and then takes up to samples-1 more round trips for the RTT.
func (c *stunClient) probe(ctx context.Context, server string, samples int) Probe {
	p := Probe{Server: server}
	ua, err := net.ResolveUDPAddr("udp4", server)
	if err != nil {
		p.Err = "resolve: " + err.Error()
		return p
	}
	dst := ua.AddrPort()
	for i := 0; i < samples; i++ {
		mapped, rtt, err := c.roundTrip(ctx, dst)
		if err != nil {
			if !p.Mapped.IsValid() {
				p.Err = err.Error()
			}
			break
		}
		p.Mapped = mapped
		if p.RTT == 0 || rtt < p.RTT {
			p.RTT = rtt
		}
	}
	return p
}

// roundTrip gets one answer from dst, retransmitting with backoff. Each
// transmission is a fresh transaction, so the RTT is measured against the request
// actually answered.
func (c *stunClient) roundTrip(ctx context.Context, dst netip.AddrPort) (netip.AddrPort, time.Duration, error) {
	answers := make(chan stunAnswer, 16)
	sentAt := make(map[[stun.TransactionIDSize]byte]time.Time)
	defer func() {
		for tid := range sentAt {
			c.forget(tid)
		}
	}()
	wait := firstRetransmit
	for {
		req := stun.MustBuild(stun.BindingRequest, stun.TransactionID, stun.Fingerprint)
		c.expect(req.TransactionID, answers)
		sentAt[req.TransactionID] = time.Now()
		if _, err := c.pc.WriteToUDPAddrPort(req.Raw, dst); err != nil {
			return netip.AddrPort{}, 0, fmt.Errorf("send to %v: %w", dst, err)
		}
		t := time.NewTimer(wait)
		select {
		case a := <-answers:
			t.Stop()
			return a.mapped, a.at.Sub(sentAt[a.tid]), nil
		case <-t.C:
			wait = min(2*wait, time.Second)
		case <-ctx.Done():
			t.Stop()
			return netip.AddrPort{}, 0, fmt.Errorf("no answer from %v in %d tries", dst, len(sentAt))
		}
	}
}

// hairpin sends a Binding request from a second socket to our public endpoint
// and reports whether it reached the first.
func (c *stunClient) hairpin(ctx context.Context, public netip.AddrPort, nat Result[bool]) Result[bool] {
	pc2, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return Result[bool]{Why: "open a second socket: " + err.Error()}
	}
	defer pc2.Close()
	req := stun.MustBuild(stun.BindingRequest, stun.TransactionID)
	ch := make(chan stunAnswer, 1)
	c.expect(req.TransactionID, ch)
	defer c.forget(req.TransactionID)
	ctx, cancel := context.WithTimeout(ctx, hairpinWait)
	defer cancel()
	wait := firstRetransmit
	for {
		if _, err := pc2.WriteToUDPAddrPort(req.Raw, public); err != nil {
			return Result[bool]{Why: fmt.Sprintf("send to %v: %v", public, err)}
		}
		t := time.NewTimer(wait)
		select {
		case <-ch:
			t.Stop()
			why := fmt.Sprintf("a packet to %v from this host came back", public)
			if nat.Known && !nat.Value {
				why += " (no NAT in between)"
			}
			return Result[bool]{Known: true, Value: true, Why: why}
		case <-t.C:
			wait *= 2
		case <-ctx.Done():
			t.Stop()
			if ctx.Err() != nil && errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
				return Result[bool]{Known: true, Value: false, Why: fmt.Sprintf("a packet to %v from this host did not come back within %v: the NAT does not hairpin (peers behind it reach each other only through the relay or their LAN addresses)", public, hairpinWait)}
			}
			return Result[bool]{Why: "check canceled"}
		}
	}
}

// xorMapped is the address a STUN binding success names in its
// XOR-MAPPED-ADDRESS (false: none, or not an IP address).
func xorMapped(m *stun.Message) (netip.AddrPort, bool) {
	var xa stun.XORMappedAddress
	if xa.GetFrom(m) != nil {
		return netip.AddrPort{}, false
	}
	ip, ok := netip.AddrFromSlice(xa.IP)
	if !ok {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(xa.Port)), true
}
