package seal

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
)

// Channel is the secure channel between this node and one remote node. Seal may
// be called from many goroutines at once, concurrently with Receive, Initiate,
// Status and the channel's own timers.
type Channel struct {
	cfg      ChannelConfig
	suites   []Cipher     // Cipher, then Accept
	initWith atomic.Int32 // index in suites of the suite our initiations use
	log      *slog.Logger
	localPub identity.PublicKey
	pair     pairKey          // keys the mac of handshake packets
	now      func() time.Time // the clock; tests replace it before first use

	// The data path reads these without c.mu.
	table        atomic.Pointer[sessionTable]
	closed       atomic.Bool
	handshaking  atomic.Bool  // c.pending != nil
	rekeyHold    atomic.Int64 // unix ns before which Seal does not ask for a rekey again
	unknownHold  atomic.Int64 // unix ns before which unknown-session packets do not start a handshake
	lastAuthRecv atomic.Int64 // unix ns of the last authenticated data packet
	bufs         sync.Pool    // *[]byte: Seal's output buffers
	packetsIn    atomic.Uint64
	packetsOut   atomic.Uint64
	dropped      atomic.Uint64

	mu            sync.Mutex
	hello         []byte       // what our handshake messages carry (Rehandshake, SetHello change it)
	respHello     []byte       // what our responses carry instead, if not nil
	pending       *pendingInit // the handshake we initiated, if running
	cycleStart    time.Time    // first initiation of the running handshake cycle
	retryAt       time.Time    // when the pending initiation is replaced
	deferred      bool         // an Initiate waits for holdUntil
	holdUntil     time.Time    // no new cycle before this (backoff or peer mid-handshake)
	failures      int          // consecutive failed cycles, for the backoff
	timer         *time.Timer
	timerSends    sync.WaitGroup // a timer callback between deciding and sending
	sessionSeq    uint64
	lastSentTS    timestamp // newest initiation timestamp we sent
	lastInitTS    timestamp // newest initiation timestamp accepted from the peer
	lastResponse  time.Time // when we last answered an initiation
	lastHandshake time.Time
	lastErr       error
	tokens        float64 // answered-initiation bucket
	tokensAt      time.Time
}

type pendingInit struct {
	hs         Handshake
	localIndex uint32
	suite      string // the suite hs speaks
}

// NewChannel checks cfg and returns a channel. It sends nothing until Seal or
// Initiate is called or a packet arrives.
func NewChannel(cfg ChannelConfig) (*Channel, error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	pair, err := derivePairKey(cfg.Local, cfg.Remote)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	c := &Channel{
		cfg:       cfg,
		suites:    append([]Cipher{cfg.Cipher}, cfg.Accept...),
		log:       cfg.Logger.With("peer", cfg.Remote.Short()),
		localPub:  cfg.Local.Public(),
		pair:      pair,
		now:       time.Now,
		tokens:    float64(2 * cfg.HandshakesPerSecond),
		hello:     cfg.Hello,
		respHello: cfg.ResponseHello,
	}
	c.bufs.New = func() any {
		b := make([]byte, 0, 2048)
		return &b
	}
	c.table.Store(&sessionTable{})
	return c, nil
}

// Seal encrypts plaintext with the current session's send key and next counter
// and passes the packet to cfg.Send (valid only during that call); it returns
// Send's error. With no usable session it starts a handshake (unless one runs or
// the backoff holds) and returns ErrNoSession: the caller drops the datagram. An
// empty plaintext is a keepalive, which the peer's Receive does not return; a
// plaintext may be up to 64 KiB minus MaxOverhead.
func (c *Channel) Seal(plaintext []byte) error {
	if len(plaintext) > maxPacketSize-MaxOverhead {
		return fmt.Errorf("seal: plaintext of %d bytes exceeds %d", len(plaintext), maxPacketSize-MaxOverhead)
	}
	s := c.table.Load().current
	now := c.now()
	if s == nil || !c.usable(s, now) {
		if c.closed.Load() {
			return ErrClosed
		}
		c.initiate(false)
		return ErrNoSession
	}
	n := s.sendCounter.Add(1) - 1
	if n >= rejectAfterMessages {
		c.initiate(false)
		return ErrNoSession
	}
	bp := c.bufs.Get().(*[]byte)
	b := appendDataHeader((*bp)[:0], s.remoteIndex, n)
	b = s.send.Seal(b, n, plaintext)
	err := c.cfg.Send(b)
	if cap(b) <= maxPacketSize {
		*bp = b[:0]
	}
	c.bufs.Put(bp)
	c.packetsOut.Add(1)
	if n >= rekeyAfterMessages || now.Sub(s.created) >= c.rekeyAge(s) {
		c.maybeRekey(now)
	}
	return err
}

// Receive handles one packet from the peer. A data packet's plaintext is appended
// to dst and returned. Handshake packets are handled internally (answers go out
// through cfg.Send before Receive returns) and, like keepalives, return (nil, nil).
// A packet that is malformed, forged, replayed or for an unknown session returns
// an error wrapping one of the Err* values and changes no state (a packet for an
// unknown session may start a handshake, at most once per RetryInterval).
func (c *Channel) Receive(dst, pkt []byte) ([]byte, error) {
	out, err := c.receive(dst, pkt)
	if err != nil {
		c.dropped.Add(1)
	}
	return out, err
}

func (c *Channel) receive(dst, pkt []byte) ([]byte, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if len(pkt) == 0 {
		return nil, malformed("empty packet")
	}
	switch pkt[0] {
	case typeData:
		return c.receiveData(dst, pkt)
	case typeInitiation:
		return nil, c.receiveInitiation(pkt)
	case typeResponse:
		return nil, c.receiveResponse(pkt)
	case typeReject:
		return nil, c.receiveReject(pkt)
	}
	return nil, malformed("packet type 0x%02x", pkt[0])
}

// receiveData is the hot receive path: no channel lock, no allocation. Errors are
// the bare sentinels for the same reason.
func (c *Channel) receiveData(dst, pkt []byte) ([]byte, error) {
	p, err := parseData(pkt)
	if err != nil {
		return nil, err
	}
	now := c.now()
	s := c.table.Load().lookup(p.receiver)
	if s == nil || c.expired(s, now) {
		c.onUnknownSession(now)
		return nil, ErrUnknownSession
	}
	if p.counter >= rejectAfterMessages {
		return nil, ErrMalformed
	}
	s.mu.Lock()
	old := s.window.seen(p.counter)
	s.mu.Unlock()
	if old {
		return nil, ErrReplay
	}
	out, err := s.recv.Open(dst, p.counter, p.sealed)
	if err != nil {
		return nil, ErrMalformed
	}
	// Only now, authenticated, does the counter count as seen.
	s.mu.Lock()
	fresh := s.window.accept(p.counter)
	s.mu.Unlock()
	if !fresh {
		return nil, ErrReplay // a concurrent Receive of the same packet won
	}
	s.lastRecv.Store(c.packetsIn.Add(1))
	c.lastAuthRecv.Store(now.UnixNano())
	if !s.confirmed.Load() {
		c.confirm(s)
	}
	if len(out) == len(dst) {
		return nil, nil // keepalive
	}
	return out, nil
}

// Initiate starts a handshake now unless a fresh session is current, one is in
// flight, or the peer is completing one with us (then it runs once that had its
// chance). After a failed handshake it waits for the backoff.
func (c *Channel) Initiate() { c.initiate(false) }

// initiate starts a handshake cycle; force skips the "current session is fresh"
// check (the peer uses a session we do not have).
func (c *Channel) initiate(force bool) {
	if c.closed.Load() || c.handshaking.Load() {
		return
	}
	c.mu.Lock()
	pkt := c.initiateLocked(c.now(), force)
	c.mu.Unlock()
	c.send(pkt, "initiation")
}

// Rehandshake replaces the hellos this side sends (see ChannelConfig.Hello and
// ResponseHello) and starts a new handshake now, even when a fresh session is
// current: the caller's state changed and the peer must learn it (overlay: a
// new link generation). A handshake in flight, which carries the old hello, is
// abandoned. Sessions stay usable until the new one replaces them; the replay
// memory of the channel is kept. A backoff after failed handshakes still
// applies.
func (c *Channel) Rehandshake(hello, response []byte) error {
	if err := checkHellos(hello, response); err != nil {
		return err
	}
	if c.closed.Load() {
		return ErrClosed
	}
	c.mu.Lock()
	c.setHelloLocked(hello, response)
	if c.pending != nil {
		c.pending = nil
		c.handshaking.Store(false)
	}
	pkt := c.initiateLocked(c.now(), true)
	c.mu.Unlock()
	c.send(pkt, "initiation")
	return nil
}

// SetHello replaces the hellos later handshake messages carry (see
// ChannelConfig.Hello and ResponseHello) without starting a handshake: the
// peer learns them at the next one (a rekey, a restart). A handshake in flight
// keeps the old ones.
func (c *Channel) SetHello(hello, response []byte) error {
	if err := checkHellos(hello, response); err != nil {
		return err
	}
	c.mu.Lock()
	c.setHelloLocked(hello, response)
	c.mu.Unlock()
	return nil
}

func checkHellos(hello, response []byte) error {
	if len(hello) > MaxHello {
		return fmt.Errorf("seal: hello of %d bytes exceeds %d", len(hello), MaxHello)
	}
	if len(response) > MaxHello {
		return fmt.Errorf("seal: response hello of %d bytes exceeds %d", len(response), MaxHello)
	}
	return nil
}

func (c *Channel) setHelloLocked(hello, response []byte) {
	c.hello = append([]byte(nil), hello...)
	c.respHello = nil
	if response != nil {
		c.respHello = append([]byte(nil), response...)
	}
}

// Status returns a snapshot.
func (c *Channel) Status() ChannelStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	t := c.table.Load()
	st := ChannelStatus{
		Suite:         c.initiating().Name(),
		LastHandshake: c.lastHandshake,
		Handshaking:   c.pending != nil,
		Sessions:      t.count(func(s *session) bool { return !c.expired(s, now) }),
		PacketsIn:     c.packetsIn.Load(),
		PacketsOut:    c.packetsOut.Load(),
		Dropped:       c.dropped.Load(),
	}
	if s := t.current; s != nil {
		st.Established = c.usable(s, now)
		st.Initiator = s.initiator
		st.Suite = s.suite
	}
	if c.lastErr != nil {
		st.LastError = c.lastErr.Error()
	}
	return st
}

// Close stops the channel's timer and drops its sessions; later calls return
// ErrClosed. When it returns, no timer goroutine is left and none will call Send
// (Send must therefore not call Close); Seal and Receive calls already running
// may still finish theirs.
func (c *Channel) Close() {
	c.mu.Lock()
	if c.closed.Swap(true) {
		c.mu.Unlock()
		return
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	c.pending = nil
	c.handshaking.Store(false)
	c.table.Store(&sessionTable{})
	c.mu.Unlock()
	c.timerSends.Wait()
}

// usable reports whether s may still be used for sending.
func (c *Channel) usable(s *session, now time.Time) bool {
	return !c.expired(s, now) && s.sendCounter.Load() < rejectAfterMessages
}

// expired reports whether s is past RejectAfter (then it is not used at all).
func (c *Channel) expired(s *session, now time.Time) bool {
	return now.Sub(s.created) >= c.cfg.RejectAfter
}

// rekeyAge is the age at which Seal asks for a new handshake: RekeyAfter for
// the initiator of s, later for the responder, so both rarely start at once.
func (c *Channel) rekeyAge(s *session) time.Duration {
	if s.initiator {
		return c.cfg.RekeyAfter
	}
	return c.cfg.RekeyAfter + (c.cfg.RejectAfter-c.cfg.RekeyAfter)/2
}

// fresh reports whether s needs no rekey yet.
func (c *Channel) fresh(s *session, now time.Time) bool {
	return s != nil && now.Sub(s.created) < c.rekeyAge(s) && s.sendCounter.Load() < rekeyAfterMessages
}

// maybeRekey starts a rekey at most once per RetryInterval from the Seal path.
func (c *Channel) maybeRekey(now time.Time) {
	hold := c.rekeyHold.Load()
	if now.UnixNano() < hold || !c.rekeyHold.CompareAndSwap(hold, now.Add(c.cfg.RetryInterval).UnixNano()) {
		return
	}
	c.log.Debug("rekeying")
	c.initiate(false)
}

// onUnknownSession starts a handshake, at most once per RetryInterval, when the
// peer sends on a session we do not have (we restarted, or it uses a session we
// dropped): the peer then gets a fresh session. While authenticated data still
// arrives and the current session is fresh, such a packet is a straggler or a
// forgery and changes nothing; otherwise the handshake starts even if our current
// session looks fresh, since the peer evidently does not use it.
func (c *Channel) onUnknownSession(now time.Time) {
	force := now.UnixNano()-c.lastAuthRecv.Load() >= int64(c.cfg.RetryInterval)
	if cur := c.table.Load().current; !force && cur != nil && c.fresh(cur, now) && c.usable(cur, now) {
		return
	}
	hold := c.unknownHold.Load()
	if now.UnixNano() < hold || !c.unknownHold.CompareAndSwap(hold, now.Add(c.cfg.RetryInterval).UnixNano()) {
		return
	}
	c.log.Debug("peer uses an unknown session; starting a handshake", "forced", force)
	c.initiate(force)
}

// send transmits a handshake packet; failures are packet loss.
func (c *Channel) send(pkt []byte, what string) {
	if pkt == nil {
		return
	}
	if err := c.cfg.Send(pkt); err != nil {
		c.log.Debug("send failed", "packet", what, "err", err)
	}
}

// initiating is the suite our initiations use.
func (c *Channel) initiating() Cipher { return c.suites[c.initWith.Load()] }

// suiteNamed is the suite of ours called name (nil: none).
func (c *Channel) suiteNamed(name string) (Cipher, int) {
	for i, s := range c.suites {
		if s.Name() == name {
			return s, i
		}
	}
	return nil, -1
}

func (c *Channel) failure(err error) {
	c.log.Debug("handshake failed", "err", err)
	if !c.closed.Load() {
		c.cfg.OnFailure(err)
	}
}

func (c *Channel) established(s *session) {
	c.log.Debug("session established", "initiator", s.initiator, "index", s.localIndex)
	if !c.closed.Load() {
		c.cfg.OnEstablished(Established{RemoteHello: s.remoteHello, Initiator: s.initiator, Suite: s.suite})
	}
}
