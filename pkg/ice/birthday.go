package ice

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun"
)

// # Birthday punching (random symmetric NAT <-> endpoint-independent NAT)
//
// A NAT that maps every destination to a new random port cannot be predicted,
// but it can be out-guessed: the hard side opens N sockets and sends from each
// toward the easy side's public endpoint, so its NAT holds N random ports that
// the easy side may answer from that endpoint; the easy side sends probes from
// that endpoint to random ports of the hard side's public address. With N =
// 256 of ~64k ports, 2048 probes hit one of them with probability 1 -
// (1-256/64512)^2048 > 99.9%, and half the time within ~175 probes. The first
// probe that arrives is acknowledged from the socket it reached; both sides
// then keep that one pair and close everything else at once.
//
// The two sides agree on a random token over the overlay's sealed signaling;
// a probe or ack without it is ignored. Probes and acks start with "MNB1" (a
// first byte below 0x80: never a sealed datagram, never STUN).
//
// The pair becomes a Path like an ICE-selected one (rawPath): datagrams on
// the winning socket, consent by STUN Binding requests every
// KeepaliveInterval, dead after DisconnectedTimeout without an answer.

// Defaults of BirthdayConfig.
const (
	DefaultBirthdaySockets = 256
	DefaultBirthdayProbes  = 2048
	DefaultBirthdayRate    = 200 // probes per second
)

// BirthdayConfig bounds a birthday attempt.
type BirthdayConfig struct {
	Sockets int // the hard side's sockets (default 256, at most 1024)
	Probes  int // the easy side's probes (default 2048, at most 16384)
	Rate    int // the easy side's probes per second (default 200, at most 1000)
}

func (c BirthdayConfig) withDefaults() (BirthdayConfig, error) {
	if c.Sockets == 0 {
		c.Sockets = DefaultBirthdaySockets
	}
	if c.Probes == 0 {
		c.Probes = DefaultBirthdayProbes
	}
	if c.Rate == 0 {
		c.Rate = DefaultBirthdayRate
	}
	switch {
	case c.Sockets < 1 || c.Sockets > 1024:
		return c, fmt.Errorf("ice: birthday sockets %d outside 1..1024", c.Sockets)
	case c.Probes < 1 || c.Probes > 16384:
		return c, fmt.Errorf("ice: birthday probes %d outside 1..16384", c.Probes)
	case c.Rate < 1 || c.Rate > 1000:
		return c, fmt.Errorf("ice: birthday rate %d/s outside 1..1000", c.Rate)
	}
	return c, nil
}

// BirthdayToken authenticates one attempt's probes.
type BirthdayToken [16]byte

// NewBirthdayToken returns a random token.
func NewBirthdayToken() (BirthdayToken, error) {
	var t BirthdayToken
	_, err := rand.Read(t[:])
	return t, err
}

const (
	bdMagic    = "MNB1"
	bdOpen     = 1 // hard -> easy: opens the hard side's mapping (the easy NAT drops it)
	bdProbe    = 2 // easy -> hard
	bdAck      = 3 // hard -> easy, from the socket the probe reached
	bdPacketLn = 4 + 16 + 1
)

func bdPacket(kind byte, t BirthdayToken) []byte {
	b := make([]byte, 0, bdPacketLn)
	b = append(b, bdMagic...)
	b = append(b, t[:]...)
	return append(b, kind)
}

// bdParse returns a birthday packet's kind if it carries token t, else 0.
func bdParse(b []byte, t BirthdayToken) byte {
	if len(b) != bdPacketLn || string(b[:4]) != bdMagic || [16]byte(b[4:20]) != t {
		return 0
	}
	return b[20]
}

// BirthdayStats is what an attempt cost.
type BirthdayStats struct {
	Sockets int           // sockets opened
	Sent    int           // packets sent (opens, probes, acks)
	Took    time.Duration // until the win or the end
}

// EasySocket opens the easy side's socket and learns its public endpoint
// from stunServer ("host:port"; the NAT must map independently of the
// destination for the endpoint to hold toward the hard side).
func EasySocket(ctx context.Context, stunServer string) (*net.UDPConn, netip.AddrPort, error) {
	ua, err := net.ResolveUDPAddr("udp4", stunServer)
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("ice: STUN server %q: %w", stunServer, err)
	}
	pc, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return nil, netip.AddrPort{}, fmt.Errorf("ice: open a socket: %w", err)
	}
	ep, err := stunMapped(ctx, pc, ua.AddrPort())
	if err != nil {
		pc.Close()
		return nil, netip.AddrPort{}, err
	}
	return pc, ep, nil
}

// stunMapped asks server for pc's mapped address (retransmitting) and leaves
// pc's read deadline cleared.
func stunMapped(ctx context.Context, pc *net.UDPConn, server netip.AddrPort) (netip.AddrPort, error) {
	defer pc.SetReadDeadline(time.Time{})
	req := stun.MustBuild(stun.BindingRequest, stun.TransactionID, stun.Fingerprint)
	buf := make([]byte, 1500)
	wait := firstRetransmit
	for {
		if _, err := pc.WriteToUDPAddrPort(req.Raw, server); err != nil {
			return netip.AddrPort{}, fmt.Errorf("ice: STUN to %v: %w", server, err)
		}
		deadline := time.Now().Add(wait)
		for {
			if ctx.Err() != nil {
				return netip.AddrPort{}, fmt.Errorf("ice: no STUN answer from %v: %w", server, ctx.Err())
			}
			_ = pc.SetReadDeadline(deadline)
			n, _, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				break // retransmit
			}
			m := &stun.Message{Raw: buf[:n]}
			if !stun.IsMessage(buf[:n]) || m.Decode() != nil || m.Type != stun.BindingSuccess || m.TransactionID != req.TransactionID {
				continue
			}
			if mapped, ok := xorMapped(m); ok {
				return mapped, nil
			}
		}
		wait = min(2*wait, time.Second)
	}
}

// BirthdayHard is the hard side: it opens cfg.Sockets sockets, sends an open
// packet from each to easy (paced, 1 ms apart), calls ready, and waits for a
// probe carrying token. The socket a probe reached acknowledges it and
// becomes the Path (method "birthday"); every other socket is closed at once.
// It gives up when ctx ends. onPacket is as for NewSession.
func BirthdayHard(ctx context.Context, cfg Config, bcfg BirthdayConfig, easy netip.AddrPort, token BirthdayToken,
	ready func(), onPacket func(pkt []byte, more bool)) (*Path, BirthdayStats, error) {
	var st BirthdayStats
	start := time.Now()
	bcfg, err := bcfg.withDefaults()
	if err != nil {
		return nil, st, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type win struct {
		pc  *net.UDPConn
		src netip.AddrPort
	}
	wins := make(chan win, 1)
	var socks []*net.UDPConn
	var wg sync.WaitGroup
	var sent atomic.Int64
	defer func() {
		cancel()
		for _, pc := range socks {
			_ = pc.SetReadDeadline(time.Now())
		}
		wg.Wait()
	}()
	open := bdPacket(bdOpen, token)
	ack := bdPacket(bdAck, token)
	for i := 0; i < bcfg.Sockets; i++ {
		pc, err := net.ListenUDP("udp4", nil)
		if err != nil {
			break // out of descriptors: go with what we have
		}
		socks = append(socks, pc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64)
			for ctx.Err() == nil {
				n, src, err := pc.ReadFromUDPAddrPort(buf)
				if err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() || errors.Is(err, net.ErrClosed) {
						return
					}
					continue
				}
				if unmapped(src) != easy || bdParse(buf[:n], token) != bdProbe {
					continue
				}
				sent.Add(int64(sendAcks(pc, ack, src)))
				select {
				case wins <- win{pc, unmapped(src)}:
				default:
				}
				return
			}
		}()
		if _, err := pc.WriteToUDPAddrPort(open, easy); err == nil {
			sent.Add(1)
		}
		if i%8 == 7 {
			time.Sleep(8 * time.Millisecond) // ~1000 packets/s
		}
	}
	st.Sockets = len(socks)
	if len(socks) == 0 {
		return nil, st, errors.New("ice: birthday: could not open a socket")
	}
	ready()
	resend := time.NewTicker(2 * time.Second) // keep the mappings (and the open) fresh
	defer resend.Stop()
	for {
		select {
		case w := <-wins:
			cancel()
			for _, pc := range socks {
				if pc != w.pc {
					pc.Close()
				}
			}
			// The winner's reader stops at its deadline; wait before adopting.
			_ = w.pc.SetReadDeadline(time.Now())
			wg.Wait()
			_ = w.pc.SetReadDeadline(time.Time{})
			socks = nil
			st.Sent, st.Took = int(sent.Load()), time.Since(start)
			p, err := newRawPath(cfg, w.pc, w.src, MethodBirthday, onPacket)
			if err != nil {
				w.pc.Close()
			}
			return p, st, err
		case <-resend.C:
			for _, pc := range socks {
				if _, err := pc.WriteToUDPAddrPort(open, easy); err == nil {
					sent.Add(1)
				}
			}
		case <-ctx.Done():
			for _, pc := range socks {
				pc.Close()
			}
			st.Sent, st.Took = int(sent.Load()), time.Since(start)
			return nil, st, fmt.Errorf("ice: birthday (hard side, %d sockets): no probe arrived: %w", len(socks), ctx.Err())
		}
	}
}

// BirthdayEasy is the easy side: from pc (EasySocket's, whose public
// endpoint the hard side sends to) it probes random ports of hardIP, at most
// bcfg.Probes at bcfg.Rate per second, until an ack with token arrives; that
// pair becomes the Path. pc is the Path's socket then; else it is closed.
func BirthdayEasy(ctx context.Context, cfg Config, bcfg BirthdayConfig, pc *net.UDPConn, hardIP netip.Addr, token BirthdayToken,
	onPacket func(pkt []byte, more bool)) (*Path, BirthdayStats, error) {
	st := BirthdayStats{Sockets: 1}
	start := time.Now()
	bcfg, err := bcfg.withDefaults()
	if err != nil {
		pc.Close()
		return nil, st, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wins := make(chan netip.AddrPort, 1)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		buf := make([]byte, 64)
		for ctx.Err() == nil {
			n, src, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() || errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			if unmapped(src).Addr() != hardIP || bdParse(buf[:n], token) != bdAck {
				continue
			}
			wins <- unmapped(src)
			return
		}
	}()
	stopReader := func() {
		_ = pc.SetReadDeadline(time.Now())
		<-readerDone
		_ = pc.SetReadDeadline(time.Time{})
	}
	probe := bdPacket(bdProbe, token)
	tried := make(map[uint16]bool, bcfg.Probes)
	tick := time.NewTicker(time.Second / time.Duration(bcfg.Rate))
	defer tick.Stop()
	var grace <-chan time.Time
	for {
		select {
		case w := <-wins:
			cancel()
			stopReader()
			st.Took = time.Since(start)
			p, err := newRawPath(cfg, pc, w, MethodBirthday, onPacket)
			if err != nil {
				pc.Close()
			}
			return p, st, err
		case <-tick.C:
			if st.Sent >= bcfg.Probes {
				if grace == nil {
					grace = time.After(2 * time.Second) // the last acks' way back
				}
				continue
			}
			port := uint16(1024 + mrand.IntN(65536-1024))
			for tried[port] {
				port = uint16(1024 + mrand.IntN(65536-1024))
			}
			tried[port] = true
			if _, err := pc.WriteToUDPAddrPort(probe, netip.AddrPortFrom(hardIP, port)); err == nil {
				st.Sent++
			}
		case <-grace:
			cancel()
			stopReader()
			pc.Close()
			st.Took = time.Since(start)
			return nil, st, fmt.Errorf("ice: birthday (easy side): %d probes to %v, no answer", st.Sent, hardIP)
		case <-ctx.Done():
			stopReader()
			pc.Close()
			st.Took = time.Since(start)
			return nil, st, fmt.Errorf("ice: birthday (easy side): %d probes to %v: %w", st.Sent, hardIP, ctx.Err())
		}
	}
}

// sendAcks acknowledges a probe three times, 50 ms apart (the other side
// keeps the pair the first ack that reaches it came on; a lost ack would
// leave the two sides on different minds). It returns the acks sent.
func sendAcks(pc *net.UDPConn, ack []byte, dst netip.AddrPort) int {
	n := 0
	for i := range 3 {
		if i > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		if _, err := pc.WriteToUDPAddrPort(ack, dst); err == nil {
			n++
		}
	}
	return n
}

// MethodBirthday: a pair found by birthday punching.
const MethodBirthday = "birthday"

// newRawPath makes a Path of one socket and a remote found outside pion: a
// Session without an agent, whose consent checks are ours (rawConsent).
func newRawPath(cfg Config, pc *net.UDPConn, remote netip.AddrPort, method string, onPacket func([]byte, bool)) (*Path, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Session{
		cfg:          cfg,
		id:           uint64(time.Now().UnixNano()) | 1,
		kick:         make(chan struct{}, 1),
		dead:         make(chan struct{}),
		remoteSeen:   make(map[wireCand]struct{}),
		remoteMapped: make(map[netip.AddrPort]bool),
		predicted:    make(map[netip.AddrPort]bool),
		signal:       func([]byte) {},
		connected:    true,
	}
	s.started.Store(true)
	s.mapCtx, s.mapCancel = context.WithCancel(context.Background())
	s.log = cfg.Logger.With("ice_attempt", fmt.Sprintf("%016x", s.id), "method", method)
	s.d = &demux{log: s.log, bufSize: cfg.SocketBuffer, onPacket: onPacket, raw: true}
	s.d.sender = newSender(s.d)
	s.d.ops.New = newSendOp
	k, err := s.d.adopt(pc)
	if err != nil {
		return nil, err
	}
	r, err := newRoute(k, remote)
	if err != nil {
		return nil, err
	}
	r.localAddr, r.localType = k.local.String(), method
	r.remoteAddr, r.remoteTyp, r.method = r.remote.String(), method, method
	s.d.route.Store(r)
	rc := &rawConsent{s: s, k: k, remote: r.remote, done: make(chan struct{})}
	rc.heard.Store(time.Now().UnixNano())
	s.raw = rc
	rc.wg.Add(2)
	go rc.read()
	go rc.keepalive()
	s.log.Debug("direct path up", "local", r.localAddr, "remote", r.remoteAddr)
	return &Path{s: s}, nil
}

// rawConsent reads a raw Path's socket and keeps its consent: a STUN
// Binding request to the remote every KeepaliveInterval, answered by the
// peer's rawConsent; the Path dies after DisconnectedTimeout without hearing
// a request or an answer from the remote.
type rawConsent struct {
	s      *Session
	k      *sock
	remote netip.AddrPort
	heard  atomic.Int64 // unix ns of the last STUN message from the remote
	rtt    atomic.Int64 // ns, last Binding round trip
	mu     sync.Mutex
	sentAt map[[stun.TransactionIDSize]byte]time.Time
	done   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

func (rc *rawConsent) read() {
	defer rc.wg.Done()
	buf := make([]byte, maxDatagram)
	for {
		n, src, err := rc.k.ReadFrom(buf) // data goes to onPacket inside
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-rc.done:
				return
			default:
				continue
			}
		}
		ua, ok := src.(*net.UDPAddr)
		if !ok || unmapped(ua.AddrPort()) != rc.remote {
			continue
		}
		m := &stun.Message{Raw: buf[:n]}
		if m.Decode() != nil {
			continue
		}
		switch m.Type {
		case stun.BindingRequest:
			rc.heard.Store(time.Now().UnixNano())
			resp, err := stun.Build(stun.NewTransactionIDSetter(m.TransactionID), stun.BindingSuccess,
				&stun.XORMappedAddress{IP: ua.IP, Port: ua.Port}, stun.Fingerprint)
			if err == nil {
				_, _ = rc.k.UDPConn.WriteToUDPAddrPort(resp.Raw, rc.remote)
			}
		case stun.BindingSuccess:
			rc.mu.Lock()
			at, ok := rc.sentAt[m.TransactionID]
			delete(rc.sentAt, m.TransactionID)
			rc.mu.Unlock()
			if ok {
				rc.heard.Store(time.Now().UnixNano())
				rc.rtt.Store(int64(time.Since(at)))
			}
		}
	}
}

func (rc *rawConsent) keepalive() {
	defer rc.wg.Done()
	cfg := rc.s.cfg
	t := time.NewTicker(min(cfg.KeepaliveInterval, time.Second))
	defer t.Stop()
	last := time.Time{}
	for {
		select {
		case <-rc.done:
			return
		case <-t.C:
		}
		if time.Since(time.Unix(0, rc.heard.Load())) > cfg.DisconnectedTimeout {
			rc.s.fail(fmt.Errorf("ice: %w: no answer from the peer on the %s pair for %v", ErrDisconnected, rc.s.d.route.Load().method, cfg.DisconnectedTimeout))
			return
		}
		if time.Since(last) < cfg.KeepaliveInterval {
			continue
		}
		last = time.Now()
		req := stun.MustBuild(stun.BindingRequest, stun.TransactionID, stun.Fingerprint)
		rc.mu.Lock()
		if rc.sentAt == nil || len(rc.sentAt) > 16 {
			rc.sentAt = make(map[[stun.TransactionIDSize]byte]time.Time)
		}
		rc.sentAt[req.TransactionID] = time.Now()
		rc.mu.Unlock()
		_, _ = rc.k.UDPConn.WriteToUDPAddrPort(req.Raw, rc.remote)
	}
}

// close stops the goroutines and closes the socket.
func (rc *rawConsent) close() {
	rc.once.Do(func() {
		close(rc.done)
		rc.k.Close()
		rc.wg.Wait()
	})
}

// rawRTT returns the last consent round trip of a raw Path.
func (rc *rawConsent) rawRTT() time.Duration { return time.Duration(rc.rtt.Load()) }

// MethodLockstep: a pair found by lockstep prediction (both sides behind
// sequential symmetric NATs).
const MethodLockstep = "lockstep"

// Lockstep prediction (both sides behind symmetric NATs that allocate ports
// in sequence): each side learns its socket's mapping by STUN (its NAT's
// counter now) and tells the other; then both send probes to the other's
// next ports in the same order, k = 1..window: the k-th new mapping of each
// side is the one the other's k-th probe aims at, so pair k exists on both
// NATs whatever the timing (probes that arrive before the other side's own
// k-th probe are dropped; the probes are repeated every 250 ms on the same
// 5-tuples, which makes no new mappings). The responder acknowledges the
// first probe that reaches it and keeps that pair; the initiator keeps the
// pair the ack came on. It works when nothing else takes ports from either
// NAT between the STUN query and the probes.

// LockstepPunch runs one side of a lockstep attempt from pc (whose mapping
// the peer was told). peerBase is the peer's mapping, peerStep its NAT's
// step; window probes are sent (at most 64).
func LockstepPunch(ctx context.Context, cfg Config, pc *net.UDPConn, peerBase netip.AddrPort, peerStep, window int,
	token BirthdayToken, initiator bool, onPacket func([]byte, bool)) (*Path, BirthdayStats, error) {
	st := BirthdayStats{Sockets: 1}
	start := time.Now()
	if peerStep < 1 || window < 1 || window > 64 {
		pc.Close()
		return nil, st, fmt.Errorf("ice: lockstep: step %d / window %d out of range", peerStep, window)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var targets []netip.AddrPort
	for k := 1; k <= window; k++ {
		p := int(peerBase.Port()) + k*peerStep
		if p > 65535 {
			break
		}
		targets = append(targets, netip.AddrPortFrom(peerBase.Addr(), uint16(p)))
	}
	wins := make(chan netip.AddrPort, 1)
	readerDone := make(chan struct{})
	ack := bdPacket(bdAck, token)
	var acks atomic.Int64
	go func() {
		defer close(readerDone)
		buf := make([]byte, 64)
		for ctx.Err() == nil {
			n, src, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() || errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			src = unmapped(src)
			if src.Addr() != peerBase.Addr() {
				continue
			}
			switch kind := bdParse(buf[:n], token); {
			case initiator && kind == bdAck:
			case !initiator && kind == bdProbe:
				acks.Add(int64(sendAcks(pc, ack, src)))
			default:
				continue
			}
			wins <- src
			return
		}
	}()
	stopReader := func() {
		_ = pc.SetReadDeadline(time.Now())
		<-readerDone
		_ = pc.SetReadDeadline(time.Time{})
	}
	probe := bdPacket(bdProbe, token)
	spray := func() {
		for _, t := range targets {
			if _, err := pc.WriteToUDPAddrPort(probe, t); err == nil {
				st.Sent++
			}
		}
	}
	spray()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case w := <-wins:
			cancel()
			stopReader()
			st.Sent += int(acks.Load())
			st.Took = time.Since(start)
			p, err := newRawPath(cfg, pc, w, MethodLockstep, onPacket)
			if err != nil {
				pc.Close()
			}
			return p, st, err
		case <-tick.C:
			spray()
		case <-ctx.Done():
			stopReader()
			pc.Close()
			st.Took = time.Since(start)
			return nil, st, fmt.Errorf("ice: lockstep: %d probes to %v+%d..: %w", st.Sent, peerBase, peerStep, ctx.Err())
		}
	}
}
