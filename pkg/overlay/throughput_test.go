package overlay

import (
	"io"
	"net"
	"testing"
	"time"
)

// Benchmarks of the data path between two in-process nodes over a direct
// link on loopback, for profiles (-cpuprofile) and A/B comparisons. `just
// bench` measures the product as users run it (separate processes).

// sinkListener accepts connections and discards what they send, then closes.
func sinkListener(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// directMapping starts two nodes, b mapping a's service target, and waits for
// b's link to a to be direct; it returns the mapping's local address.
func directMapping(b *testing.B, target string) string {
	b.Helper()
	rdv := startRelay(b)
	ka, kb := newTestKey(b), newTestKey(b)
	runNode(b, rdv, "a", ka, Service{ID: 7, Proto: "tcp", Target: target})
	nb, _ := runNode(b, rdv, "b", kb)
	listen := mapTo(b, nb, "7")
	deadline := time.Now().Add(30 * time.Second)
	for l := linkOf(nb, ka.Public()); l == nil || !l.route.isDirect(); l = linkOf(nb, ka.Public()) {
		if time.Now().After(deadline) {
			b.Fatal("no direct path")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return listen
}

// BenchmarkDirectMapping moves bytes one way through a mapping over a direct
// link.
func BenchmarkDirectMapping(b *testing.B) {
	c, err := net.Dial("tcp", directMapping(b, sinkListener(b)))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDirectPingPong: 64-byte request/response round trips through a
// mapping over a direct link.
func BenchmarkDirectPingPong(b *testing.B) {
	c, err := net.Dial("tcp", directMapping(b, echoListener(b)))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg, got := make([]byte, 64), make([]byte, 64)
	for range 100 { // warm up
		c.Write(msg)
		io.ReadFull(c, got)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			b.Fatal(err)
		}
	}
}
