package seal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// deliver releases held packets until both wires are empty. Whenever both hold
// packets, pickAB decides which goes first (true: the oldest A->B packet).
func deliver(p *testPair, pickAB func() bool) {
	for {
		na, nb := p.ab.pending(), p.ba.pending()
		switch {
		case na == 0 && nb == 0:
			return
		case nb == 0 || (na > 0 && pickAB()):
			p.b.deliver(p.ab.pop())
		default:
			p.a.deliver(p.ba.pop())
		}
	}
}

func bitsPicker(bits uint64) func() bool {
	return func() bool {
		b := bits&1 == 1
		bits >>= 1
		return b
	}
}

func randPicker(seed uint64) func() bool {
	r := rand.New(rand.NewPCG(seed, 0))
	return func() bool { return r.IntN(2) == 0 }
}

// exchange seals n messages each way while packets are held, delivers them in
// pick's order and checks that every one arrived exactly once.
func exchange(t *testing.T, p *testPair, round string, n int, pick func() bool) {
	t.Helper()
	p.ab.setHold(true)
	p.ba.setHold(true)
	var wantA, wantB []string
	for i := range n {
		ma, mb := msg("A"+round, i, 64), msg("B"+round, i, 64)
		if err := p.a.ch.Seal(ma); err != nil {
			t.Fatalf("round %s: A.Seal: %v", round, err)
		}
		if err := p.b.ch.Seal(mb); err != nil {
			t.Fatalf("round %s: B.Seal: %v", round, err)
		}
		wantB, wantA = append(wantB, string(ma)), append(wantA, string(mb))
	}
	deliver(p, pick)
	p.ab.setHold(false)
	p.ba.setHold(false)
	for _, side := range []struct {
		e    *endpoint
		want []string
	}{{p.a, wantA}, {p.b, wantB}} {
		var got []string
		for _, g := range side.e.takeGot() {
			got = append(got, string(g))
		}
		slices.Sort(got)
		if !slices.Equal(got, side.want) {
			_, _, _, errs := side.e.snapshotCallbacks()
			t.Fatalf("round %s: %s got %d of %d messages (Receive errors %v)", round, side.e.name, len(got), len(side.want), errs)
		}
		if n := side.e.ch.table.Load().count(func(*session) bool { return true }); n > maxSessions {
			t.Fatalf("%d sessions", n)
		}
	}
}

// dataErrors returns Receive errors on data packets (handshake packets made
// stale by a concurrent handshake are fine).
func dataErrors(e *endpoint) []error {
	_, _, _, errs := e.snapshotCallbacks()
	var r []error
	for _, err := range errs {
		if errors.Is(err, ErrMalformed) || errors.Is(err, ErrReplay) && !bytes.Contains([]byte(err.Error()), []byte("initiation")) {
			r = append(r, err)
		}
	}
	return r
}

// TestSimultaneousInitiation: both sides link up eagerly at the same moment. For
// every order in which the handshake packets can cross, both sides end up with
// working sessions both ways, without a stall: data sealed right after flows,
// also with data in flight across the following rekeys, whoever starts them.
func TestSimultaneousInitiation(t *testing.T) {
	scheduleBits := 7
	if testing.Short() {
		scheduleBits = 4
	}
	for sched := range uint64(1 << scheduleBits) {
		t.Run(fmt.Sprintf("schedule-%02x", sched), func(t *testing.T) {
			clk := newFakeClock()
			p := newTestPair(t, pairOpts{clock: clk})
			p.ab.setHold(true)
			p.ba.setHold(true)
			p.a.ch.Initiate()
			p.b.ch.Initiate()
			deliver(p, bitsPicker(sched))
			for _, e := range []*endpoint{p.a, p.b} {
				if !e.ch.Status().Established {
					t.Fatalf("%s not established after the handshakes crossed", e.name)
				}
			}
			exchange(t, p, "0", 3, bitsPicker(sched>>3))
			// Rekeys with data in flight: first only the initiator of the current
			// session is due, then (past the midpoint) both at once.
			for r, adv := range []time.Duration{DefaultRekeyAfter, DefaultRekeyAfter*3/2 + time.Second, DefaultRekeyAfter, DefaultRekeyAfter*3/2 + time.Second} {
				clk.Advance(adv)
				before := p.a.numEstablished() + p.b.numEstablished()
				exchange(t, p, fmt.Sprint(r+1), 4, randPicker(sched<<8|uint64(r)))
				if p.a.numEstablished()+p.b.numEstablished() == before {
					t.Fatalf("round %d: no rekey happened", r+1)
				}
			}
			exchange(t, p, "last", 3, randPicker(sched))
			for _, e := range []*endpoint{p.a, p.b} {
				if errs := dataErrors(e); len(errs) > 0 {
					t.Fatalf("%s refused data: %v", e.name, errs)
				}
			}
		})
	}
}

// TestReplayedData: every packet is delivered twice; each plaintext arrives once
// and the copies are refused as replays.
func TestReplayedData(t *testing.T) {
	p := newTestPair(t, pairOpts{clock: newFakeClock()})
	p.ab.dup, p.ba.dup = true, true
	p.establish(t)
	for i := range 50 {
		if err := p.a.ch.Seal(msg("A", i, 100)); err != nil {
			t.Fatal(err)
		}
	}
	got := p.b.takeGot()
	if len(got) != 50 {
		t.Fatalf("B got %d plaintexts, want 50", len(got))
	}
	for i, g := range got {
		if !bytes.Equal(g, msg("A", i, 100)) {
			t.Fatalf("message %d differs", i)
		}
	}
	_, _, _, errs := p.b.snapshotCallbacks()
	replays := 0
	for _, err := range errs {
		if errors.Is(err, ErrReplay) {
			replays++
		}
	}
	if replays < 50 {
		t.Fatalf("%d replays refused, want at least 50 (errors: %v)", replays, errs)
	}
}

// TestReplayedInitiation: an initiation captured by the relay and replayed later
// resets nothing: not after the handshake it belonged to, not after a rekey.
func TestReplayedInitiation(t *testing.T) {
	clk := newFakeClock()
	p := newTestPair(t, pairOpts{clock: clk})
	p.establish(t)
	old := p.ab.capturedOf(typeInitiation)[0]
	check := func(stage string) {
		t.Helper()
		before := p.b.ch.snapshot()
		nEst := p.b.numEstablished()
		sent := len(p.ba.capturedOf(typeResponse))
		_, err := p.b.ch.Receive(nil, old)
		if !errors.Is(err, ErrReplay) {
			t.Fatalf("%s: replayed initiation: %v, want ErrReplay", stage, err)
		}
		if after := p.b.ch.snapshot(); after != before {
			t.Fatalf("%s: state changed:\n%s\n%s", stage, before, after)
		}
		if p.b.numEstablished() != nEst || len(p.ba.capturedOf(typeResponse)) != sent {
			t.Fatalf("%s: the replay was answered", stage)
		}
		exchange(t, p, stage, 2, randPicker(1))
	}
	check("after handshake")
	clk.Advance(DefaultRekeyAfter + time.Second)
	exchange(t, p, "rekey", 2, randPicker(2))
	if len(p.ab.capturedOf(typeInitiation)) != 2 {
		t.Fatal("no rekey")
	}
	check("after rekey")
}

// TestRestart: one side restarts (a new Channel with the same keys). The other
// still sends on the old session; the restarted side sees an unknown session,
// starts a handshake, and both are linked again, telling the caller through a
// new OnEstablished with the new hello.
func TestRestart(t *testing.T) {
	for _, tc := range []struct {
		name        string
		restartB    bool // else A restarts
		firstSealer string
	}{
		{"responder restarts, the other side sends first", true, "A"},
		{"initiator restarts, the other side sends first", false, "B"},
		{"responder restarts and sends first", true, "B"},
		{"initiator restarts and sends first", false, "A"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			p := newTestPair(t, pairOpts{clock: clk})
			p.establish(t)
			exchange(t, p, "before", 3, randPicker(3))
			clk.Advance(time.Second) // the restarted process's clock moved on
			restarted, other := p.b, p.a
			if !tc.restartB {
				restarted, other = p.a, p.b
			}
			p.restart(t, restarted, "new instance")
			otherEst := other.numEstablished()
			sealer := p.a
			if tc.firstSealer == "B" {
				sealer = p.b
			}
			// Over synchronous wires the whole recovery happens inside this Seal.
			if err := sealer.ch.Seal([]byte("lost or not")); err != nil && !errors.Is(err, ErrNoSession) {
				t.Fatal(err)
			}
			p.a.takeGot()
			p.b.takeGot()
			est, _, _, _ := other.snapshotCallbacks()
			if len(est) != otherEst+1 || string(est[len(est)-1].RemoteHello) != "new instance" {
				t.Fatalf("%s was not told about the new instance: %+v", other.name, est[otherEst:])
			}
			if restarted.numEstablished() != 1 {
				t.Fatalf("restarted side established %d times", restarted.numEstablished())
			}
			exchange(t, p, "after", 3, randPicker(4))
		})
	}
}

// TestRekeyLimits: a session is not used past its message or time limits, and a
// new handshake starts before them.
func TestRekeyLimits(t *testing.T) {
	t.Run("messages", func(t *testing.T) {
		p := newTestPair(t, pairOpts{clock: newFakeClock()})
		p.establish(t)
		cur := p.a.ch.table.Load().current
		cur.sendCounter.Store(rekeyAfterMessages)
		if err := p.a.ch.Seal([]byte("triggers a rekey")); err != nil {
			t.Fatal(err)
		}
		if p.a.ch.table.Load().current == cur {
			t.Fatal("no rekey after RekeyAfterMessages")
		}
		// The old session at its very last counter, then exhausted.
		p.ab.setHold(true)
		p.a.ch.mu.Lock()
		n := *p.a.ch.table.Load()
		n.current = cur
		p.a.ch.table.Store(&n)
		p.a.ch.mu.Unlock()
		cur.sendCounter.Store(rejectAfterMessages - 1)
		if err := p.a.ch.Seal([]byte("last")); err != nil {
			t.Fatalf("last counter: %v", err)
		}
		if err := p.a.ch.Seal([]byte("too many")); !errors.Is(err, ErrNoSession) {
			t.Fatalf("past RejectAfterMessages: %v", err)
		}
		flush(p.ab, p.ba)
		if got := p.b.takeGot(); len(got) != 2 || string(got[1]) != "last" {
			t.Fatalf("B got %q", got)
		}
		// The receiver refuses a counter past the limit even if it authenticates.
		s := p.a.ch.table.Load().current
		limit := rejectAfterMessages
		pkt := s.send.Seal(appendDataHeader(nil, s.remoteIndex, limit), limit, []byte("beyond"))
		if _, err := p.b.ch.Receive(nil, pkt); !errors.Is(err, ErrMalformed) {
			t.Fatalf("counter past the limit: %v", err)
		}
	})
	t.Run("time", func(t *testing.T) {
		clk := newFakeClock()
		p := newTestPair(t, pairOpts{clock: clk})
		p.establish(t)
		p.ab.setHold(true)
		p.ba.setHold(true)
		if err := p.a.ch.Seal([]byte("old")); err != nil {
			t.Fatal(err)
		}
		oldPkt := p.ab.pop()
		clk.Advance(3 * DefaultRekeyAfter)
		if p.a.ch.Status().Established {
			t.Fatal("established past RejectAfter")
		}
		if err := p.a.ch.Seal([]byte("x")); !errors.Is(err, ErrNoSession) {
			t.Fatalf("Seal past RejectAfter: %v", err)
		}
		if _, err := p.b.ch.Receive(nil, oldPkt); !errors.Is(err, ErrUnknownSession) {
			t.Fatalf("data on an expired session: %v", err)
		}
		flush(p.ab, p.ba)
		exchange(t, p, "renewed", 2, randPicker(5))
	})
}

// TestBoundedState: many rekeys in both directions never keep more than three
// sessions.
func TestBoundedState(t *testing.T) {
	clk := newFakeClock()
	p := newTestPair(t, pairOpts{clock: clk})
	p.establish(t)
	for i := range 30 {
		clk.Advance(DefaultRekeyAfter + time.Duration(i%3)*DefaultRekeyAfter/2)
		exchange(t, p, fmt.Sprint(i), 2, randPicker(uint64(i)))
		for _, e := range []*endpoint{p.a, p.b} {
			if st := e.ch.Status(); st.Sessions > maxSessions || st.Sessions < 1 {
				t.Fatalf("%s: %d sessions", e.name, st.Sessions)
			}
		}
	}
	if p.a.numEstablished() < 20 {
		t.Fatalf("only %d handshakes", p.a.numEstablished())
	}
}

// TestUnknownSessionRecovery: the peer sends on a session this side does not
// have while this side's current session looks fresh. A stray packet like that
// changes nothing while authenticated data still arrives; once none has for
// RetryInterval, it starts a handshake and the peer's data flows again.
func TestUnknownSessionRecovery(t *testing.T) {
	clk := newFakeClock()
	p := newTestPair(t, pairOpts{clock: clk})
	p.establish(t)
	exchange(t, p, "before", 2, randPicker(7))
	// A forgets the index B sends to (as if it had dropped that session).
	cur := p.a.ch.table.Load().current
	cur.localIndex ^= 0x5a5a5a5a
	before := p.a.ch.snapshot()
	if err := p.b.ch.Seal([]byte("lost")); err != nil {
		t.Fatal(err)
	}
	if after := p.a.ch.snapshot(); after != before || len(p.ab.capturedOf(typeInitiation)) != 1 {
		t.Fatalf("a straggler changed state:\n%s\n%s", before, after)
	}
	clk.Advance(DefaultRetryInterval)
	if err := p.b.ch.Seal([]byte("lost too, but starts the recovery")); err != nil {
		t.Fatal(err)
	}
	if len(p.ab.capturedOf(typeInitiation)) != 2 {
		t.Fatal("no handshake after the peer kept using an unknown session")
	}
	if got := p.a.takeGot(); len(got) != 0 {
		t.Fatalf("A got %q", got)
	}
	exchange(t, p, "after", 3, randPicker(8))
}
