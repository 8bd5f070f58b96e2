package relay

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestFairShareUnderFlood: a member flooding a slow receiver cannot crowd out
// another member's traffic to it. The receiver drains its connection at a fixed
// pace (~2.7 MB/s); the flooder sends as fast as its relay rate (20 MB/s) lets
// it, so the receiver's queue stays full; the other member's datagrams, sent at
// a tenth of what the receiver drains, still arrive.
func TestFairShareUnderFlood(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, ServerConfig{SendQueueBytes: 256 << 10, RelayRate: 20 << 20}, "")
	flooder := startClient(t, srv.addr, "home", "flooder", nil)
	flooder.waitState(t, true)
	a := startClient(t, srv.addr, "home", "alice", nil)
	a.waitState(t, true)

	victim := dialRaw(t, srv.addr)
	if err := victim.handshake(t, ClientConfig{Group: testGroup(t, "home")}); err != nil {
		t.Fatal(err)
	}
	victim.SetDeadline(time.Time{})
	flooder.waitJoined(t, victim.pub)
	a.waitJoined(t, victim.pub)

	// The victim reads 20 frames every 10 ms.
	var fromA, fromFlooder atomic.Int64
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for range tick.C {
			for range 20 {
				victim.SetReadDeadline(time.Now().Add(3 * time.Second))
				typ, body, err := readFrame(victim.br, MaxFrameLen)
				if err != nil {
					return
				}
				if typ == frameRecv {
					switch src, _, _ := parseDatagram(typ, body); src {
					case a.pub:
						fromA.Add(1)
					case flooder.pub:
						fromFlooder.Add(1)
					}
				}
			}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	floodDone := make(chan struct{})
	go func() {
		defer close(floodDone)
		junk := payload(1350, 3)
		for ctx.Err() == nil {
			flooder.Send(victim.pub, junk)
		}
	}()
	// Let the flood fill the victim's queue, then alice sends 200 datagrams at
	// 1 per 5 ms (270 KB/s).
	waitFor(t, "the flood to be dropped", func() bool { return srv.Stats().DroppedFairShare > 100 })
	sent := 0
	for range 200 {
		if a.Send(victim.pub, payload(1350, 4)) == nil {
			sent++
		}
		time.Sleep(5 * time.Millisecond)
	}
	deadline := time.Now().Add(15 * time.Second)
	for fromA.Load() < int64(sent)*9/10 {
		if time.Now().After(deadline) {
			st := srv.Stats()
			t.Fatalf("alice: %d sent, %d delivered; flooder: %d delivered; dropped %d unfair, %d full, %d memory",
				sent, fromA.Load(), fromFlooder.Load(), st.DroppedFairShare, st.DroppedQueueFull, st.DroppedMemory)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-floodDone
	victim.Close()
	<-readDone
	st := srv.Stats()
	t.Logf("alice: %d sent, %d delivered; flooder: %d delivered; dropped %d unfair, %d full",
		sent, fromA.Load(), fromFlooder.Load(), st.DroppedFairShare, st.DroppedQueueFull)
	if sent < 190 {
		t.Fatalf("alice could send only %d of 200", sent)
	}
}

// TestRelayRateLimit: a node over --relay-rate is read more slowly, so what it
// gets relayed stays within rate*time + burst; others are not held back.
func TestRelayRateLimit(t *testing.T) {
	checkGoroutines(t)
	const rateBps, burst = 2 << 20, 256 << 10
	srv := startServer(t, ServerConfig{RelayRate: rateBps, RelayBurst: burst}, "")
	fast := startClient(t, srv.addr, "home", "fast", nil)
	dst := startClient(t, srv.addr, "home", "dst", nil)
	other := startClient(t, srv.addr, "home", "other", nil)
	for _, c := range []*testClient{fast, other} {
		c.waitJoined(t, dst.pub)
	}
	var fromOther atomic.Int64
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case p := <-dst.packets:
				if p.src == other.pub {
					fromOther.Add(1)
				}
			case <-done:
				return
			}
		}
	}()
	start := time.Now()
	p := payload(1350, 5)
	for time.Since(start) < time.Second {
		fast.Send(dst.pub, p)
	}
	elapsed := time.Since(start)
	// What was relayed cannot exceed the bucket: burst + rate*elapsed (a lower
	// bound on time, so a slow machine only makes this easier to meet).
	limit := int64(burst) + int64(float64(rateBps)*elapsed.Seconds()) + headerLen + MaxFrameLen
	relayed := int64(srv.Stats().BytesRelayed)
	t.Logf("relayed %d bytes in %v (limit %d)", relayed, elapsed, limit)
	if relayed > limit {
		t.Fatalf("relayed %d bytes in %v, more than the rate allows (%d)", relayed, elapsed, limit)
	}
	if relayed < rateBps/4 {
		t.Fatalf("relayed only %d bytes in %v", relayed, elapsed)
	}
	// Another node is not paced by fast's limiter.
	other.sendRetry(t, dst.pub, []byte("not held back"))
	waitFor(t, "other's datagram", func() bool { return fromOther.Load() == 1 })
}
