package seal

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestTamperedData: flipping any single byte (in several ways) of a data packet
// gets it refused without a state change; the original still opens afterwards,
// exactly once.
func TestTamperedData(t *testing.T) {
	for _, suite := range suites() {
		t.Run(suite.Name(), func(t *testing.T) {
			p := newTestPair(t, pairOpts{suiteA: suite, clock: newFakeClock()})
			p.establish(t)
			p.ab.setHold(true)
			if err := p.a.ch.Seal([]byte("tamper with me")); err != nil {
				t.Fatal(err)
			}
			orig := p.ab.pop()
			before := p.b.ch.snapshot()
			for i := range orig {
				for _, mask := range []byte{0x01, 0x80, 0xff} {
					bad := bytes.Clone(orig)
					bad[i] ^= mask
					out, err := p.b.ch.Receive(nil, bad)
					if err == nil || out != nil {
						t.Fatalf("byte %d ^ %02x: Receive = %q, %v", i, mask, out, err)
					}
					if after := p.b.ch.snapshot(); after != before {
						t.Fatalf("byte %d ^ %02x changed state:\n%s\n%s", i, mask, before, after)
					}
				}
			}
			for _, cut := range []int{0, 1, dataHeaderLen, len(orig) - 1} {
				if _, err := p.b.ch.Receive(nil, orig[:cut]); err == nil {
					t.Fatalf("truncated to %d bytes: accepted", cut)
				}
			}
			if out, err := p.b.ch.Receive(nil, orig); err != nil || string(out) != "tamper with me" {
				t.Fatalf("original after tampering: %q, %v", out, err)
			}
			if _, err := p.b.ch.Receive(nil, orig); !errors.Is(err, ErrReplay) {
				t.Fatalf("original twice: %v", err)
			}
			if _, f, got, _ := p.b.snapshotCallbacks(); len(f) != 0 || len(got) != 0 {
				t.Fatalf("failures %v, plaintexts %q", f, got)
			}
		})
	}
}

// TestRetryAndGiveUp: an unanswered handshake is repeated every RetryInterval
// (each time a new one), fails with ErrHandshakeTimeout after GiveUpAfter, and
// the next attempt waits for Seal or Initiate and the backoff.
func TestRetryAndGiveUp(t *testing.T) {
	clk := newFakeClock()
	p := newTestPair(t, pairOpts{clock: clk})
	p.ab.filter = func([]byte) bool { return false } // B is unreachable
	inits := func() int { return len(p.ab.capturedOf(typeInitiation)) }
	p.a.ch.Initiate()
	if inits() != 1 {
		t.Fatal("no initiation")
	}
	p.a.ch.onTimer() // early: nothing happens
	if inits() != 1 {
		t.Fatal("retried before RetryInterval")
	}
	for i := 2; clk.Now().Sub(newFakeClock().Now()) < DefaultGiveUpAfter-2*DefaultRetryInterval; i++ {
		clk.Advance(DefaultRetryInterval * 11 / 10)
		p.a.ch.onTimer()
		if inits() != i {
			t.Fatalf("after %d retries: %d initiations", i-1, inits())
		}
	}
	all := p.ab.capturedOf(typeInitiation)
	if bytes.Equal(all[0], all[1]) {
		t.Fatal("a retry resent the same initiation")
	}
	if _, f, _, _ := p.a.snapshotCallbacks(); len(f) != 0 {
		t.Fatalf("failed early: %v", f)
	}
	clk.Advance(2 * DefaultRetryInterval)
	p.a.ch.onTimer()
	n := inits()
	_, f, _, _ := p.a.snapshotCallbacks()
	if len(f) != 1 || !errors.Is(f[0], ErrHandshakeTimeout) {
		t.Fatalf("failures %v, want ErrHandshakeTimeout", f)
	}
	if st := p.a.ch.Status(); st.Handshaking || !strings.Contains(st.LastError, "timed out") {
		t.Fatalf("status %+v", st)
	}
	clk.Advance(time.Hour)
	p.a.ch.onTimer()
	if inits() != n {
		t.Fatal("retried on its own after giving up")
	}
	if err := p.a.ch.Seal([]byte("x")); !errors.Is(err, ErrNoSession) {
		t.Fatal(err)
	}
	if inits() != n+1 {
		t.Fatal("Seal after the backoff did not start a handshake")
	}
}

// TestRateLimit: initiations beyond the per-peer rate are refused before any
// Diffie-Hellman work; the bucket refills with time.
func TestRateLimit(t *testing.T) {
	clk := newFakeClock()
	p := newTestPair(t, pairOpts{clock: clk, tweak: func(c *ChannelConfig) { c.HandshakesPerSecond = 5 }})
	p.ab.setHold(true)
	p.ba.setHold(true)
	// Fresh initiations from ever newer instances of A.
	var inits [][]byte
	for i := range 15 {
		clk.Advance(time.Millisecond)
		p.restart(t, p.a, "instance "+string(rune('a'+i)))
		p.a.ch.Initiate()
		inits = append(inits, p.ab.pop())
	}
	limited := 0
	for i, pkt := range inits {
		_, err := p.b.ch.Receive(nil, pkt)
		switch {
		case errors.Is(err, ErrRateLimited):
			limited++
		case err != nil:
			t.Fatalf("initiation %d: %v", i, err)
		case limited > 0:
			t.Fatalf("initiation %d answered after the limit hit", i)
		}
	}
	if limited != 5 {
		t.Fatalf("%d initiations refused, want 5 (burst of 10)", limited)
	}
	clk.Advance(time.Second)
	for _, pkt := range inits[10:15] {
		if _, err := p.b.ch.Receive(nil, pkt); err != nil {
			t.Fatalf("after a second: %v", err)
		}
	}
	if _, err := p.b.ch.Receive(nil, inits[14]); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("bucket not empty again: %v", err)
	}
}

// TestNoSecretsInLogs: Debug logging of a full life cycle (handshake failures
// included) never shows keys, the PSK or plaintext.
func TestNoSecretsInLogs(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clk := newFakeClock()
	p := newTestPair(t, pairOpts{clock: clk, tweak: func(c *ChannelConfig) { c.Logger = log }})
	p.establish(t)
	const secretText = "TOP-SECRET-PLAINTEXT"
	p.a.ch.Seal([]byte(secretText))
	clk.Advance(DefaultRekeyAfter + time.Second)
	p.a.ch.Seal([]byte(secretText))
	p.b.ch.Receive(nil, []byte{typeData, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
	p.restart(t, p.b, "x")
	p.a.ch.Seal([]byte(secretText))
	if buf.Len() == 0 {
		t.Fatal("nothing logged: the test tests nothing")
	}
	out := buf.String()
	psk := p.opts.pskA
	for _, secret := range [][]byte{p.a.key[:], p.b.key[:], psk[:]} {
		for _, enc := range []string{hex.EncodeToString(secret), base64.StdEncoding.EncodeToString(secret), string(secret)} {
			if strings.Contains(out, enc) {
				t.Fatal("a key or the PSK appears in the log")
			}
		}
	}
	if strings.Contains(out, secretText) {
		t.Fatal("plaintext appears in the log")
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Len() int { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Len() }

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestClose: after Close every call returns ErrClosed or does nothing, and no
// goroutine is left (the retry timer was armed when it closed).
func TestClose(t *testing.T) {
	before := runtime.NumGoroutine()
	// The retry interval must leave room for one handshake under -race on a
	// loaded machine, or establish races the retries.
	p := newTestPair(t, pairOpts{tweak: func(c *ChannelConfig) { c.RetryInterval = 100 * time.Millisecond }})
	p.establish(t)
	p.ab.filter = func([]byte) bool { return false }
	p.b.ch.Close() // B gone; A's rekey will hang
	p.a.ch.mu.Lock()
	p.a.ch.startLocked(p.a.ch.now()) // a handshake in flight, timer armed
	p.a.ch.mu.Unlock()
	time.Sleep(350 * time.Millisecond) // let the timer fire a few times
	p.a.ch.Close()
	p.a.ch.Close() // idempotent
	if err := p.a.ch.Seal([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Seal after Close: %v", err)
	}
	if _, err := p.a.ch.Receive(nil, []byte{typeData}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Receive after Close: %v", err)
	}
	sent := p.ab.sent()
	p.a.ch.Initiate()
	p.a.ch.onTimer()
	if p.ab.sent() != sent {
		t.Fatal("sent after Close")
	}
	if st := p.a.ch.Status(); st.Established || st.Sessions != 0 || st.Handshaking {
		t.Fatalf("status after Close: %+v", st)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left (were %d):\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDataPathAllocs: Seal and Receive of data allocate nothing per packet.
func TestDataPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	for _, suite := range suites() {
		t.Run(suite.Name(), func(t *testing.T) {
			p := newTestPair(t, pairOpts{suiteA: suite})
			p.establish(t)
			var last []byte
			p.ab.filter = func(pkt []byte) bool { return false }
			p.a.ch.cfg.Send = func(pkt []byte) error { last = append(last[:0], pkt...); return nil }
			pt := make([]byte, 1350)
			if a := testing.AllocsPerRun(1000, func() { p.a.ch.Seal(pt) }); a != 0 {
				t.Fatalf("Seal: %v allocations per packet", a)
			}
			const n = 1000
			pkts := make([][]byte, 0, n+1)
			for range n + 1 {
				p.a.ch.Seal(pt)
				pkts = append(pkts, bytes.Clone(last))
			}
			dst := make([]byte, 0, 2048)
			i := 0
			a := testing.AllocsPerRun(n, func() {
				out, err := p.b.ch.Receive(dst[:0], pkts[i])
				if err != nil || len(out) != len(pt) {
					t.Fatalf("Receive: %d bytes, %v", len(out), err)
				}
				i++
			})
			if a != 0 {
				t.Fatalf("Receive: %v allocations per packet", a)
			}
		})
	}
}

// brokenCipher cannot build handshakes (a crashed plugin, say).
type brokenCipher struct{ calls *atomic.Int32 }

func (brokenCipher) Name() string { return "broken" }
func (b brokenCipher) NewHandshake(HandshakeConfig) (Handshake, error) {
	b.calls.Add(1)
	return nil, errors.New("plugin went away")
}

// renamedCipher is another implementation of the seam, as a plugin would be.
type renamedCipher struct{ Cipher }

func (renamedCipher) Name() string { return "plugin-suite" }

func TestCipherSeam(t *testing.T) {
	t.Run("another implementation", func(t *testing.T) {
		p := newTestPair(t, pairOpts{suiteA: renamedCipher{NoiseChaChaPoly()}, clock: newFakeClock()})
		p.establish(t)
		exchange(t, p, "x", 3, randPicker(9))
		if est, _, _, _ := p.a.snapshotCallbacks(); est[0].Suite != "plugin-suite" {
			t.Fatalf("suite %q", est[0].Suite)
		}
	})
	t.Run("broken implementation", func(t *testing.T) {
		clk := newFakeClock()
		var calls atomic.Int32
		p := newTestPair(t, pairOpts{suiteA: brokenCipher{&calls}, suiteB: NoiseChaChaPoly(), clock: clk})
		if err := p.a.ch.Seal([]byte("x")); !errors.Is(err, ErrNoSession) {
			t.Fatal(err)
		}
		st := p.a.ch.Status()
		if st.Handshaking || !strings.Contains(st.LastError, "plugin went away") || p.ab.sent() != 0 {
			t.Fatalf("status %+v, %d packets sent", st, p.ab.sent())
		}
		p.a.ch.Initiate() // held by the backoff, not stuck
		if calls.Load() != 1 {
			t.Fatalf("%d attempts during the backoff", calls.Load())
		}
		clk.Advance(time.Hour)
		p.a.ch.onTimer()
		if calls.Load() != 2 {
			t.Fatal("did not try again after the backoff")
		}
	})
}
