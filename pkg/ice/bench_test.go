package ice

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPath pushes 1350-byte datagrams through a Path on loopback the way a
// window-limited sender (KCP, window 1024) does: at most `window` datagrams in
// flight; when the receiver stops making progress for a few milliseconds the rest
// of the window counts as lost (KCP's retransmission timeout would fire) and the
// window reopens (send=acked: the window refills as datagrams arrive). send=burst
// sends whole windows of 1024 datagrams (1.4 MB) at once, waiting for the
// receiver to go idle in between: what a KCP flush after a stall does, and what
// overflows small socket buffers; its loss% is the share of a burst lost. The receiver's handler either only counts (fast) or also spins
// for ~5 µs (about what opening a sealed packet and feeding KCP costs on this
// machine). Reported: received packets/s, MB/s, the loss and Send's drops; run it
// with the default 4 MiB socket buffers and with the system default (buf=os) to
// see what the buffers buy.
func BenchmarkPath(b *testing.B) {
	for _, buf := range []struct {
		name string
		size int
	}{{"4MiB", 0}, {"os", -1}} {
		for _, h := range []struct {
			name string
			work time.Duration
		}{{"fast", 0}, {"slow", 5 * time.Microsecond}} {
			for _, burst := range []bool{false, true} {
				mode := map[bool]string{false: "acked", true: "burst"}[burst]
				b.Run(fmt.Sprintf("send=%s/buf=%s/handler=%s", mode, buf.name, h.name), func(b *testing.B) {
					benchPath(b, buf.size, h.work, burst)
				})
			}
		}
	}
}

func benchPath(b *testing.B, bufSize int, work time.Duration, burst bool) {
	const (
		size   = 1350
		window = 1024
		rto    = 5 * time.Millisecond
	)
	cfg := loopbackConfig()
	cfg.SocketBuffer = bufSize
	var recv atomic.Uint64
	wa, wb := newWire(b), newWire(b)
	a, err := NewSession(cfg, true, wb.send, func([]byte, bool) {})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	s, err := NewSession(cfg, false, wa.send, func([]byte, bool) {
		if work > 0 {
			for t := time.Now(); time.Since(t) < work; {
			}
		}
		recv.Add(1)
	})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	wa.to.Store(a)
	wb.to.Store(s)
	var pa *Path
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Connect(context.Background()) }()
	if pa, err = a.Connect(context.Background()); err != nil {
		b.Fatal(err)
	}
	wg.Wait()

	msg := make([]byte, size)
	msg[0] = 0x80
	var lost, drops uint64
	b.SetBytes(size)
	b.ResetTimer()
	start := time.Now()
	send := func() {
		if err := pa.Send(msg); err != nil {
			if !errors.Is(err, ErrDropped) {
				b.Fatal(err)
			}
			drops++
		}
	}
	for sent := 0; burst && sent < b.N; {
		// One window in one burst, then wait until the receiver went idle.
		for i := 0; i < window && sent < b.N; i++ {
			send()
			sent++
		}
		for last, since := recv.Load(), time.Now(); time.Since(since) < 2*time.Millisecond; {
			if r := recv.Load(); r != last {
				last, since = r, time.Now()
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	for sent := uint64(0); !burst && sent < uint64(b.N); {
		if int64(sent)-int64(recv.Load())-int64(lost) >= window {
			// Wait for progress; none within rto: the window's rest is lost.
			last, since := recv.Load(), time.Now()
			for int64(sent)-int64(recv.Load())-int64(lost) >= window {
				if r := recv.Load(); r != last {
					last, since = r, time.Now()
				} else if time.Since(since) > rto {
					lost = sent - r
					break
				}
				time.Sleep(50 * time.Microsecond)
			}
			continue
		}
		send()
		sent++
	}
	// Let the tail arrive.
	for last, since := recv.Load(), time.Now(); time.Since(since) < rto; {
		if r := recv.Load(); r != last {
			last, since = r, time.Now()
		}
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	got := recv.Load()
	b.ReportMetric(float64(got)/elapsed.Seconds(), "pkts/s")
	b.ReportMetric(float64(got)*size/elapsed.Seconds()/1e6, "MB/s")
	b.ReportMetric(100*(1-float64(got)/float64(b.N)), "loss%")
	b.ReportMetric(float64(drops), "senddrops")
}
