package ice

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// checkGoroutines fails the test if goroutines started during it are still running
// once every other cleanup has run. Call it first in a test.
func checkGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines still running after the test (%d before):\n%s", n, before, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// testLogger logs to stderr at debug when ICE_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("ICE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func loopbackConfig() Config {
	return Config{
		Loopback:        true,
		Logger:          testLogger(),
		InterfaceFilter: func(name string) bool { return name == "lo" },
		ConnectTimeout:  10 * time.Second,
	}
}

// wire carries signaling messages to a Session, possibly dropping, duplicating and
// reordering them, on a goroutine of its own (as the relay would).
type wire struct {
	t       testing.TB
	to      atomic.Pointer[Session]
	q       chan []byte
	done    chan struct{}
	wg      sync.WaitGroup
	drop    float64 // probability
	dup     float64
	reorder bool // hold every other message back behind the next
	delay   time.Duration

	mu       sync.Mutex
	rng      *rand.Rand
	sent     int
	lastErr  error
	onErr    func(msg []byte, err error) // called on the wire's goroutine
	received [][]byte
}

func newWire(t testing.TB) *wire {
	w := &wire{t: t, q: make(chan []byte, 1024), done: make(chan struct{}), rng: rand.New(rand.NewPCG(1, 2))}
	w.wg.Add(1)
	go w.run()
	t.Cleanup(w.stop)
	return w
}

func (w *wire) stop() {
	select {
	case <-w.done:
	default:
		close(w.done)
	}
	w.wg.Wait()
}

// send is a Session's signal callback.
func (w *wire) send(msg []byte) {
	w.mu.Lock()
	w.sent++
	drop := w.rng.Float64() < w.drop
	dup := w.rng.Float64() < w.dup
	w.mu.Unlock()
	if drop {
		return
	}
	for range 1 + btoi(dup) {
		select {
		case w.q <- bytes.Clone(msg):
		default: // a full relay queue drops
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (w *wire) run() {
	defer w.wg.Done()
	var held []byte
	for {
		select {
		case <-w.done:
			return
		case msg := <-w.q:
			if w.delay > 0 {
				time.Sleep(w.delay)
			}
			if w.reorder && held == nil {
				held = msg
				// Deliver it after the next one, or after a moment if none comes.
				select {
				case msg = <-w.q:
				case <-time.After(50 * time.Millisecond):
					msg, held = held, nil
				case <-w.done:
					return
				}
			}
			w.deliver(msg)
			if held != nil {
				w.deliver(held)
				held = nil
			}
		}
	}
}

func (w *wire) deliver(msg []byte) {
	w.mu.Lock()
	w.received = append(w.received, msg)
	onErr := w.onErr
	w.mu.Unlock()
	s := w.to.Load()
	if s == nil {
		return
	}
	if err := s.HandleSignal(msg); err != nil {
		w.mu.Lock()
		w.lastErr = err
		w.mu.Unlock()
		if onErr != nil {
			onErr(msg, err)
		}
	}
}

// sink collects datagrams delivered to a Session's onPacket.
type sink struct {
	ch       chan []byte
	lastMore atomic.Bool  // the more flag of the last datagram delivered
	batched  atomic.Int64 // datagrams delivered with more set
}

func newSink() *sink { return &sink{ch: make(chan []byte, 4096)} }

func (k *sink) onPacket(p []byte, more bool) {
	k.lastMore.Store(more)
	if more {
		k.batched.Add(1)
	}
	select {
	case k.ch <- bytes.Clone(p):
	default:
	}
}

func (k *sink) next(t testing.TB, within time.Duration) []byte {
	t.Helper()
	select {
	case p := <-k.ch:
		return p
	case <-time.After(within):
		t.Fatal("no datagram")
	}
	return nil
}

// pair is two Sessions wired to each other.
type pair struct {
	a, b         *Session
	wa, wb       *wire // wa delivers to a, wb to b
	sinkA, sinkB *sink
}

func newPair(t testing.TB, cfgA, cfgB Config, edit func(wa, wb *wire)) *pair {
	t.Helper()
	p := &pair{wa: newWire(t), wb: newWire(t), sinkA: newSink(), sinkB: newSink()}
	if edit != nil {
		edit(p.wa, p.wb)
	}
	var err error
	if p.a, err = NewSession(cfgA, true, p.wb.send, p.sinkA.onPacket); err != nil {
		t.Fatal(err)
	}
	if p.b, err = NewSession(cfgB, false, p.wa.send, p.sinkB.onPacket); err != nil {
		t.Fatal(err)
	}
	p.wa.to.Store(p.a)
	p.wb.to.Store(p.b)
	t.Cleanup(func() { p.a.Close(); p.b.Close() })
	return p
}

func netipMust(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
