package seal

import (
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lossyWire carries packets through a goroutine that drops, duplicates and
// reorders them (a swap with the next packet). Data packets are tagged with the
// message id being sealed, so the test knows exactly which messages the wire
// itself lost.
type lossyWire struct {
	to       *endpoint
	in       chan tagged
	inflight atomic.Int64
	done     chan struct{}

	mu               sync.Mutex
	rng              *rand.Rand
	drop, dup, swap  float64
	passed           map[uint64]bool // message ids with at least one copy not dropped
	sealing          atomic.Uint64   // id being sealed by the (single) sending goroutine, +1
	dataPackets      int
	droppedPackets   int
	duplicatePackets int
}

type tagged struct {
	pkt []byte
	id  uint64 // message id + 1; 0 for other packets
}

func newLossyWire(seed uint64, drop, dup, swap float64) *lossyWire {
	return &lossyWire{
		in: make(chan tagged, 1<<14), done: make(chan struct{}),
		rng: rand.New(rand.NewPCG(seed, 1)), drop: drop, dup: dup, swap: swap,
		passed: map[uint64]bool{},
	}
}

func (w *lossyWire) send(pkt []byte) error {
	id := uint64(0)
	if pkt[0] == typeData && len(pkt) > keepaliveLen {
		id = w.sealing.Load() // only the sending goroutine seals non-empty data
	}
	w.mu.Lock()
	copies := 1
	if w.rng.Float64() < w.dup {
		copies = 2
		w.duplicatePackets++
	}
	var out []tagged
	for range copies {
		if w.rng.Float64() < w.drop {
			w.droppedPackets++
			continue
		}
		out = append(out, tagged{append([]byte(nil), pkt...), id})
		if id != 0 {
			w.passed[id-1] = true
		}
	}
	if id != 0 {
		w.dataPackets++
	}
	w.mu.Unlock()
	for _, t := range out {
		w.inflight.Add(1)
		select {
		case w.in <- t:
		default: // full, like a UDP socket buffer: only possible if the test misbehaves
			panic("lossy wire overflow")
		}
	}
	return nil
}

func (w *lossyWire) run() {
	defer close(w.done)
	var held *tagged
	deliver := func(t tagged) {
		w.to.deliver(t.pkt)
		w.inflight.Add(-1)
	}
	for {
		var t tagged
		var ok bool
		if held != nil {
			select {
			case t, ok = <-w.in:
			default:
				deliver(*held)
				held = nil
				continue
			}
		} else {
			t, ok = <-w.in
		}
		if !ok {
			if held != nil {
				deliver(*held)
			}
			return
		}
		if held != nil {
			deliver(t) // the newer packet overtakes the held one
			deliver(*held)
			held = nil
			continue
		}
		w.mu.Lock()
		hold := w.rng.Float64() < w.swap
		w.mu.Unlock()
		if hold {
			held = &t
			continue
		}
		deliver(t)
	}
}

// TestLossyRekeys streams messages both ways through lossy, duplicating and
// reordering wires while sessions rekey every few milliseconds. Every message
// that the wire let through arrives exactly once; Seal never lacks a session once
// the link is up: rekeys lose nothing.
func TestLossyRekeys(t *testing.T) {
	for _, suite := range suites() {
		t.Run(suite.Name(), func(t *testing.T) {
			var logs syncBuffer
			side := 0
			p := newTestPair(t, pairOpts{suiteA: suite, tweak: func(c *ChannelConfig) {
				side++
				c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})).With("side", string(rune('A'+side-1)))
				c.RekeyAfter = 15 * time.Millisecond
				c.RejectAfter = time.Minute
				c.RetryInterval = 10 * time.Millisecond
				c.HandshakesPerSecond = 1000
			}})
			wAB := newLossyWire(1, 0.05, 0.05, 0.1)
			wBA := newLossyWire(2, 0.05, 0.05, 0.1)
			wAB.to, wBA.to = p.b, p.a
			p.ab.filter = func(pkt []byte) bool { wAB.send(pkt); return false }
			p.ba.filter = func(pkt []byte) bool { wBA.send(pkt); return false }
			go wAB.run()
			go wBA.run()

			p.a.ch.Initiate()
			p.b.ch.Initiate()
			deadline := time.Now().Add(20 * time.Second)
			for !p.a.ch.Status().Established || !p.b.ch.Status().Established {
				if time.Now().After(deadline) {
					t.Fatal("no link-up")
				}
				time.Sleep(time.Millisecond)
			}
			const n = 3000
			var wg sync.WaitGroup
			sealErrs := make(chan error, 2)
			for _, side := range []struct {
				e *endpoint
				w *lossyWire
			}{{p.a, wAB}, {p.b, wBA}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := make([]byte, 1350)
					for i := range uint64(n) {
						binary.BigEndian.PutUint64(buf, i)
						side.w.sealing.Store(i + 1)
						if err := side.e.ch.Seal(buf); err != nil {
							sealErrs <- err
							return
						}
						if i%25 == 24 {
							time.Sleep(time.Millisecond) // let rekeys happen mid-stream
						}
					}
				}()
			}
			wg.Wait()
			close(sealErrs)
			if err := <-sealErrs; err != nil {
				t.Fatalf("Seal failed while the link was up: %v", err)
			}
			for wAB.inflight.Load() > 0 || wBA.inflight.Load() > 0 {
				if time.Now().After(deadline) {
					t.Fatal("wires did not drain")
				}
				time.Sleep(time.Millisecond)
			}
			p.a.ch.Close()
			p.b.ch.Close()
			close(wAB.in)
			close(wBA.in)
			<-wAB.done
			<-wBA.done

			for _, side := range []struct {
				to *endpoint
				w  *lossyWire
			}{{p.b, wAB}, {p.a, wBA}} {
				seen := map[uint64]int{}
				for _, g := range side.to.takeGot() {
					seen[binary.BigEndian.Uint64(g)]++
				}
				lost := 0
				for id, k := range seen {
					if k != 1 {
						t.Fatalf("%s got message %d %d times", side.to.name, id, k)
					}
					if !side.w.passed[id] {
						t.Fatalf("%s got message %d that the wire dropped", side.to.name, id)
					}
				}
				for id := range side.w.passed {
					if seen[id] == 0 {
						lost++
					}
				}
				if lost > 0 {
					_, _, _, errs := side.to.snapshotCallbacks()
					kinds := map[string]int{}
					for _, err := range errs {
						kinds[err.Error()]++
					}
					t.Logf("trace:\n%s", logs.String())
					t.Fatalf("%s: %d messages the wire delivered were refused (Receive errors: %v)", side.to.name, lost, kinds)
				}
				if side.w.droppedPackets == 0 || side.w.duplicatePackets == 0 {
					t.Fatal("the wire neither dropped nor duplicated: the test tests nothing")
				}
			}
			if ea, eb := p.a.numEstablished(), p.b.numEstablished(); ea+eb < 6 {
				t.Fatalf("only %d+%d sessions established: too few rekeys to test anything", ea, eb)
			}
			t.Logf("sessions established A=%d B=%d", p.a.numEstablished(), p.b.numEstablished())
		})
	}
}
