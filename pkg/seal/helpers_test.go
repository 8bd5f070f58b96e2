package seal

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
)

// fakeClock is a manual clock for Channel.now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

// endpoint is one side of a test pair: its channel and what reached its callbacks.
type endpoint struct {
	name string
	key  identity.PrivateKey
	ch   *Channel
	out  *wire // where ch.Send goes

	mu          sync.Mutex
	established []Established
	failures    []error
	got         [][]byte // plaintexts Receive returned
	errs        []error  // Receive errors
}

func (e *endpoint) deliver(pkt []byte) {
	out, err := e.ch.Receive(nil, pkt)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		if err == ErrUnknownSession && len(pkt) > 5 {
			err = fmt.Errorf("data for %x: %w", pkt[1:5], err)
		}
		e.errs = append(e.errs, err)
	}
	if len(out) > 0 {
		e.got = append(e.got, out)
	}
}

func (e *endpoint) snapshotCallbacks() (est []Established, fail []error, got [][]byte, errs []error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Established(nil), e.established...), append([]error(nil), e.failures...),
		append([][]byte(nil), e.got...), append([]error(nil), e.errs...)
}

func (e *endpoint) numEstablished() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.established)
}

func (e *endpoint) takeGot() [][]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.got
	e.got = nil
	return g
}

// wire carries packets from one endpoint's Send to the other's Receive:
// synchronously, or held in a queue that the test releases in any order.
type wire struct {
	mu       sync.Mutex
	to       *endpoint
	hold     bool
	queue    [][]byte
	captured [][]byte              // every packet sent, in order
	filter   func(pkt []byte) bool // nil or true: pass; false: drop
	dup      bool                  // deliver every packet twice
}

func (w *wire) send(pkt []byte) error {
	cp := bytes.Clone(pkt)
	w.mu.Lock()
	w.captured = append(w.captured, cp)
	if w.filter != nil && !w.filter(cp) {
		w.mu.Unlock()
		return nil
	}
	if w.hold {
		w.queue = append(w.queue, cp)
		w.mu.Unlock()
		return nil
	}
	to, dup := w.to, w.dup
	w.mu.Unlock()
	if to != nil {
		to.deliver(cp)
		if dup {
			to.deliver(cp)
		}
	}
	return nil
}

// pop removes and returns the oldest held packet (nil if none).
func (w *wire) pop() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return nil
	}
	p := w.queue[0]
	w.queue = w.queue[1:]
	return p
}

func (w *wire) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue)
}

func (w *wire) sent() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.captured)
}

func (w *wire) setHold(h bool) {
	w.mu.Lock()
	w.hold = h
	w.mu.Unlock()
}

func (w *wire) capturedOf(typ byte) [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	var r [][]byte
	for _, p := range w.captured {
		if p[0] == typ {
			r = append(r, p)
		}
	}
	return r
}

// flush delivers held packets until both wires are empty, oldest first,
// alternating between the wires.
func flush(ws ...*wire) {
	for {
		moved := false
		for _, w := range ws {
			if p := w.pop(); p != nil {
				w.to.deliver(p)
				moved = true
			}
		}
		if !moved {
			return
		}
	}
}

type pairOpts struct {
	suiteA, suiteB Cipher
	acceptA        []Cipher // ChannelConfig.Accept of A
	acceptB        []Cipher
	declineA       []string // ChannelConfig.Decline of A
	declineB       []string
	pskA, pskB     [32]byte
	remoteOfB      *identity.PublicKey // B's idea of A's key (default: A's real key)
	clock          *fakeClock          // nil: real time
	tweak          func(*ChannelConfig)
}

type testPair struct {
	a, b   *endpoint
	ab, ba *wire // a->b, b->a
	clock  *fakeClock
	opts   pairOpts
}

func mustKey(t testing.TB) identity.PrivateKey {
	t.Helper()
	k, err := identity.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newTestPair(t testing.TB, o pairOpts) *testPair {
	t.Helper()
	if o.suiteA == nil {
		o.suiteA = NoiseChaChaPoly()
	}
	if o.suiteB == nil {
		o.suiteB = o.suiteA
	}
	if o.pskA == ([32]byte{}) {
		o.pskA = testPSK("correct horse battery")
	}
	if o.pskB == ([32]byte{}) {
		o.pskB = o.pskA
	}
	p := &testPair{ab: &wire{}, ba: &wire{}, clock: o.clock, opts: o}
	p.a = &endpoint{name: "A", key: mustKey(t), out: p.ab}
	p.b = &endpoint{name: "B", key: mustKey(t), out: p.ba}
	p.ab.to, p.ba.to = p.b, p.a
	remoteOfB := p.a.key.Public()
	if o.remoteOfB != nil {
		remoteOfB = *o.remoteOfB
	}
	p.a.ch = p.newChannel(t, p.a, o.suiteA, o.pskA, p.b.key.Public(), []byte("hello from A"))
	p.b.ch = p.newChannel(t, p.b, o.suiteB, o.pskB, remoteOfB, []byte("hello from B"))
	t.Cleanup(func() { p.a.ch.Close(); p.b.ch.Close() })
	return p
}

func (p *testPair) newChannel(t testing.TB, e *endpoint, suite Cipher, psk [32]byte, remote identity.PublicKey, hello []byte) *Channel {
	t.Helper()
	cfg := ChannelConfig{
		Cipher: suite,
		Local:  e.key,
		Remote: remote,
		PSK:    psk,
		Hello:  hello,
		Send:   e.out.send,
		OnEstablished: func(est Established) {
			e.mu.Lock()
			e.established = append(e.established, est)
			e.mu.Unlock()
		},
		OnFailure: func(err error) {
			e.mu.Lock()
			e.failures = append(e.failures, err)
			e.mu.Unlock()
		},
	}
	if e == p.a {
		cfg.Accept, cfg.Decline = p.opts.acceptA, p.opts.declineA
	} else {
		cfg.Accept, cfg.Decline = p.opts.acceptB, p.opts.declineB
	}
	if p.opts.tweak != nil {
		p.opts.tweak(&cfg)
	}
	ch, err := NewChannel(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p.clock != nil {
		ch.now = p.clock.Now
	}
	return ch
}

// restart replaces e's channel with a new one (same keys and config, new hello),
// as after a process restart.
func (p *testPair) restart(t testing.TB, e *endpoint, hello string) {
	t.Helper()
	old := e.ch
	old.Close()
	suite, psk, remote := p.opts.suiteA, p.opts.pskA, p.b.key.Public()
	if e == p.b {
		suite, psk, remote = p.opts.suiteB, p.opts.pskB, p.a.key.Public()
	}
	e.mu.Lock()
	e.established, e.failures = nil, nil
	e.mu.Unlock()
	e.ch = p.newChannel(t, e, suite, psk, remote, []byte(hello))
	t.Cleanup(e.ch.Close)
}

// establish runs a handshake initiated by A over synchronous wires. On a real
// clock with a short RetryInterval, a retry may supersede the initiation before
// its response is read (a loaded machine): then the retry's handshake completes.
func (p *testPair) establish(t testing.TB) {
	t.Helper()
	p.a.ch.Initiate()
	flush(p.ab, p.ba)
	for deadline := time.Now().Add(2 * time.Second); p.clock == nil && time.Now().Before(deadline) &&
		!(p.a.ch.Status().Established && p.b.ch.Status().Established); {
		time.Sleep(time.Millisecond)
		flush(p.ab, p.ba)
	}
	if !p.a.ch.Status().Established || !p.b.ch.Status().Established {
		_, fa, _, ea := p.a.snapshotCallbacks()
		_, fb, _, eb := p.b.snapshotCallbacks()
		t.Fatalf("not established: A failures %v errs %v; B failures %v errs %v", fa, ea, fb, eb)
	}
}

// msg makes a recognisable plaintext of n bytes.
func msg(from string, i, n int) []byte {
	b := fmt.Appendf(nil, "%s#%06d:", from, i)
	for len(b) < n {
		b = append(b, byte('a'+len(b)%26))
	}
	return b[:max(n, len(b))]
}

// snapshot renders the channel's protocol state (not its statistics), to check
// that a refused packet changed nothing.
func (c *Channel) snapshot() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b bytes.Buffer
	t := c.table.Load()
	if t.current != nil {
		fmt.Fprintf(&b, "current=%08x ", t.current.localIndex)
	}
	for _, s := range t.live {
		if s == nil {
			b.WriteString("[-] ")
			continue
		}
		s.mu.Lock()
		fmt.Fprintf(&b, "[%08x->%08x init=%v conf=%v send=%d recvseq=%d last=%d ring=%x] ",
			s.localIndex, s.remoteIndex, s.initiator, s.confirmed.Load(), s.sendCounter.Load(),
			s.lastRecv.Load(), s.window.last, s.window.ring)
		s.mu.Unlock()
	}
	if c.pending != nil {
		fmt.Fprintf(&b, "pending=%08x ", c.pending.localIndex)
	}
	fmt.Fprintf(&b, "lastInit=%x lastSent=%x resp=%v hold=%v fail=%d deferred=%v err=%v hs=%v",
		c.lastInitTS, c.lastSentTS, c.lastResponse, c.holdUntil, c.failures, c.deferred, c.lastErr, c.lastHandshake)
	return b.String()
}

func suites() []Cipher { return []Cipher{NoiseChaChaPoly(), NoiseAESGCM()} }

// testPSK derives a PSK from a string (the real derivation, identity.DeriveGroup,
// is deliberately slow and lives above this package).
func testPSK(s string) [32]byte { return sha256.Sum256([]byte(s)) }
