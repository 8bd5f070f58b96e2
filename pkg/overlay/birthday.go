package overlay

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/meshnode/meshnode/pkg/ice"
)

// Birthday punching between a random symmetric NAT (the hard side) and an
// endpoint-independent one (the easy side), after a plain ICE attempt failed
// and while the link is relayed (pkg/ice/birthday.go does the punching). The
// easy side starts it: it opens a socket, learns its public endpoint from the
// rendezvous' STUN port and sends "start" (attempt id, token, endpoint) over
// the link; the hard side drops whatever ICE attempt it runs, opens its
// sockets, sends toward that endpoint and answers "ready" with its public IP;
// then the easy side probes. The pair that wins becomes the link's direct
// path like an ICE-selected one, so streams carry on over it.

// hardNATMsg is the JSON payload of msgHard.
type hardNATMsg struct {
	Op       string            `json:"op"`             // start | ready (birthday); lockstep | lockstep-ready
	Step     int               `json:"step,omitempty"` // lockstep: the sender's NAT's port step
	ID       uint64            `json:"id"`
	Token    ice.BirthdayToken `json:"token,omitzero"`
	Endpoint string            `json:"endpoint,omitempty"` // start: the easy side's public endpoint; lockstep*: the sender's socket's mapping
	IP       string            `json:"ip,omitempty"`       // ready: the hard side's public IP

	received time.Time // when it arrived (not on the wire)
}

const maxHardNATMsg = 512

func parseHardNATMsg(b []byte) (hardNATMsg, error) {
	var m hardNATMsg
	if len(b) > maxHardNATMsg {
		return m, fmt.Errorf("hard-NAT message of %d bytes: %w", len(b), errMalformed)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("hard-NAT message: %v: %w", err, errMalformed)
	}
	switch {
	case m.Op != "start" && m.Op != "ready" && m.Op != opLockstep && m.Op != opLockstepReady:
		return m, fmt.Errorf("hard-NAT message op %q: %w", m.Op, errMalformed)
	case m.ID == 0:
		return m, fmt.Errorf("hard-NAT message without an id: %w", errMalformed)
	}
	return m, nil
}

func (m hardNATMsg) marshal() []byte { b, _ := json.Marshal(m); return b }

// Timing of a birthday attempt.
const (
	// birthdayReadyWait: how long the easy side waits for "ready".
	birthdayReadyWait = 5 * time.Second
	// birthdayHardWait: how long the hard side waits for a probe (the easy
	// side's probes take Probes/Rate, ~10 s by default).
	birthdayHardWait = 20 * time.Second
)

// hardNAT takes a msgHard from the peer (a receive goroutine: never blocks).
// A request (start, lockstep) preempts a running ICE attempt: the message is
// queued and the attempt's abort read under p.mu, and attempt sets its abort
// and looks for a queued request under p.mu too, so one of them sees the other.
func (p *pathFinder) hardNAT(m hardNATMsg) {
	m.received = time.Now()
	ch := p.hardReady
	request := m.Op == "start" || m.Op == opLockstep
	if request {
		ch = p.hardStart
		if p.l.n.cfg.NoHardNAT {
			p.l.log.Debug("hard-NAT request ignored (--no-hard-nat)", "op", m.Op)
			return
		}
	}
	p.mu.Lock()
	abort, direct := p.abort, p.path != nil
	if request && direct {
		p.mu.Unlock()
		return // we are direct already (the peer will learn it)
	}
	select { // keep the newest
	case <-ch:
	default:
	}
	select {
	case ch <- m:
	default:
	}
	p.mu.Unlock()
	if request && abort != nil {
		abort() // the peer is probing now: our ICE attempt gives way
	}
}

// hardRequestFresh: a request older than this was given up by the peer (it
// waits birthdayReadyWait for the answer).
const hardRequestFresh = 3 * time.Second

// birthdayEasyApplies: this node is the easy side toward its peer (our NAT
// maps independently of the destination, the peer's is random symmetric).
func (p *pathFinder) birthdayEasyApplies() bool {
	n := p.l.n
	if n.cfg.NoHardNAT {
		return false
	}
	local := n.natInfo()
	p.l.mu.Lock()
	peer := p.l.peerNAT
	p.l.mu.Unlock()
	return local.Known && local.UDP && !local.Symmetric && peer.Known && peer.Symmetric && peer.Ports == portsRandom &&
		len(n.relay.STUNServers()) > 0
}

// birthdayEasy runs the easy side of one attempt and, when it wins, holds the
// path until it dies (like attempt).
func (p *pathFinder) birthdayEasy() (time.Duration, error) {
	n := p.l.n
	bcfg := ice.BirthdayConfig{}
	n.hardNATTries.birthday.Add(1)
	ctx, cancel := p.attemptContext(birthdayReadyWait + time.Duration(ice.DefaultBirthdayProbes/ice.DefaultBirthdayRate+5)*time.Second)
	defer cancel()
	pc, ep, err := ice.EasySocket(ctx, n.relay.STUNServers()[0])
	if err != nil {
		return 0, p.birthdayLog("easy", ice.BirthdayStats{}, err)
	}
	token, err := ice.NewBirthdayToken()
	if err != nil {
		pc.Close()
		return 0, err
	}
	id := rand.Uint64() | 1
	start := hardNATMsg{Op: "start", ID: id, Token: token, Endpoint: ep.String()}
	select { // a stale answer
	case <-p.hardReady:
	default:
	}
	var hardIP netip.Addr
	resend := time.NewTicker(time.Second)
	readyBy := time.NewTimer(birthdayReadyWait)
	defer resend.Stop()
	defer readyBy.Stop()
	p.l.sendMessage(msgHard, start.marshal())
	for !hardIP.IsValid() {
		select {
		case m := <-p.hardReady:
			if m.ID != id {
				continue
			}
			ip, perr := netip.ParseAddr(m.IP)
			if perr != nil || !ip.Is4() {
				pc.Close()
				return 0, p.birthdayLog("easy", ice.BirthdayStats{Sockets: 1}, fmt.Errorf("the peer's public IP %q: not an IPv4 address", m.IP))
			}
			hardIP = ip
		case <-resend.C:
			p.l.sendMessage(msgHard, start.marshal())
		case <-readyBy.C:
			pc.Close()
			return 0, p.birthdayLog("easy", ice.BirthdayStats{Sockets: 1}, fmt.Errorf("the peer did not answer the birthday request within %v (older version, --no-hard-nat, or not behind a symmetric NAT)", birthdayReadyWait))
		case <-ctx.Done():
			pc.Close()
			return 0, ctx.Err()
		}
	}
	path, st, err := ice.BirthdayEasy(ctx, n.iceConfig(), bcfg, pc, hardIP, token, p.l.receive)
	if err = p.birthdayLog("easy", st, err); err != nil {
		return 0, err
	}
	return p.hold(path)
}

// birthdayHard runs the hard side of the peer's attempt m.
func (p *pathFinder) birthdayHard(m hardNATMsg) (time.Duration, error) {
	n := p.l.n
	n.hardNATTries.birthday.Add(1)
	easy, err := netip.ParseAddrPort(m.Endpoint)
	if err != nil || !easy.Addr().Is4() {
		return 0, p.birthdayLog("hard", ice.BirthdayStats{}, fmt.Errorf("the peer's endpoint %q: not an IPv4 address and port", m.Endpoint))
	}
	ip := n.publicIP()
	if !ip.IsValid() {
		return 0, p.birthdayLog("hard", ice.BirthdayStats{}, fmt.Errorf("our public address is unknown (no netcheck yet)"))
	}
	ctx, cancel := p.attemptContext(birthdayHardWait)
	defer cancel()
	ready := func() {
		msg := hardNATMsg{Op: "ready", ID: m.ID, IP: ip.String()}.marshal()
		p.l.sendMessage(msgHard, msg)
		go func() { // the relay rarely loses one; twice more costs nothing
			for range 2 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(300 * time.Millisecond):
					p.l.sendMessage(msgHard, msg)
				}
			}
		}()
	}
	path, st, err := ice.BirthdayHard(ctx, n.iceConfig(), ice.BirthdayConfig{}, easy, m.Token, ready, p.l.receive)
	if err = p.birthdayLog("hard", st, err); err != nil {
		return 0, err
	}
	return p.hold(path)
}

// birthdayLog logs a birthday attempt's outcome once and counts a win.
func (p *pathFinder) birthdayLog(side string, st ice.BirthdayStats, err error) error {
	return p.hardLog(ice.MethodBirthday, side, st, err)
}

// hardLog logs a raw-socket hard-NAT attempt's outcome once and counts a win.
func (p *pathFinder) hardLog(method, side string, st ice.BirthdayStats, err error) error {
	outcome := "direct"
	if err != nil {
		outcome = "failed"
	} else if method == ice.MethodLockstep {
		p.l.n.hardNATWins.lockstep.Add(1)
	} else {
		p.l.n.hardNATWins.birthday.Add(1)
	}
	p.l.log.Info("hard NAT attempt", "name", p.l.peerName(), "method", method, "side", side, "outcome", outcome,
		"sockets", st.Sockets, "packets_sent", st.Sent, "took", st.Took.Round(time.Millisecond).String(), "err", err)
	return err
}

// hold makes path the link's route until it dies or the link closes.
func (p *pathFinder) hold(path *ice.Path) (time.Duration, error) {
	start := time.Now()
	p.setRoute(path, nil)
	var err error
	select {
	case <-path.Done():
		err = path.Err()
	case <-p.done:
		err = ice.ErrClosed
	}
	p.setRoute(nil, err)
	path.Close()
	return time.Since(start), err
}

// Lockstep prediction: both sides behind sequential symmetric NATs
// (pkg/ice's LockstepPunch). The controlling side starts: "lockstep" with
// its socket's mapping and its NAT's step; the other answers
// "lockstep-ready" with its own and starts probing; the initiator probes
// once the answer is in.
const (
	opLockstep      = "lockstep"
	opLockstepReady = "lockstep-ready"
	lockstepWindow  = 16
	lockstepWait    = 8 * time.Second // probing, once both sides know each other
)

// lockstepApplies: both sides' NATs allocate ports in sequence and we start.
func (p *pathFinder) lockstepApplies() bool {
	n := p.l.n
	if n.cfg.NoHardNAT || !p.controlling {
		return false
	}
	local := n.natInfo()
	p.l.mu.Lock()
	peer := p.l.peerNAT
	p.l.mu.Unlock()
	return local.Ports == portsSequential && local.SeqDelta > 0 && peer.Ports == portsSequential && peer.SeqDelta > 0 &&
		len(n.relay.STUNServers()) > 0
}

// attemptContext bounds a hard-NAT attempt: d from now, the node's run,
// and the path finder's end (p.done).
func (p *pathFinder) attemptContext(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(p.l.n.runContext(), d)
	go func() {
		select {
		case <-p.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// lockstepInit is the initiator's side of one attempt.
func (p *pathFinder) lockstepInit() (time.Duration, error) {
	n := p.l.n
	n.hardNATTries.lockstep.Add(1)
	ctx, cancel := p.attemptContext(birthdayReadyWait + lockstepWait)
	defer cancel()
	pc, ep, err := ice.EasySocket(ctx, n.relay.STUNServers()[0])
	if err != nil {
		return 0, p.hardLog(ice.MethodLockstep, "initiator", ice.BirthdayStats{}, err)
	}
	token, err := ice.NewBirthdayToken()
	if err != nil {
		pc.Close()
		return 0, err
	}
	id := rand.Uint64() | 1
	msg := hardNATMsg{Op: opLockstep, ID: id, Token: token, Endpoint: ep.String(), Step: n.natInfo().SeqDelta}.marshal()
	select { // a stale answer
	case <-p.hardReady:
	default:
	}
	p.l.sendMessage(msgHard, msg)
	readyBy := time.NewTimer(birthdayReadyWait)
	defer readyBy.Stop()
	var peer netip.AddrPort
	var step int
	for !peer.IsValid() {
		select {
		case m := <-p.hardReady:
			if m.ID != id || m.Op != opLockstepReady {
				continue
			}
			ap, perr := netip.ParseAddrPort(m.Endpoint)
			if perr != nil || !ap.Addr().Is4() || m.Step < 1 {
				pc.Close()
				return 0, p.hardLog(ice.MethodLockstep, "initiator", ice.BirthdayStats{Sockets: 1}, fmt.Errorf("the peer's answer %q step %d: unusable", m.Endpoint, m.Step))
			}
			peer, step = ap, m.Step
		case <-readyBy.C:
			pc.Close()
			return 0, p.hardLog(ice.MethodLockstep, "initiator", ice.BirthdayStats{Sockets: 1}, fmt.Errorf("the peer did not answer within %v", birthdayReadyWait))
		case <-ctx.Done():
			pc.Close()
			return 0, ctx.Err()
		}
	}
	path, st, err := ice.LockstepPunch(ctx, n.iceConfig(), pc, peer, step, lockstepWindow, token, true, p.l.receive)
	if err = p.hardLog(ice.MethodLockstep, "initiator", st, err); err != nil {
		return 0, err
	}
	return p.hold(path)
}

// lockstepRespond is the other side of the peer's attempt m.
func (p *pathFinder) lockstepRespond(m hardNATMsg) (time.Duration, error) {
	n := p.l.n
	n.hardNATTries.lockstep.Add(1)
	peer, err := netip.ParseAddrPort(m.Endpoint)
	if err != nil || !peer.Addr().Is4() || m.Step < 1 {
		return 0, p.hardLog(ice.MethodLockstep, "responder", ice.BirthdayStats{}, fmt.Errorf("the peer's mapping %q step %d: unusable", m.Endpoint, m.Step))
	}
	local := n.natInfo()
	if local.Ports != portsSequential || local.SeqDelta < 1 || len(n.relay.STUNServers()) == 0 {
		return 0, p.hardLog(ice.MethodLockstep, "responder", ice.BirthdayStats{}, fmt.Errorf("our NAT is not known to be sequential"))
	}
	ctx, cancel := p.attemptContext(birthdayReadyWait + lockstepWait)
	defer cancel()
	pc, ep, err := ice.EasySocket(ctx, n.relay.STUNServers()[0])
	if err != nil {
		return 0, p.hardLog(ice.MethodLockstep, "responder", ice.BirthdayStats{}, err)
	}
	p.l.sendMessage(msgHard, hardNATMsg{Op: opLockstepReady, ID: m.ID, Endpoint: ep.String(), Step: local.SeqDelta}.marshal())
	path, st, err := ice.LockstepPunch(ctx, n.iceConfig(), pc, peer, m.Step, lockstepWindow, m.Token, false, p.l.receive)
	if err = p.hardLog(ice.MethodLockstep, "responder", st, err); err != nil {
		return 0, err
	}
	return p.hold(path)
}
