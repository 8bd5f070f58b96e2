package seal

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
)

// initiateLocked starts a handshake cycle unless one is running, the current
// session is fresh (unless force), or a hold applies; then it defers the start to
// the timer. It returns the initiation to send after unlocking.
func (c *Channel) initiateLocked(now time.Time, force bool) []byte {
	if c.closed.Load() || c.pending != nil {
		return nil
	}
	t := c.table.Load()
	if !force && c.fresh(t.current, now) && c.usable(t.current, now) {
		return nil
	}
	hold := c.holdUntil
	if !force && now.Sub(c.lastResponse) < c.cfg.RetryInterval && hasUnconfirmed(t) {
		// We just answered the peer's initiation: its confirmation is probably on
		// the way, and our own handshake would only race it.
		hold = later(hold, c.lastResponse.Add(c.cfg.RetryInterval))
	}
	if now.Before(hold) {
		c.deferred = true
		c.armLocked(hold, now)
		return nil
	}
	c.deferred = false
	c.cycleStart = now
	return c.startLocked(now)
}

// startLocked builds a new initiation (fresh ephemeral key, index and timestamp),
// makes it the pending handshake and arms the retry timer.
func (c *Channel) startLocked(now time.Time) []byte {
	suite := c.initiating()
	hs, err := suite.NewHandshake(HandshakeConfig{Initiator: true, Local: c.cfg.Local, Remote: c.cfg.Remote, PSK: c.cfg.PSK})
	if err != nil {
		c.cannotStartLocked(now, err)
		return nil
	}
	ts := makeTimestamp(now)
	if !ts.after(c.lastSentTS) {
		ts = c.lastSentTS.next()
	}
	payload := make([]byte, 0, timestampLen+len(c.hello))
	payload = append(append(payload, ts[:]...), c.hello...)
	msg, err := hs.WriteMessage(nil, payload)
	if err != nil {
		c.cannotStartLocked(now, err)
		return nil
	}
	c.lastSentTS = ts
	idx := c.newIndexLocked()
	c.pending = &pendingInit{hs: hs, localIndex: idx, suite: suite.Name()}
	c.handshaking.Store(true)
	jitter := time.Duration(rand.Int64N(int64(c.cfg.RetryInterval)/10 + 1))
	c.retryAt = now.Add(c.cfg.RetryInterval + jitter)
	c.armLocked(c.retryAt, now)
	c.log.Debug("sending initiation", "index", idx, "suite", suite.Name())
	pkt := appendInitiation(make([]byte, 0, 6+len(suite.Name())+len(msg)+macLen), idx, suite.Name(), msg)
	return c.pair.appendMAC(c.localPub, pkt)
}

// cannotStartLocked ends the cycle when the cipher cannot even build an
// initiation (a broken plugin, say); the backoff paces further attempts.
func (c *Channel) cannotStartLocked(now time.Time, err error) {
	err = fmt.Errorf("cannot start a handshake with suite %s: %w", c.initiating().Name(), err)
	c.log.Debug("handshake not started", "err", err)
	c.endCycleLocked(now, err)
}

// receiveInitiation answers the peer's initiation. The checks run cheapest
// first; the Noise work (Diffie-Hellman) only within the rate limit.
func (c *Channel) receiveInitiation(pkt []byte) error {
	p, err := parseInitiation(pkt)
	if err != nil {
		return err
	}
	macOK := c.pair.verify(c.cfg.Remote, p.signed, p.mac)
	suite, _ := c.suiteNamed(p.suite)
	if suite == nil {
		if !macOK {
			return malformed("initiation for suite %q does not authenticate", p.suite)
		}
		if !c.takeToken() {
			return fmt.Errorf("initiation from peer %s: %w", c.cfg.Remote.Short(), ErrRateLimited)
		}
		if slices.Contains(c.cfg.Decline, p.suite) {
			c.log.Debug("declining the peer's suite", "suite", p.suite)
			c.sendReject(p.sender, rejectSuite, &c.pair)
			return nil
		}
		err := fmt.Errorf("%w: peer %s uses %q, this node uses %s", ErrSuiteMismatch, c.cfg.Remote.Short(), p.suite, c.suiteNames())
		c.setLastErr(err)
		c.sendReject(p.sender, rejectSuite, &c.pair)
		c.failure(err)
		return err
	}
	if !c.takeToken() {
		return fmt.Errorf("initiation from peer %s: %w", c.cfg.Remote.Short(), ErrRateLimited)
	}
	if b := c.cfg.Budget; b != nil && c.stranger() && !b.take(c.now()) {
		return fmt.Errorf("initiation from peer %s (no session yet): node-wide handshake budget spent: %w", c.cfg.Remote.Short(), ErrRateLimited)
	}
	hs, err := suite.NewHandshake(HandshakeConfig{Local: c.cfg.Local, PSK: c.cfg.PSK})
	if err != nil {
		return fmt.Errorf("responder handshake: %w", err)
	}
	payload, err := hs.ReadMessage(nil, p.msg)
	if err != nil {
		return malformed("initiation does not decrypt with this node's key")
	}
	if remote := hs.Remote(); remote != c.cfg.Remote {
		return c.wrongInitiator(p, remote)
	}
	if !macOK {
		return malformed("initiation mac does not verify")
	}
	if len(payload) < timestampLen {
		return malformed("initiation payload of %d bytes", len(payload))
	}
	var ts timestamp
	copy(ts[:], payload)
	hello := payload[timestampLen:len(payload):len(payload)]

	c.mu.Lock()
	replay := !ts.after(c.lastInitTS)
	ourHello := c.hello
	if c.respHello != nil {
		ourHello = c.respHello
	}
	c.mu.Unlock()
	if replay {
		return fmt.Errorf("initiation from peer %s is not newer than the last one accepted: %w", c.cfg.Remote.Short(), ErrReplay)
	}
	msg, err := hs.WriteMessage(nil, ourHello)
	if err != nil {
		return fmt.Errorf("write response: %w", err)
	}
	send, recv, err := hs.Keys()
	if err != nil {
		return fmt.Errorf("responder keys: %w", err)
	}
	if send.Overhead() > maxTagLen || recv.Overhead() > maxTagLen {
		return fmt.Errorf("suite %s: AEAD overhead %d exceeds %d", p.suite, send.Overhead(), maxTagLen)
	}

	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return ErrClosed
	}
	if !ts.after(c.lastInitTS) { // a concurrent Receive of the same initiation won
		c.mu.Unlock()
		return fmt.Errorf("initiation from peer %s is not newer than the last one accepted: %w", c.cfg.Remote.Short(), ErrReplay)
	}
	now := c.now()
	c.lastInitTS = ts
	c.lastResponse = now
	s := c.newSessionLocked(c.newIndexLocked(), p.sender, p.suite, send, recv, false, hello, now)
	c.insertLocked(s, now)
	c.mu.Unlock()

	c.log.Debug("answering initiation", "index", s.localIndex)
	out := appendResponse(make([]byte, 0, 9+len(msg)+macLen), s.localIndex, p.sender, msg)
	c.send(c.pair.appendMAC(c.localPub, out), "response")
	return nil
}

// wrongInitiator handles an initiation that Noise authenticated as coming from
// remote, a key other than the one this channel expects. If its mac shows it was
// meant for us by remote, both sides learn why: we report ErrPeerKeyMismatch and
// send remote an authenticated reject.
func (c *Channel) wrongInitiator(p initiation, remote identity.PublicKey) error {
	key, err := derivePairKey(c.cfg.Local, remote)
	if err != nil || !key.verify(remote, p.signed, p.mac) {
		return malformed("initiation mac does not verify")
	}
	err = fmt.Errorf("%w: a handshake came from key %s, but this node expects %s for this peer", ErrPeerKeyMismatch, remote.Short(), c.cfg.Remote.Short())
	c.setLastErr(err)
	c.sendReject(p.sender, rejectPeerKey, &key)
	c.failure(err)
	return err
}

// receiveResponse completes the pending handshake.
func (c *Channel) receiveResponse(pkt []byte) error {
	p, err := parseResponse(pkt)
	if err != nil {
		return err
	}
	if !c.pair.verify(c.cfg.Remote, p.signed, p.mac) {
		return malformed("response does not authenticate")
	}
	c.mu.Lock()
	pend := c.pending
	if c.closed.Load() || pend == nil || pend.localIndex != p.receiver {
		c.mu.Unlock()
		return fmt.Errorf("response for index %08x: %w", p.receiver, ErrUnknownSession)
	}
	now := c.now()
	hello, err := pend.hs.ReadMessage(nil, p.msg)
	if err != nil {
		// The mac proved the peer's static key, so the only input left that makes
		// Noise fail is the PSK.
		err := fmt.Errorf("%w from peer %s's: its handshake response does not authenticate", ErrSecretMismatch, c.cfg.Remote.Short())
		c.endCycleLocked(now, err)
		c.mu.Unlock()
		c.sendReject(p.sender, rejectSecret, &c.pair)
		c.failure(err)
		return err
	}
	send, recv, err := pend.hs.Keys()
	if err == nil && (send.Overhead() > maxTagLen || recv.Overhead() > maxTagLen) {
		err = fmt.Errorf("suite %s: AEAD overhead %d exceeds %d", pend.suite, send.Overhead(), maxTagLen)
	}
	if err != nil {
		c.endCycleLocked(now, err)
		c.mu.Unlock()
		return err
	}
	s := c.newSessionLocked(pend.localIndex, p.sender, pend.suite, send, recv, true, hello, now)
	s.confirmed.Store(true)
	c.insertLocked(s, now)
	c.promoteLocked(s, now)
	c.mu.Unlock()

	// A keepalive confirms the session to the responder at once.
	n := s.sendCounter.Add(1) - 1
	ka := s.send.Seal(appendDataHeader(make([]byte, 0, keepaliveLen), s.remoteIndex, n), n, nil)
	c.send(ka, "keepalive")
	c.packetsOut.Add(1)
	c.established(s)
	return nil
}

// receiveReject handles the peer's authenticated refusal of one of our handshakes.
func (c *Channel) receiveReject(pkt []byte) error {
	p, err := parseReject(pkt)
	if err != nil {
		return err
	}
	if !c.pair.verify(c.cfg.Remote, p.signed, p.mac) {
		return malformed("reject does not authenticate")
	}
	peer := c.cfg.Remote.Short()
	c.mu.Lock()
	now := c.now()
	switch {
	case p.reason == rejectSecret:
		t := c.table.Load()
		s := t.lookup(p.receiver)
		if s == nil || s.initiator || s.confirmed.Load() {
			break
		}
		err := fmt.Errorf("%w from peer %s's: it could not authenticate this node's handshake response", ErrSecretMismatch, peer)
		c.table.Store(t.without(s))
		c.lastErr = err
		c.mu.Unlock()
		c.failure(err)
		return err
	case c.pending != nil && c.pending.localIndex == p.receiver:
		if p.reason == rejectSuite {
			if pkt, switched := c.switchSuiteLocked(now, p.suite); switched {
				err := c.lastErr // set when the new suite could not even start
				c.mu.Unlock()
				c.send(pkt, "initiation")
				return err
			}
		}
		var err error
		if p.reason == rejectSuite {
			err = fmt.Errorf("%w: peer %s uses %q, this node uses %s", ErrSuiteMismatch, peer, p.suite, c.suiteNames())
		} else {
			err = fmt.Errorf("%w: peer %s expects another key for this node (this node is %s)", ErrPeerKeyMismatch, peer, c.localPub.Short())
		}
		c.endCycleLocked(now, err)
		c.mu.Unlock()
		c.failure(err)
		return err
	}
	c.mu.Unlock()
	return fmt.Errorf("reject for index %08x: %w", p.receiver, ErrUnknownSession)
}

// switchSuiteLocked handles the peer's refusal of our pending initiation's
// suite: when the suite the peer named is one we accept, our initiations use it
// from now on and a new one (returned, to send after unlocking) replaces the
// refused one in the same cycle (nil if that suite cannot start one: then the
// cycle ended with that error). switched is false when we do not speak the
// peer's suite.
func (c *Channel) switchSuiteLocked(now time.Time, peerSuite string) (pkt []byte, switched bool) {
	suite, i := c.suiteNamed(peerSuite)
	if suite == nil || peerSuite == c.pending.suite {
		return nil, false
	}
	c.log.Debug("peer refused our suite; switching", "from", c.pending.suite, "to", peerSuite)
	c.initWith.Store(int32(i))
	return c.startLocked(now), true
}

// suiteNames lists our suites for errors: "a" or "a (also b, c)".
func (c *Channel) suiteNames() string {
	first := c.initiating().Name()
	var also []string
	for _, a := range c.suites {
		if a.Name() != first {
			also = append(also, fmt.Sprintf("%q", a.Name()))
		}
	}
	if len(also) == 0 {
		return fmt.Sprintf("%q", first)
	}
	return fmt.Sprintf("%q (also %s)", first, strings.Join(also, ", "))
}

// sendReject sends a reject authenticated with key (the pair key shared with
// whoever sent the refused handshake packet). It names the suite we initiate
// with, which the peer switches to if it accepts it.
func (c *Channel) sendReject(receiver uint32, reason byte, key *pairKey) {
	suite := c.initiating().Name()
	pkt := appendReject(make([]byte, 0, 7+len(suite)+macLen), receiver, reason, suite)
	c.send(key.appendMAC(c.localPub, pkt), "reject")
}

// confirm marks a responder session usable once the initiator used it, and makes
// it current if it is newer than the current one.
func (c *Channel) confirm(s *session) {
	c.mu.Lock()
	if c.closed.Load() || s.confirmed.Load() || !c.table.Load().contains(s) {
		c.mu.Unlock()
		return
	}
	s.confirmed.Store(true)
	became := c.promoteLocked(s, c.now())
	c.mu.Unlock()
	c.log.Debug("session confirmed", "index", s.localIndex, "current", became)
	if became {
		c.established(s)
	}
}

// promoteLocked makes the confirmed session s current if it is newer than the
// current one or that one is no longer usable. A new current session ends the
// running handshake cycle: there is nothing left to wait for.
func (c *Channel) promoteLocked(s *session, now time.Time) bool {
	t := c.table.Load()
	if cur := t.current; cur != nil && cur.seq > s.seq && c.usable(cur, now) {
		return false
	}
	n := *t
	n.current = s
	c.table.Store(&n)
	c.lastHandshake = now
	c.endCycleLocked(now, nil)
	return true
}

func (c *Channel) newSessionLocked(local, remote uint32, suite string, send, recv AEAD, initiator bool, hello []byte, now time.Time) *session {
	c.sessionSeq++
	return &session{localIndex: local, remoteIndex: remote, suite: suite, send: send, recv: recv,
		created: now, seq: c.sessionSeq, initiator: initiator, remoteHello: hello}
}

// newIndexLocked picks a random index no live session or pending handshake uses.
func (c *Channel) newIndexLocked() uint32 {
	t := c.table.Load()
	for {
		idx := rand.Uint32()
		if t.lookup(idx) == nil && (c.pending == nil || c.pending.localIndex != idx) {
			return idx
		}
	}
}

// insertLocked adds s to the session table (see sessionTable.with).
func (c *Channel) insertLocked(s *session, now time.Time) {
	t, evicted := c.table.Load().with(s, func(x *session) bool { return c.expired(x, now) })
	c.table.Store(t)
	if evicted != nil {
		c.log.Debug("session dropped", "index", evicted.localIndex, "for", s.localIndex)
	}
}

func (c *Channel) setLastErr(err error) {
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
}

// stranger reports whether this channel never had a session with its peer.
func (c *Channel) stranger() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastHandshake.IsZero()
}

// takeToken is a token bucket on answered initiations (burst: two seconds' worth).
func (c *Channel) takeToken() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	rate := float64(c.cfg.HandshakesPerSecond)
	if !c.tokensAt.IsZero() {
		c.tokens = min(2*rate, c.tokens+now.Sub(c.tokensAt).Seconds()*rate)
	}
	c.tokensAt = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

func hasUnconfirmed(t *sessionTable) bool {
	for _, s := range t.live {
		if s != nil && !s.confirmed.Load() {
			return true
		}
	}
	return false
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
