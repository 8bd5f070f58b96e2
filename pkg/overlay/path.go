package overlay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/ice"
)

// Direct paths. Every link starts on the relay; once its first session is up, a
// pathFinder runs ICE with the peer in the background (signaling travels as
// sealed link messages, msgICE) and, when a pair connects, the link's route
// switches to it: the only thing that changes under the KCP session, so open
// streams keep running. When the path dies (consent checks fail for 5 s), the
// route falls back to the relay and ICE retries with backoff.

// Backoff between ICE attempts.
const (
	iceRetryMin = 2 * time.Second
	iceRetryMax = time.Minute
)

// pathFinder owns the ICE attempts of one link. One goroutine (run) creates and
// closes sessions; the link's receive goroutines only hand it signals.
type pathFinder struct {
	l           *link
	controlling bool

	mu      sync.Mutex
	sess    *ice.Session
	path    *ice.Path
	since   time.Time // of the current route
	lastErr error     // why the last attempt or path failed
	tries   int       // ICE attempts that ended
	abort   func()    // cancels the running ICE attempt's Connect (nil: none)
	wake    chan []byte
	done    chan struct{}
	exited  chan struct{} // closed when run returns (its last session closed: mappings deleted)
	running atomic.Bool   // run was started

	hardStart chan hardNATMsg // birthday requests from the peer (we are the hard side)
	hardReady chan hardNATMsg // the peer's answers to ours (we are the easy side)
}

func newPathFinder(l *link) *pathFinder {
	return &pathFinder{
		l:           l,
		controlling: l.n.pub.Less(l.peer),
		since:       time.Now(),
		wake:        make(chan []byte, 1),
		done:        make(chan struct{}),
		exited:      make(chan struct{}),
		hardStart:   make(chan hardNATMsg, 1),
		hardReady:   make(chan hardNATMsg, 1),
	}
}

// signal handles an ICE message from the peer (any route). It never blocks and
// never closes a session itself: Session.Close waits for socket readers, and
// this may run on one of them.
func (p *pathFinder) signal(m []byte) {
	p.mu.Lock()
	s := p.sess
	p.mu.Unlock()
	if s != nil {
		err := s.HandleSignal(m)
		if err == nil || !errors.Is(err, ice.ErrPeerRestarted) {
			if err != nil {
				p.l.log.Debug("ICE signal ignored", "err", err)
			}
			return
		}
	}
	// No session (we are backing off) or the peer started a new attempt: run one
	// now, starting with this message.
	select {
	case p.wake <- append([]byte(nil), m...):
	default:
		select { // keep the newest
		case <-p.wake:
		default:
		}
		select {
		case p.wake <- append([]byte(nil), m...):
		default:
		}
	}
}

func (p *pathFinder) stop() {
	select {
	case <-p.done:
	default:
		close(p.done)
	}
}

// run makes ICE attempts until the link closes: at once, then after each
// failure with a backoff doubling from iceRetryMin to iceRetryMax. A path that
// worked and died is retried after iceRetryMin. A signal from the peer while we
// wait starts the next attempt at once (the peer is trying now).
func (p *pathFinder) run() {
	defer close(p.exited)
	var delay time.Duration
	var first []byte
	failed := false      // the last attempt never connected: the next may use the hard-NAT methods
	lastHard := false    // the last attempt used them: the next is plain
	var hard *hardNATMsg // the peer asks us to be the hard side of a birthday attempt
	for {
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-p.done:
				t.Stop()
				return
			case first = <-p.wake:
				t.Stop()
			case m := <-p.hardStart:
				hard = &m
				t.Stop()
			case <-t.C:
			}
		}
		select {
		case <-p.done:
			return
		case m := <-p.hardStart:
			hard = &m
		default:
		}
		if hard != nil && time.Since(hard.received) > hardRequestFresh {
			p.l.log.Debug("stale hard-NAT request dropped", "op", hard.Op, "age", time.Since(hard.received).String())
			hard = nil
		}
		var lived time.Duration
		var err error
		useHard := failed && !lastHard
		switch {
		case hard != nil && hard.Op == opLockstep:
			lived, err = p.lockstepRespond(*hard)
			hard = nil
			lastHard = true
		case hard != nil:
			lived, err = p.birthdayHard(*hard)
			hard = nil
			lastHard = true
		case useHard && p.lockstepApplies():
			lived, err = p.lockstepInit()
			lastHard = true
		case useHard && p.birthdayEasyApplies():
			lived, err = p.birthdayEasy()
			lastHard = true
		default:
			lived, err = p.attempt(first, useHard)
			lastHard = useHard
		}
		first = nil
		failed = lived == 0
		p.mu.Lock()
		p.lastErr = err
		p.tries++
		p.mu.Unlock()
		if lived > 0 || delay == 0 {
			delay = iceRetryMin
		} else {
			delay = min(2*delay, iceRetryMax)
		}
		p.l.log.Debug("ICE attempt ended", "err", err, "lived", lived.String(), "retry_in", delay.String())
	}
}

// firstTryTimeout bounds a plain attempt with a peer behind a symmetric NAT:
// when plain ICE can cross that pair it does within a second or two (measured
// in the lab), so waiting the full ConnectTimeout only delays the hard-NAT
// methods of the next attempt.
const firstTryTimeout = 8 * time.Second

// attempt runs one ICE session: connect, switch the route to the path, hold it
// until it dies. It returns how long the path lived (0: never connected).
// afterFailure says the previous attempt never connected: this one adds the
// hard-NAT methods the two sides' NATs call for (port prediction).
func (p *pathFinder) attempt(first []byte, afterFailure bool) (time.Duration, error) {
	n := p.l.n
	cfg := n.iceConfig()
	p.l.mu.Lock()
	peer := p.l.peerNAT
	p.l.mu.Unlock()
	switch {
	case afterFailure && n.cfg.NoHardNAT:
	case afterFailure && peer.Ports == portsSequential && peer.SeqDelta > 0:
		cfg.PeerSeqDelta = func() int { return peer.SeqDelta }
		n.hardNATTries.predict.Add(1)
	}
	cfg.PeerReadsMapped = func() bool {
		p.l.mu.Lock()
		defer p.l.mu.Unlock()
		return p.l.peerNAT.MappedCands
	}
	s, err := ice.NewSession(cfg, p.controlling,
		func(m []byte) { p.l.sendMessage(msgICE, m) },
		p.l.receive)
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	p.sess = s
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.sess = nil
		p.mu.Unlock()
		s.Close()
	}()
	if first != nil {
		s.HandleSignal(first)
	}
	ctx, cancel := context.WithCancel(n.runContext())
	p.mu.Lock()
	p.abort = cancel // a hard-NAT request from the peer preempts this attempt
	pending := len(p.hardStart) > 0
	p.mu.Unlock()
	if pending {
		cancel()
	}
	defer func() {
		p.mu.Lock()
		p.abort = nil
		p.mu.Unlock()
	}()
	go func() {
		// A plain attempt with a peer behind a symmetric NAT gives up early
		// (the peer's nat info may arrive after the attempt started).
		early := time.NewTimer(firstTryTimeout)
		defer early.Stop()
		for {
			select {
			case <-p.done:
			case <-ctx.Done():
			case <-early.C:
				p.l.mu.Lock()
				sym := p.l.peerNAT.Symmetric
				p.l.mu.Unlock()
				if afterFailure || !sym {
					continue
				}
				p.l.log.Debug("plain ICE with a symmetric-NAT peer gives up early", "after", firstTryTimeout.String())
			}
			cancel()
			return
		}
	}()
	path, err := s.Connect(ctx)
	cancel()
	n.stats.countPunch(path, err)
	if s.Predicted() > 0 {
		outcome := "failed"
		if err == nil && path.Method() == ice.MethodPredict {
			outcome = "direct"
			n.hardNATWins.predict.Add(1)
		}
		p.l.log.Info("hard NAT attempt", "name", p.l.peerName(), "method", ice.MethodPredict, "outcome", outcome,
			"predicted_ports", s.Predicted(), "peer_step", peer.SeqDelta, "err", err)
	}
	if err != nil {
		return 0, err
	}
	return p.hold(path)
}

// setRoute switches the link to path (nil: the relay) and says so: one log line
// and one event per change.
func (p *pathFinder) setRoute(path *ice.Path, why error) {
	l := p.l
	p.mu.Lock()
	old := p.path
	p.path = path
	p.since = time.Now()
	p.mu.Unlock()
	l.route.setDirect(path)
	if path != nil || old != nil {
		l.n.stats.countPathChange(path != nil, why)
	}
	if path != nil {
		local, lt := path.Local()
		remote, rt := path.Remote()
		l.log.Info("peer path changed", "name", l.peerName(), "path", api.PathDirect, "was", api.PathRelay,
			"local", local+" ("+lt+")", "remote", remote+" ("+rt+")", "method", path.Method())
		l.n.events.publish(api.Event{Kind: api.EventPath, Peer: l.peer.String(), Name: l.peerName(), Path: api.PathDirect, Remote: remote})
		return
	}
	if old == nil {
		return
	}
	reason := "closed"
	if why != nil {
		reason = why.Error()
	}
	l.log.Warn("peer path changed", "name", l.peerName(), "path", api.PathRelay, "was", api.PathDirect, "reason", reason)
	l.n.events.publish(api.Event{Kind: api.EventPath, Peer: l.peer.String(), Name: l.peerName(), Path: api.PathRelay, Reason: reason})
}

// routeInfo describes the link's current route for `peers`.
type routeInfo struct {
	path          api.Path
	local, remote string
	localType     string
	remoteType    string
	method        string // what found the direct path (ice.Method*)
	since         time.Time
	lastErr       error
	tries         int
}

func (p *pathFinder) info() routeInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	ri := routeInfo{path: api.PathRelay, since: p.since, lastErr: p.lastErr, tries: p.tries}
	if p.path != nil {
		ri.path = api.PathDirect
		ri.local, ri.localType = p.path.Local()
		ri.remote, ri.remoteType = p.path.Remote()
		ri.method = p.path.Method()
	}
	return ri
}

// relayReason explains why a link is on the relay, from what both sides know
// about their networks (netcheck) and the last ICE error.
func relayReason(local, peer natInfo, lastErr error) string {
	switch {
	case local.RelayOnly:
		return "forced: --relay-only on this node"
	case peer.RelayOnly:
		return "forced: --relay-only on the peer"
	case local.Known && !local.UDP:
		return "no UDP from this node"
	case peer.Known && !peer.UDP:
		return "no UDP from the peer"
	case local.Known && peer.Known && local.Ports == portsRandom && peer.Ports == portsRandom:
		return "both sides random symmetric NAT"
	case local.Known && peer.Known && local.Symmetric && peer.Symmetric:
		return "symmetric NAT on both sides"
	case lastErr == nil:
		return "ICE in progress"
	case local.Known && local.Symmetric:
		return "symmetric NAT on this side"
	case peer.Known && peer.Symmetric:
		return "symmetric NAT on the peer's side"
	}
	return fmt.Sprintf("ICE failed: %v", lastErr)
}
