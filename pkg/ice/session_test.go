package ice

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun"
)

// connectBoth runs Connect on both sessions at once and returns the paths.
func connectBoth(t *testing.T, a, b *Session) (*Path, *Path) {
	t.Helper()
	var pa, pb *Path
	var ea, eb error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pa, ea = a.Connect(context.Background()) }()
	go func() { defer wg.Done(); pb, eb = b.Connect(context.Background()) }()
	wg.Wait()
	if ea != nil || eb != nil {
		t.Fatalf("Connect: a: %v; b: %v", ea, eb)
	}
	return pa, pb
}

// exchange sends n datagrams each way and checks they arrive intact (loopback
// may not lose them at this pace).
func exchange(t *testing.T, pa, pb *Path, ka, kb *sink, sizes ...int) {
	t.Helper()
	for _, dir := range []struct {
		name string
		from *Path
		to   *sink
		tag  byte
	}{{"a->b", pa, kb, 0x81}, {"b->a", pb, ka, 0x82}} {
		for i, n := range sizes {
			msg := bytes.Repeat([]byte{byte(i)}, n)
			msg[0] = dir.tag
			if err := dir.from.Send(msg); err != nil {
				t.Fatalf("%s: Send %d bytes: %v", dir.name, n, err)
			}
			got := dir.to.next(t, 5*time.Second)
			if !bytes.Equal(got, msg) {
				t.Fatalf("%s: datagram %d: got %d bytes %x..., want %d bytes", dir.name, i, len(got), got[:min(8, len(got))], n)
			}
		}
	}
}

func TestConnectLoopback(t *testing.T) {
	checkGoroutines(t)
	p := newPair(t, loopbackConfig(), loopbackConfig(), nil)
	start := time.Now()
	pa, pb := connectBoth(t, p.a, p.b)
	t.Logf("connected in %v", time.Since(start))
	exchange(t, pa, pb, p.sinkA, p.sinkB, 1, 100, 1350, maxDatagram)

	for _, side := range []struct {
		name string
		p    *Path
	}{{"a", pa}, {"b", pb}} {
		la, lt := side.p.Local()
		ra, rt := side.p.Remote()
		if !strings.HasPrefix(la, "127.0.0.1:") || !strings.HasPrefix(ra, "127.0.0.1:") || lt != "host" || (rt != "host" && rt != "prflx") {
			t.Errorf("%s: path %s %s -> %s %s", side.name, la, lt, ra, rt)
		}
		// The sender counts a batch after its system call returns, which may
		// be after the peer already read it: wait for the count to settle.
		st := side.p.Stats()
		for end := time.Now().Add(5 * time.Second); st.PacketsOut != 4 && time.Now().Before(end); st = side.p.Stats() {
			time.Sleep(time.Millisecond)
		}
		if st.PacketsOut != 4 || st.PacketsIn != 4 || st.SendDrops != 0 {
			t.Errorf("%s: stats %+v", side.name, st)
		}
	}
	if la, _ := pa.Local(); func() string { r, _ := pb.Remote(); return r }() != la {
		t.Errorf("a's local %s is not b's remote", la)
	}
	// Roles: pion reports them in the selected pair stats only indirectly; the
	// offers carry them and a wrong claim is refused (TestRoleConflict).
	if !p.a.controlling || p.b.controlling {
		t.Fatal("roles not as configured")
	}

	// Consent keeps the path up with no data flowing.
	time.Sleep(200 * time.Millisecond)
	select {
	case <-pa.Done():
		t.Fatalf("path died: %v", pa.Err())
	default:
	}
	if err := pa.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pa.Send([]byte{0x80}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	// b hears the bye and its path dies at once.
	select {
	case <-pb.Done():
		if !errors.Is(pb.Err(), ErrPeerClosed) {
			t.Fatalf("b's path died of %v, want ErrPeerClosed", pb.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("b's path survived a's Close")
	}
}

// TestBurstsArriveIntact: bursts of datagrams of mixed sizes (GSO buffers on
// the way out, GRO runs and recvmmsg batches on the way in) arrive whole and
// in order, and the last datagram of a burst is never marked as followed by
// more (the overlay would hold its acknowledgement).
func TestBurstsArriveIntact(t *testing.T) {
	checkGoroutines(t)
	p := newPair(t, loopbackConfig(), loopbackConfig(), nil)
	pa, _ := connectBoth(t, p.a, p.b)
	sizes := []int{1350, 1350, 1350, 700, 1350, 1350, 1, 1350, maxDatagram, 1350, 1350}
	seq := 0
	for burst := range 40 {
		var sent [][]byte
		for i := range 64 {
			msg := make([]byte, sizes[(burst+i)%len(sizes)])
			for j := range msg {
				msg[j] = byte(seq + j)
			}
			msg[0] = 0x80 | byte(seq&0x3f) // not STUN
			seq++
			if err := pa.Send(msg); err != nil {
				t.Fatalf("burst %d: Send: %v", burst, err)
			}
			sent = append(sent, msg)
		}
		for i, want := range sent {
			if got := p.sinkB.next(t, 5*time.Second); !bytes.Equal(got, want) {
				t.Fatalf("burst %d, datagram %d: got %d bytes %x..., want %d bytes %x...", burst, i, len(got), got[:min(4, len(got))], len(want), want[:min(4, len(want))])
			}
		}
		if p.sinkB.lastMore.Load() {
			t.Fatalf("burst %d: its last datagram was delivered as followed by more", burst)
		}
	}
	t.Logf("%d datagrams, %d delivered with more following in their batch", seq, p.sinkB.batched.Load())
}

func TestLossySignaling(t *testing.T) {
	checkGoroutines(t)
	p := newPair(t, loopbackConfig(), loopbackConfig(), func(wa, wb *wire) {
		for _, w := range []*wire{wa, wb} {
			w.drop, w.dup, w.reorder = 0.4, 0.3, true
		}
	})
	pa, pb := connectBoth(t, p.a, p.b)
	exchange(t, pa, pb, p.sinkA, p.sinkB, 1350)
}

// TestLateSession: the peer's offers arrive long before its Connect runs (and
// before ours), and ours arrive before it exists.
func TestLateSession(t *testing.T) {
	checkGoroutines(t)
	cfg := loopbackConfig()
	wa, wb := newWire(t), newWire(t)
	ka, kb := newSink(), newSink()
	a, err := NewSession(cfg, true, wb.send, ka.onPacket)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	wa.to.Store(a)
	type result struct {
		p   *Path
		err error
	}
	ra := make(chan result, 1)
	go func() { p, err := a.Connect(context.Background()); ra <- result{p, err} }()
	time.Sleep(700 * time.Millisecond) // a's first offers go nowhere (wb has no Session yet)
	b, err := NewSession(cfg, false, wa.send, kb.onPacket)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	wb.to.Store(b)
	time.Sleep(500 * time.Millisecond) // a's resends reach b before b's Connect
	pb, err := b.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ra
	if r.err != nil {
		t.Fatal(r.err)
	}
	exchange(t, r.p, pb, ka, kb, 500)
}

func TestRoleConflict(t *testing.T) {
	checkGoroutines(t)
	w := newWire(t)
	a, err := NewSession(loopbackConfig(), true, w.send, newSink().onPacket)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	other := appendSignal(nil, signal{kind: kindOffer, from: 5, controlling: true, ufrag: "abcd", pwd: strings.Repeat("x", 22)})
	if err := a.HandleSignal(other); !errors.Is(err, ErrRoleConflict) {
		t.Fatalf("controlling offer to a controlling session: %v", err)
	}
	if a.remoteID != 0 {
		t.Fatal("refused offer changed the session")
	}
}

func TestBadSignalChangesNothing(t *testing.T) {
	checkGoroutines(t)
	a, err := NewSession(loopbackConfig(), true, func([]byte) {}, func([]byte, bool) {})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	good := appendSignal(nil, signal{kind: kindOffer, from: 5, ufrag: "abcd", pwd: strings.Repeat("x", 22)})
	for _, bad := range [][]byte{nil, {1}, good[:len(good)-1], append(bytes.Clone(good), 0), bytes.Repeat([]byte{0xff}, 5000)} {
		if err := a.HandleSignal(bad); !errors.Is(err, ErrBadSignal) {
			t.Fatalf("HandleSignal(%x...) = %v, want ErrBadSignal", bad[:min(len(bad), 8)], err)
		}
	}
	if a.remoteID != 0 || a.failure() != nil {
		t.Fatal("bad signals changed the session")
	}
	if err := a.HandleSignal(good); err != nil || a.remoteID != 5 {
		t.Fatalf("good offer: %v, remote %x", err, a.remoteID)
	}
	// The same attempt may not change its credentials.
	changed := appendSignal(nil, signal{kind: kindOffer, from: 5, ufrag: "wxyz", pwd: strings.Repeat("x", 22)})
	if err := a.HandleSignal(changed); !errors.Is(err, ErrBadSignal) || a.remoteUfrag != "abcd" {
		t.Fatalf("changed credentials: %v, ufrag %q", err, a.remoteUfrag)
	}
}

// TestRestart: after a connected pair, b starts a new attempt; old messages are
// ignored by the new sessions, the new offer restarts a, and the new pair connects.
func TestRestart(t *testing.T) {
	checkGoroutines(t)
	cfg := loopbackConfig()
	p := newPair(t, cfg, cfg, nil)
	pa, _ := connectBoth(t, p.a, p.b)

	// Old offers of a's attempt: one addressed to b1, one from before a knew b.
	p.a.mu.Lock()
	oldOffer := signal{kind: kindOffer, from: p.a.id, controlling: true, ufrag: p.a.ufrag, pwd: p.a.pwd,
		cands: slices.Clone(p.a.locals[:1])}
	p.a.mu.Unlock()
	oldTo0 := appendSignal(nil, oldOffer)
	oldOffer.to = p.b.id
	oldToB1 := appendSignal(nil, oldOffer)

	// b restarts without a bye reaching a (the wire to a is cut meanwhile).
	p.wa.to.Store(nil)
	p.b.Close()
	time.Sleep(50 * time.Millisecond)
	kb2 := newSink()
	b2, err := NewSession(cfg, false, p.wa.send, kb2.onPacket)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if b2.id <= p.b.id {
		t.Fatalf("new attempt id %x not above the old %x", b2.id, p.b.id)
	}
	// Old messages of a's attempt addressed to b1 are ignored by b2.
	if err := b2.HandleSignal(oldToB1); err != nil || b2.remoteID != 0 {
		t.Fatalf("b2 took a message for b1: %v, remote %x", err, b2.remoteID)
	}

	// a's side: the overlay replaces a's session when b2's offer says "restarted".
	var mu sync.Mutex
	var a2 *Session
	ka2 := newSink()
	restarted := make(chan struct{})
	p.wa.mu.Lock()
	p.wa.onErr = func(msg []byte, err error) {
		if !errors.Is(err, ErrPeerRestarted) {
			t.Errorf("a: HandleSignal: %v", err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if a2 != nil {
			return
		}
		s, err := NewSession(cfg, true, p.wb.send, ka2.onPacket)
		if err != nil {
			t.Error(err)
			return
		}
		a2 = s
		p.wa.to.Store(s)
		if err := s.HandleSignal(msg); err != nil {
			t.Errorf("a2: first message: %v", err)
		}
		close(restarted)
	}
	p.wa.mu.Unlock()
	p.wa.to.Store(p.a)
	p.wb.to.Store(b2)

	rb := make(chan error, 1)
	var pb2 *Path
	go func() { var err error; pb2, err = b2.Connect(context.Background()); rb <- err }()
	select {
	case <-restarted:
	case <-time.After(5 * time.Second):
		t.Fatal("a never saw b's new attempt")
	}
	// a's old path died of the restart.
	select {
	case <-pa.Done():
		if !errors.Is(pa.Err(), ErrPeerRestarted) {
			t.Fatalf("old path died of %v", pa.Err())
		}
	case <-time.After(time.Second):
		t.Fatal("old path still alive")
	}
	mu.Lock()
	s := a2
	mu.Unlock()
	defer s.Close()
	pa2, err := s.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := <-rb; err != nil {
		t.Fatal(err)
	}
	exchange(t, pa2, pb2, ka2, kb2, 1350)

	// An old offer of a1 (to = 0, so not addressed elsewhere) reaching b2 now is
	// from an older attempt than the adopted one: ignored.
	if err := b2.HandleSignal(oldTo0); err != nil || b2.failure() != nil {
		t.Fatalf("old offer: %v / %v", err, b2.failure())
	}
	// A newer one restarts b2.
	newer := appendSignal(nil, signal{kind: kindOffer, from: s.id + 1, controlling: true, ufrag: "abcd", pwd: strings.Repeat("x", 22)})
	if err := b2.HandleSignal(newer); !errors.Is(err, ErrPeerRestarted) || !errors.Is(pb2.Err(), ErrPeerRestarted) {
		t.Fatalf("newer offer: %v, path %v", err, pb2.Err())
	}
}

func TestNoAnswer(t *testing.T) {
	checkGoroutines(t)
	cfg := loopbackConfig()
	cfg.ConnectTimeout = time.Second
	var mu sync.Mutex
	sent := 0
	s, err := NewSession(cfg, true, func([]byte) { mu.Lock(); sent++; mu.Unlock() }, func([]byte, bool) {})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	_, err = s.Connect(context.Background())
	took := time.Since(start)
	if !errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), "offers") {
		t.Fatalf("Connect: %v, want ErrNoAnswer", err)
	}
	if took < 900*time.Millisecond || took > 2*time.Second {
		t.Fatalf("gave up after %v, want ~1s", took)
	}
	mu.Lock()
	defer mu.Unlock()
	// 0, 250ms, 750ms: at least three, plus one per gathered candidate.
	if sent < 3 || sent > 12 {
		t.Fatalf("sent %d offers in 1s", sent)
	}
	t.Logf("%v", err)
}

// TestNoPath: the peer answers but its candidates are unreachable.
func TestNoPath(t *testing.T) {
	checkGoroutines(t)
	cfg := loopbackConfig()
	cfg.ConnectTimeout = 1500 * time.Millisecond
	w := newWire(t)
	s, err := NewSession(cfg, true, func([]byte) {}, func([]byte, bool) {})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w.to.Store(s)
	// A peer whose only candidate is a port nobody listens on.
	w.send(appendSignal(nil, signal{kind: kindOffer, from: 5, end: true, ufrag: "abcd", pwd: strings.Repeat("x", 22),
		cands: []wireCand{{kind: candHost, priority: 2130706431, addr: netipMust("127.0.0.1:9")}}}))
	_, err = s.Connect(context.Background())
	if !errors.Is(err, ErrNoPath) || !strings.Contains(err.Error(), "1 remote, peer done gathering") {
		t.Fatalf("Connect: %v, want ErrNoPath", err)
	}
	t.Logf("%v", err)
}

func TestCloseDuringConnect(t *testing.T) {
	checkGoroutines(t)
	s, err := NewSession(loopbackConfig(), false, func([]byte) {}, func([]byte, bool) {})
	if err != nil {
		t.Fatal(err)
	}
	// With a known peer, so the checks are running too.
	if err := s.HandleSignal(appendSignal(nil, signal{kind: kindOffer, from: 5, controlling: true, ufrag: "abcd", pwd: strings.Repeat("x", 22),
		cands: []wireCand{{kind: candHost, priority: 1, addr: netipMust("127.0.0.1:9")}}})); err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() { _, err := s.Connect(context.Background()); res <- err }()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	s.Close()
	select {
	case err := <-res:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Connect after Close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Connect did not return after Close")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close+Connect return took %v", d)
	}
	if _, err := s.Connect(context.Background()); err == nil {
		t.Fatal("second Connect succeeded")
	}
}

func TestCallerCancel(t *testing.T) {
	checkGoroutines(t)
	s, err := NewSession(loopbackConfig(), false, func([]byte) {}, func([]byte, bool) {})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = s.Connect(ctx)
	if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("Connect: %v", err)
	}
}

// TestPathDeath: the peer vanishes without a bye; consent checks fail and the
// path dies within the disconnected timeout.
func TestPathDeath(t *testing.T) {
	checkGoroutines(t)
	cfg := loopbackConfig()
	cfg.KeepaliveInterval = 200 * time.Millisecond
	cfg.DisconnectedTimeout = time.Second
	p := newPair(t, cfg, cfg, nil)
	pa, _ := connectBoth(t, p.a, p.b)
	p.wa.to.Store(nil) // the bye is lost
	gone := time.Now()
	p.b.Close()
	select {
	case <-pa.Done():
		took := time.Since(gone)
		if !errors.Is(pa.Err(), ErrDisconnected) {
			t.Fatalf("path died of %v", pa.Err())
		}
		if took < 700*time.Millisecond || took > 2500*time.Millisecond {
			t.Fatalf("path died after %v, want ~1s", took)
		}
		t.Logf("path died after %v: %v", took.Round(time.Millisecond), pa.Err())
	case <-time.After(5 * time.Second):
		t.Fatal("path survived its peer")
	}
	if err := pa.Send([]byte{0x80}); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("Send on a dead path: %v", err)
	}
}

func TestSendRefusals(t *testing.T) {
	checkGoroutines(t)
	p := newPair(t, loopbackConfig(), loopbackConfig(), nil)
	pa, _ := connectBoth(t, p.a, p.b)
	stunMsg := stun.MustBuild(stun.BindingRequest, stun.TransactionID).Raw
	for name, b := range map[string][]byte{"too large": make([]byte, maxDatagram+1), "STUN": stunMsg} {
		if err := pa.Send(b); !errors.Is(err, ErrNotSendable) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The same bytes with the top bit set are data, whatever the cookie says.
	sealed := bytes.Clone(stunMsg)
	sealed[0] |= 0x80
	if err := pa.Send(sealed); err != nil {
		t.Fatal(err)
	}
	if got := p.sinkB.next(t, 5*time.Second); !bytes.Equal(got, sealed) {
		t.Fatal("cookie-carrying datagram mangled")
	}
	// Send does not allocate (sync.Pool drops items on purpose under -race).
	msg := make([]byte, 1350)
	msg[0] = 0x80
	if n := testing.AllocsPerRun(200, func() { pa.Send(msg) }); n > 0 && !raceEnabled {
		t.Errorf("Send allocates %v times", n)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{KeepaliveInterval: 20 * time.Second}, "keepalive interval 20s is outside"},
		{Config{KeepaliveInterval: 3 * time.Second, DisconnectedTimeout: 2 * time.Second}, "must exceed the keepalive"},
		{Config{STUN: []string{"nohost"}}, `STUN server "nohost"`},
		{Config{STUN: []string{"h:0"}}, "bad port"},
		{Config{ResendInterval: time.Millisecond}, "resend interval"},
	} {
		_, err := NewSession(tc.cfg, true, func([]byte) {}, func([]byte, bool) {})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := NewSession(Config{}, true, nil, func([]byte, bool) {}); err == nil {
		t.Error("nil signal accepted")
	}
}

var _ = fmt.Sprint
