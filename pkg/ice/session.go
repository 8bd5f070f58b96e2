package ice

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v2"
	"github.com/pion/stun"
)

// Session is one ICE attempt with one peer: one pion agent, its sockets, the
// signaling state, and (once connected) the Path. It is used once: after a
// failure or a dead Path, close it and start a new one (with a new attempt id).
type Session struct {
	cfg         Config
	controlling bool
	signal      func([]byte)
	log         *slog.Logger
	id          uint64 // our attempt id
	ufrag, pwd  string
	agent       *ice.Agent
	d           *demux

	kick    chan struct{} // wakes Connect: something to (re)send, or credentials learned
	dead    chan struct{} // closed by fail
	started atomic.Bool   // Connect was called

	predictions atomic.Uint64 // predicted candidates added
	raw         *rawConsent   // a Path found outside pion (birthday): no agent

	mapCtx    context.Context // port mapping requests (canceled by Close)
	mapCancel context.CancelFunc
	mapWG     sync.WaitGroup

	mu          sync.Mutex
	err         error // why the session failed; set once with dead
	remoteID    uint64
	remoteUfrag string
	remotePwd   string
	remoteEnd   bool
	remoteSeen  map[wireCand]struct{} // candidates handed to the agent
	locals      []wireCand            // gathered so far
	gathered    bool                  // gathering complete
	connected   bool                  // a pair was selected and Connect returned a Path
	sent, recv  int                   // signaling messages

	mapping      PortMapping             // the gateway's mapping to one of our sockets, or nil
	mappedBase   netip.AddrPort          // the socket it forwards to
	remoteMapped map[netip.AddrPort]bool // the peer's mapped candidates
	predictBase  netip.AddrPort          // the peer's candidate we predicted from (once per attempt)
	predicted    map[netip.AddrPort]bool // the predicted remote candidates

	closeOnce sync.Once
	closeErr  error
}

// errConnectTimeout is the cause of Connect's own deadline.
var errConnectTimeout = errors.New("connect timeout")

// maxRemoteCandidates bounds what one attempt accepts from its peer over all
// offers (each carries at most MaxCandidates).
const maxRemoteCandidates = 2 * MaxCandidates

// Agent tuning beyond Config (see NewSession).
const (
	// checkAttempts: binding requests per candidate pair before pion gives it up
	// (pion's default is 7, 1.4 s at its 200 ms check interval, too short when
	// the peer's candidates trickle in over a lossy relay and both sides must
	// punch at once).
	checkAttempts = 25
)

// NewSession prepares an attempt with one peer. controlling must be true on
// exactly one side (e.g. the node with the lower key). signal sends an opaque
// message to the peer's Session; the caller carries it (it may be lost,
// duplicated or reordered). onPacket gets every datagram the peer sends on the
// direct path, from the moment either side selected a pair: it runs on a socket
// reader goroutine and must not block or call Close; pkt is valid only during the
// call. more says that another datagram of the same receive batch follows at
// once (a hint: hold acknowledgements until the last). signal is called from
// Connect's goroutine and once from Close (a bye), so
// it must be safe for concurrent use and must not block for long. Neither
// callback is called after Close returns.
//
// Nothing is sent and no socket is opened until Connect; HandleSignal may be
// called before.
func NewSession(cfg Config, controlling bool, signal func(msg []byte), onPacket func(pkt []byte, more bool)) (*Session, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if signal == nil || onPacket == nil {
		return nil, errors.New("ice: NewSession needs a signal and a packet callback")
	}
	ufrag, err := randomICEString(16)
	if err != nil {
		return nil, err
	}
	pwd, err := randomICEString(32)
	if err != nil {
		return nil, err
	}
	s := &Session{
		cfg:         cfg,
		controlling: controlling,
		signal:      signal,
		id:          uint64(time.Now().UnixNano()) | 1,
		ufrag:       ufrag,
		pwd:         pwd,
		kick:        make(chan struct{}, 1),
		dead:        make(chan struct{}),
		remoteSeen:  make(map[wireCand]struct{}),

		remoteMapped: make(map[netip.AddrPort]bool),
		predicted:    make(map[netip.AddrPort]bool),
	}
	s.mapCtx, s.mapCancel = context.WithCancel(context.Background())
	s.log = cfg.Logger.With("ice_attempt", fmt.Sprintf("%016x", s.id))
	s.d = &demux{log: s.log, bufSize: cfg.SocketBuffer, onPacket: onPacket}
	s.d.sender = newSender(s.d)
	s.d.ops.New = newSendOp
	if s.agent, err = s.newAgent(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Session) newAgent() (*ice.Agent, error) {
	cfg := s.cfg
	var urls []*stun.URI
	for _, srv := range cfg.STUN {
		u, err := stun.ParseURI("stun:" + srv)
		if err != nil {
			return nil, fmt.Errorf("ice: STUN server %q: %w", srv, err)
		}
		urls = append(urls, u)
	}
	// Setting STUN URLs while only host candidates are enabled makes NewAgent fail.
	types := []ice.CandidateType{ice.CandidateTypeHost}
	if len(urls) > 0 {
		types = append(types, ice.CandidateTypeServerReflexive)
	}
	networks := []ice.NetworkType{ice.NetworkTypeUDP4}
	if cfg.IPv6 {
		networks = append(networks, ice.NetworkTypeUDP6)
	}
	n, err := newSockNet(s.d)
	if err != nil {
		return nil, err
	}
	keepalive, disconnected := cfg.KeepaliveInterval, cfg.DisconnectedTimeout
	// pion fails an attempt that is still checking after disconnected+failed;
	// Connect's own timeout comes first, with a clearer error.
	failed := cfg.ConnectTimeout
	attempts := uint16(checkAttempts)
	// pion waits 500 ms (server-reflexive) and 1 s (peer-reflexive) after a
	// pair succeeds before accepting it, hoping a host pair shows up. Our
	// traffic already flows on the relay and the route can change later, so a
	// long wait only delays the move: measured in the lab, ~620 ms from both
	// nodes up to direct behind two port-restricted NATs, almost all of it
	// these waits. Host pairs, which answer first on a LAN, still win.
	srflxWait, prflxWait := 100*time.Millisecond, 200*time.Millisecond
	a, err := ice.NewAgent(&ice.AgentConfig{
		Urls:                urls,
		LocalUfrag:          s.ufrag,
		LocalPwd:            s.pwd,
		MulticastDNSMode:    ice.MulticastDNSModeDisabled,
		NetworkTypes:        networks,
		CandidateTypes:      types,
		IncludeLoopback:     cfg.Loopback,
		InterfaceFilter:     cfg.InterfaceFilter,
		KeepaliveInterval:   &keepalive,
		DisconnectedTimeout: &disconnected,
		FailedTimeout:       &failed,
		MaxBindingRequests:  &attempts,

		SrflxAcceptanceMinWait: &srflxWait,
		PrflxAcceptanceMinWait: &prflxWait,
		Net:                    n,
		LoggerFactory:          pionLogs{log: s.log},
	})
	if err != nil {
		return nil, fmt.Errorf("ice: create agent: %w", err)
	}
	a.OnCandidate(s.onCandidate)
	a.OnConnectionStateChange(s.onState)
	a.OnSelectedCandidatePairChange(s.onSelected)
	return a, nil
}

// ID returns the session's attempt id (for logs).
func (s *Session) ID() uint64 { return s.id }

// HandleSignal applies a message from the peer's Session. A malformed message is
// an error wrapping ErrBadSignal and changes nothing; so is an offer claiming our
// own role (ErrRoleConflict). A message from a newer attempt of the peer fails
// this Session and returns ErrPeerRestarted: close it, start a new Session and
// hand it the same message. Stale messages (an older attempt of either side) and
// messages after Close are ignored (nil). It never blocks for long and never
// calls signal.
func (s *Session) HandleSignal(msg []byte) error {
	m, err := parseSignal(msg)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return nil
	}
	if m.to != 0 && m.to != s.id {
		s.mu.Unlock()
		s.log.Debug("ignored signal for another attempt of ours", "to", fmt.Sprintf("%016x", m.to))
		return nil
	}
	if m.kind == kindOffer && m.controlling == s.controlling {
		s.mu.Unlock()
		return fmt.Errorf("ice: offer from attempt %016x: %w (both controlling: %v)", m.from, ErrRoleConflict, s.controlling)
	}
	switch {
	case s.remoteID == 0 && m.kind == kindOffer:
		s.remoteID = m.from
		s.remoteUfrag, s.remotePwd = m.ufrag, m.pwd
		s.log.Debug("peer attempt adopted", "peer_attempt", fmt.Sprintf("%016x", m.from))
	case s.remoteID == 0 || m.from < s.remoteID:
		s.mu.Unlock()
		return nil // a bye before any offer, or an older attempt of the peer
	case m.from > s.remoteID:
		s.mu.Unlock()
		err := fmt.Errorf("ice: %w (attempt %016x replaces %016x)", ErrPeerRestarted, m.from, s.remoteID)
		s.fail(err)
		return err
	}
	// From the adopted attempt.
	if m.kind == kindBye {
		s.mu.Unlock()
		s.fail(fmt.Errorf("ice: %w", ErrPeerClosed))
		return nil
	}
	if m.ufrag != s.remoteUfrag || m.pwd != s.remotePwd {
		s.mu.Unlock()
		return signalError("attempt %016x changed its credentials", m.from)
	}
	s.recv++
	s.remoteEnd = s.remoteEnd || m.end
	var add []wireCand
	for _, c := range m.cands {
		if _, ok := s.remoteSeen[c]; !ok && len(s.remoteSeen) < maxRemoteCandidates {
			s.remoteSeen[c] = struct{}{}
			add = append(add, c)
			if c.kind == candMapped {
				s.remoteMapped[c.addr] = true
			}
		}
	}
	answer := m.to == 0 // the peer does not know us yet: answer at once
	s.mu.Unlock()

	for _, c := range add {
		rc, err := c.candidate()
		if err == nil {
			err = s.agent.AddRemoteCandidate(rc)
		}
		if err != nil {
			s.log.Debug("remote candidate not added", "cand", c.String(), "err", err)
		}
	}
	s.predict()
	if answer || len(add) > 0 {
		s.poke()
	}
	return nil
}

// predictedPriority: type preference 100 (server-reflexive), the lowest local
// preference: real candidates' pairs come first.
const predictedPriority = 100<<24 | 1<<8 | 255

// predict adds the peer's predicted next mappings as remote candidates, once
// per attempt, when Config.PeerSeqDelta says its NAT allocates sequentially.
func (s *Session) predict() {
	if s.cfg.PeerSeqDelta == nil {
		return
	}
	s.mu.Lock()
	if s.predictBase.IsValid() || s.err != nil {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	step := s.cfg.PeerSeqDelta()
	if step <= 0 {
		return
	}
	s.mu.Lock()
	var base netip.AddrPort
	for c := range s.remoteSeen {
		if c.kind == candSrflx && c.addr.Addr().Is4() && (!base.IsValid() || c.addr.Port() > base.Port()) {
			base = c.addr
		}
	}
	if !base.IsValid() || s.predictBase.IsValid() {
		s.mu.Unlock()
		return
	}
	s.predictBase = base
	var ports []netip.AddrPort
	for k := 1; k <= s.cfg.PredictWindow; k++ {
		p := int(base.Port()) + k*step
		if p > 65535 {
			break
		}
		ap := netip.AddrPortFrom(base.Addr(), uint16(p))
		s.predicted[ap] = true
		ports = append(ports, ap)
	}
	s.mu.Unlock()
	added := 0
	for _, ap := range ports {
		c, err := wireCand{kind: candSrflx, priority: predictedPriority, addr: ap}.candidate()
		if err == nil {
			err = s.agent.AddRemoteCandidate(c)
		}
		if err == nil {
			added++
		}
	}
	s.log.Info("port prediction: checking the peer's next ports", "peer_mapping", base, "step", step, "candidates", added)
	s.predictions.Add(uint64(added))
}

// Predicted returns how many predicted candidates the Session checks (0: no
// prediction).
func (s *Session) Predicted() int { return int(s.predictions.Load()) }

// poke wakes Connect's loop (coalescing).
func (s *Session) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// fail ends the session for err (the first reason wins): Connect returns it, the
// Path's Done closes.
func (s *Session) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	s.err = err
	close(s.dead)
	if s.connected && !errors.Is(err, ErrClosed) {
		s.log.Debug("direct path down", "err", err)
	}
}

// failure returns why the session failed, or nil.
func (s *Session) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// onCandidate records a gathered local candidate (nil: gathering is complete).
func (s *Session) onCandidate(c ice.Candidate) {
	if c == nil {
		s.mu.Lock()
		s.gathered = true
		none := len(s.locals) == 0
		s.mu.Unlock()
		if none {
			s.fail(fmt.Errorf("ice: %w: no usable interface address (loopback included: %v)", ErrNoCandidates, s.cfg.Loopback))
			return
		}
		s.poke()
		return
	}
	wc, ok := fromCandidate(c)
	if !ok {
		return
	}
	s.mu.Lock()
	s.locals = append(s.locals, wc)
	mapIt := wc.kind == candHost && s.cfg.PortMapper != nil && s.err == nil && wc.addr.Addr().Is4() && !wc.addr.Addr().IsLoopback()
	if mapIt {
		s.mapWG.Add(1) // under mu, before fail: Close's Wait sees it
	}
	s.mu.Unlock()
	s.log.Debug("local candidate", "cand", wc.String())
	s.poke()
	if mapIt {
		go s.mapPort(wc.addr)
	}
}

// mappedPriority is a mapped candidate's ICE priority: type preference 110,
// between server-reflexive (100) and host (126), so its pairs are checked
// before plain server-reflexive ones.
const mappedPriority = 110<<24 | 65535<<8 | 255

// mapPort asks the PortMapper to map a host candidate's socket; the first
// mapping granted joins our candidates.
func (s *Session) mapPort(local netip.AddrPort) {
	defer s.mapWG.Done()
	m, err := s.cfg.PortMapper.MapUDP(s.mapCtx, local)
	if err != nil {
		s.log.Debug("no port mapping for a host candidate", "local", local, "err", err)
		return
	}
	s.mu.Lock()
	if s.err != nil || s.mapping != nil {
		s.mu.Unlock()
		m.Close()
		return
	}
	s.mapping, s.mappedBase = m, local
	s.locals = append(s.locals, wireCand{kind: candMapped, priority: mappedPriority, addr: m.External()})
	s.mu.Unlock()
	s.log.Debug("port mapping offered as a candidate", "protocol", m.Protocol(), "external", m.External(), "local", local)
	s.poke()
}

// onState watches the agent's connection state.
func (s *Session) onState(st ice.ConnectionState) {
	s.log.Debug("ICE state", "state", st.String())
	switch st {
	case ice.ConnectionStateDisconnected:
		s.fail(fmt.Errorf("ice: %w: no answer from the peer on the selected pair for %v", ErrDisconnected, s.cfg.DisconnectedTimeout))
	case ice.ConnectionStateFailed:
		s.fail(fmt.Errorf("ice: %w: the agent gave up", ErrNoPath))
	case ice.ConnectionStateClosed:
		s.fail(fmt.Errorf("ice: %w", ErrClosed))
	}
}

// onSelected points the send route at a newly selected pair.
func (s *Session) onSelected(local, remote ice.Candidate) {
	if err := s.setRoute(local, remote); err != nil {
		s.log.Warn("cannot use the selected ICE pair", "local", local.String(), "remote", remote.String(), "err", err)
	}
}

func (s *Session) setRoute(local, remote ice.Candidate) error {
	base, err := candidateBase(local)
	if err != nil {
		return err
	}
	k := s.d.findSock(base)
	if k == nil {
		return fmt.Errorf("no socket for local candidate base %v", base)
	}
	rip, err := netip.ParseAddr(remote.Address())
	if err != nil {
		return fmt.Errorf("remote candidate address: %w", err)
	}
	r, err := newRoute(k, netip.AddrPortFrom(rip, uint16(remote.Port())))
	if err != nil {
		return err
	}
	r.localAddr = netip.AddrPortFrom(mustAddr(local.Address()), uint16(local.Port())).String()
	r.localType = local.Type().String()
	r.remoteAddr = r.remote.String()
	r.remoteTyp = remote.Type().String()
	r.method = MethodICE
	s.mu.Lock()
	if s.remoteMapped[r.remote] {
		// The peer's gateway forwards to it: the pair exists thanks to the mapping.
		r.remoteTyp = "portmap"
		r.method = MethodPortmap
	}
	if s.predicted[r.remote] {
		r.remoteTyp = "predicted"
		r.method = MethodPredict
	}
	if s.mapping != nil && s.mappedBase.Port() == base.Port() && remote.Type() != ice.CandidateTypeHost {
		// Our socket behind the mapping, with a peer outside our LAN: its
		// packets most likely come in through the mapping.
		r.localType += " via portmap " + s.mapping.External().String()
		r.method = MethodPortmap
	}
	s.mu.Unlock()
	if old := s.d.route.Swap(r); old == nil || old.remote != r.remote || old.sock != r.sock {
		rcv, snd := k.socketBuffers()
		s.log.Debug("ICE pair selected", "local", r.localAddr, "local_type", r.localType,
			"remote", r.remoteAddr, "remote_type", r.remoteTyp, "rcvbuf", rcv, "sndbuf", snd)
	}
	return nil
}

// candidateBase is the local socket address behind a local candidate.
func candidateBase(c ice.Candidate) (netip.AddrPort, error) {
	addr, port := c.Address(), c.Port()
	if c.Type() != ice.CandidateTypeHost {
		ra := c.RelatedAddress()
		if ra == nil {
			return netip.AddrPort{}, fmt.Errorf("%s candidate without a base address", c.Type())
		}
		addr, port = ra.Address, ra.Port
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("local candidate address %q: %w", addr, err)
	}
	return netip.AddrPortFrom(ip, uint16(port)), nil
}

func mustAddr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}

// fromCandidate converts a gathered local candidate for an offer.
func fromCandidate(c ice.Candidate) (wireCand, bool) {
	var k candKind
	switch c.Type() {
	case ice.CandidateTypeHost:
		k = candHost
	case ice.CandidateTypeServerReflexive:
		k = candSrflx
	default:
		return wireCand{}, false
	}
	ip, err := netip.ParseAddr(c.Address())
	if err != nil || c.Port() <= 0 || c.Port() > 65535 || c.Priority() == 0 {
		return wireCand{}, false
	}
	return wireCand{kind: k, priority: c.Priority(), addr: netip.AddrPortFrom(ip.Unmap(), uint16(c.Port()))}, true
}

// candidate builds the pion remote candidate for c.
func (c wireCand) candidate() (ice.Candidate, error) {
	network := "udp"
	switch c.kind {
	case candHost:
		return ice.NewCandidateHost(&ice.CandidateHostConfig{
			Network: network, Address: c.addr.Addr().String(), Port: int(c.addr.Port()),
			Component: ice.ComponentRTP, Priority: c.priority,
		})
	case candSrflx, candMapped:
		return ice.NewCandidateServerReflexive(&ice.CandidateServerReflexiveConfig{
			Network: network, Address: c.addr.Addr().String(), Port: int(c.addr.Port()),
			Component: ice.ComponentRTP, Priority: c.priority,
		})
	}
	return nil, fmt.Errorf("candidate type %v", c.kind)
}

func (c wireCand) String() string { return c.kind.String() + " " + c.addr.String() }

// offer builds our current offer.
func (s *Session) offer() []byte {
	s.mu.Lock()
	m := signal{
		kind: kindOffer, from: s.id, to: s.remoteID,
		controlling: s.controlling, end: s.gathered,
		ufrag: s.ufrag, pwd: s.pwd,
		cands: pickCandidates(s.locals),
	}
	s.sent++
	s.mu.Unlock()
	if s.cfg.PeerReadsMapped == nil || !s.cfg.PeerReadsMapped() {
		for i, c := range m.cands {
			if c.kind == candMapped {
				m.cands[i].kind = candSrflx
			}
		}
	}
	return appendSignal(make([]byte, 0, 256), m)
}

// pickCandidates returns at most MaxCandidates of cands: mapped and
// server-reflexive first (the ones that cross NATs), then host candidates in
// gathering order.
func pickCandidates(cands []wireCand) []wireCand {
	out := make([]wireCand, 0, min(len(cands), MaxCandidates))
	for _, want := range []candKind{candMapped, candSrflx, candHost} {
		for _, c := range cands {
			if c.kind == want && len(out) < MaxCandidates {
				out = append(out, c)
			}
		}
	}
	return out
}

// Connect runs the attempt: it gathers candidates, sends offers (at once, on
// every new candidate, and repeatedly until connected), runs connectivity checks
// and returns the Path once a pair is selected. It fails with an error wrapping
// ErrNoAnswer, ErrNoPath, ErrNoCandidates, ErrPeerRestarted, ErrPeerClosed or
// ErrClosed, or ctx's error, and at the latest after Config.ConnectTimeout. It may
// be called once; signal is called from its goroutine.
func (s *Session) Connect(ctx context.Context) (*Path, error) {
	if !s.started.CompareAndSwap(false, true) {
		return nil, errors.New("ice: Connect called twice on one Session")
	}
	if err := s.failure(); err != nil {
		return nil, err
	}
	start := time.Now()
	ctx, cancel := context.WithTimeoutCause(ctx, s.cfg.ConnectTimeout, errConnectTimeout)
	checks := make(chan error, 1)
	checking := false
	defer func() {
		cancel()
		if checking {
			<-checks // the agent returns at once on cancel
		}
	}()
	if err := s.agent.GatherCandidates(); err != nil {
		err = fmt.Errorf("ice: gather candidates: %w", err)
		s.fail(err)
		return nil, err
	}

	resend := firstResend
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if !checking {
			s.mu.Lock()
			ufrag, pwd := s.remoteUfrag, s.remotePwd
			s.mu.Unlock()
			if ufrag != "" {
				checking = true
				go func() {
					var err error
					if s.controlling {
						_, err = s.agent.Dial(ctx, ufrag, pwd)
					} else {
						_, err = s.agent.Accept(ctx, ufrag, pwd)
					}
					checks <- err
				}()
			}
		}
		select {
		case <-timer.C:
			s.signal(s.offer())
			timer.Reset(resend)
			resend = min(2*resend, s.cfg.ResendInterval)
		case <-s.kick:
			s.signal(s.offer())
		case err := <-checks:
			checking = false
			if err != nil {
				if ferr := s.failure(); ferr != nil {
					return nil, ferr
				}
				return nil, s.timeoutError(ctx, start, err)
			}
			return s.connect()
		case <-s.dead:
			return nil, s.failure()
		case <-ctx.Done():
			err := s.timeoutError(ctx, start, ctx.Err())
			s.fail(err)
			return nil, err
		}
	}
}

// connect finishes a successful Connect.
func (s *Session) connect() (*Path, error) {
	pair, err := s.agent.GetSelectedCandidatePair()
	if err == nil && pair == nil {
		err = errors.New("no selected pair")
	}
	if err == nil {
		err = s.setRoute(pair.Local, pair.Remote)
	}
	if err != nil {
		err = fmt.Errorf("ice: connected, but: %w", err)
		s.fail(err)
		return nil, err
	}
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return nil, err
	}
	s.connected = true
	s.mu.Unlock()
	r := s.d.route.Load()
	s.log.Debug("direct path up", "local", r.localAddr, "local_type", r.localType,
		"remote", r.remoteAddr, "remote_type", r.remoteTyp)
	return &Path{s: s}, nil
}

// timeoutError explains why Connect gave up: ctx (ours or the caller's) ended, or
// the agent stopped checking.
func (s *Session) timeoutError(ctx context.Context, start time.Time, cause error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	elapsed := time.Since(start).Round(time.Millisecond)
	if ctx.Err() != nil && context.Cause(ctx) != errConnectTimeout {
		return fmt.Errorf("ice: connect canceled after %v: %w", elapsed, context.Cause(ctx))
	}
	if s.remoteID == 0 {
		return fmt.Errorf("ice: %w within %v (sent %d offers)", ErrNoAnswer, elapsed, s.sent)
	}
	peerDone := "still gathering"
	if s.remoteEnd {
		peerDone = "done gathering"
	}
	return fmt.Errorf("ice: %w within %v (%d local candidates; %d remote, peer %s; %v)", ErrNoPath, elapsed,
		len(s.locals), len(s.remoteSeen), peerDone, cause)
}

// Close ends the attempt: it tells the peer (one bye through signal, when a peer
// attempt is known), closes the agent and every socket, and waits for the
// goroutines that call onPacket and signal. A running Connect returns ErrClosed.
// It must not be called from those callbacks. It is safe to call more than once.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		to := s.remoteID
		s.mu.Unlock()
		s.fail(fmt.Errorf("ice: %w", ErrClosed))
		s.d.close()
		if s.raw != nil {
			s.raw.close()
		} else {
			s.closeErr = s.agent.GracefulClose()
		}
		if to != 0 && s.started.Load() {
			s.signal(appendSignal(nil, signal{kind: kindBye, from: s.id, to: to}))
		}
		s.mapCancel()
		s.mapWG.Wait()
		s.mu.Lock()
		m := s.mapping
		s.mapping = nil
		s.mu.Unlock()
		if m != nil {
			if err := m.Close(); err != nil {
				s.log.Debug("port mapping not released", "err", err)
			}
		}
	})
	return s.closeErr
}

// randomICEString returns n random ice-chars.
func randomICEString(n int) (string, error) {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("ice: credentials: %w", err)
	}
	for i := range b {
		b[i] = chars[b[i]&63]
	}
	return string(b), nil
}
