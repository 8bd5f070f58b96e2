package seal

import (
	"bytes"
	"testing"
)

const benchPacket = 1350

// benchPair returns an established pair whose A side seals into a sink.
func benchPair(b *testing.B, suite Cipher, send func([]byte) error) *testPair {
	p := newTestPair(b, pairOpts{suiteA: suite})
	p.establish(b)
	p.a.ch.cfg.Send = send
	return p
}

func BenchmarkSeal(b *testing.B) {
	for _, suite := range suites() {
		b.Run(suite.Name(), func(b *testing.B) {
			p := benchPair(b, suite, func([]byte) error { return nil })
			pt := make([]byte, benchPacket)
			b.SetBytes(benchPacket)
			b.ReportAllocs()
			for b.Loop() {
				if err := p.a.ch.Seal(pt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSealParallel: Seal from several goroutines at once (the hot path).
func BenchmarkSealParallel(b *testing.B) {
	for _, suite := range suites() {
		b.Run(suite.Name(), func(b *testing.B) {
			p := benchPair(b, suite, func([]byte) error { return nil })
			b.SetBytes(benchPacket)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				pt := make([]byte, benchPacket)
				for pb.Next() {
					if err := p.a.ch.Seal(pt); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkOpen measures Receive of data packets; they are sealed in batches
// with the timer stopped (each counter opens only once).
func BenchmarkOpen(b *testing.B) {
	for _, suite := range suites() {
		b.Run(suite.Name(), func(b *testing.B) {
			const batch = 4096
			buf := make([]byte, 0, batch*(benchPacket+MaxOverhead))
			var pkts [][]byte
			p := benchPair(b, suite, func(pkt []byte) error {
				start := len(buf)
				buf = append(buf, pkt...)
				pkts = append(pkts, buf[start:len(buf):len(buf)])
				return nil
			})
			pt := bytes.Repeat([]byte{0x5a}, benchPacket)
			dst := make([]byte, 0, 2048)
			b.SetBytes(benchPacket)
			b.ReportAllocs()
			b.StopTimer()
			for i := 0; i < b.N; {
				buf, pkts = buf[:0], pkts[:0]
				for range min(batch, b.N-i) {
					p.a.ch.Seal(pt)
				}
				b.StartTimer()
				for _, pkt := range pkts {
					if _, err := p.b.ch.Receive(dst[:0], pkt); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				i += len(pkts)
			}
		})
	}
}

// BenchmarkHandshake: one full handshake (both sides' work).
func BenchmarkHandshake(b *testing.B) {
	p := newTestPair(b, pairOpts{})
	b.ReportAllocs()
	for b.Loop() {
		p.a.ch.mu.Lock()
		pkt := p.a.ch.startLocked(p.a.ch.now())
		p.a.ch.mu.Unlock()
		p.a.ch.send(pkt, "initiation")
	}
}
