package testbed

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/meshnode/meshnode/testbed/labtest"
)

// Site A gets 20 ms one-way delay (RTT >= 40 ms); site B 10 ms +- 5 ms jitter,
// which must never reorder packets. TCP through the delay bridge arrives intact.
func TestWANDelay(t *testing.T) {
	labtest.RequireRoot(t)
	t.Parallel()
	l := up(t, map[string]string{"SITE_A_DELAY_MS": "20", "SITE_B_DELAY_MS": "10", "SITE_B_JITTER_MS": "5"})
	echo := udpEcho(t, l, "rdv", "198.18.0.2:0")

	a := ping(t, l, "a1", echo, 20, 10*time.Millisecond)
	if len(a) != 20 {
		t.Fatalf("a1: %d of 20 echoes came back on a lossless link", len(a))
	}
	lo, med, hi := rttStats(a)
	t.Logf("a1 -> rdv with 20 ms one-way delay: RTT min %v median %v max %v", lo, med, hi)
	if lo < 40*time.Millisecond {
		t.Errorf("a1: RTT %v is below the configured 2 x 20 ms", lo)
	}
	if med > 500*time.Millisecond {
		t.Errorf("a1: median RTT %v: the delay bridge is far off", med)
	}

	// 2 ms apart with +-5 ms jitter each way: a reordering bridge would
	// deliver many echoes out of order. Warm up first: while a router resolves
	// its next hop (ARP through the delay bridge), Linux itself may let a new
	// packet overtake the queued ones.
	ping(t, l, "b1", echo, 5, 20*time.Millisecond)
	b := ping(t, l, "b1", echo, 100, 2*time.Millisecond)
	if len(b) != 100 {
		t.Fatalf("b1: %d of 100 echoes came back on a lossless link", len(b))
	}
	lo, med, hi = rttStats(b)
	t.Logf("b1 -> rdv with 10 +- 5 ms one-way: RTT min %v median %v max %v", lo, med, hi)
	if lo < 10*time.Millisecond {
		t.Errorf("b1: RTT %v is below the configured 2 x (10 - 5) ms", lo)
	}
	for i, r := range b {
		if r.seq != i {
			t.Fatalf("b1: echo %d arrived as number %d: jitter reordered packets", r.seq, i)
		}
	}

	const size = 8 << 20
	tu := transfer(t, l, "a1", "rdv", "198.18.0.2", size, true)
	td := transfer(t, l, "a1", "rdv", "198.18.0.2", size, false)
	t.Logf("TCP through 40 ms RTT, 8 MiB intact: a1 -> rdv in %v (%s), rdv -> a1 in %v (%s)",
		tu.Round(time.Millisecond), mbps(size, tu), td.Round(time.Millisecond), mbps(size, td))
}

// 3% loss per direction on site A's uplink drops some but not all packets,
// both ways; TCP still moves data intact through 40 ms RTT and 3% loss.
func TestWANLoss(t *testing.T) {
	labtest.RequireRoot(t)
	t.Parallel()
	l := up(t, map[string]string{"SITE_A_LOSS_PCT": "3", "SITE_A_DELAY_MS": "20"})
	const n = 2000
	sink, err := l.ListenPacket("rdv", "udp4", "198.18.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	src, err := l.ListenPacket("a1", "udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	// Warm the path up: while routers resolve next hops (ARP through the
	// delay bridge) they queue only ~200 KB, which a burst would overflow.
	ping(t, l, "a1", udpEcho(t, l, "rdv", "198.18.0.2:0"), 5, 20*time.Millisecond)

	// Upstream: a1 -> rdv.
	var mapped net.Addr
	go func() {
		msg := make([]byte, 100)
		for i := range n {
			binary.BigEndian.PutUint32(msg, uint32(i))
			src.WriteTo(msg, sink.LocalAddr())
			if i%10 == 9 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	up := count(sink, n, time.Second, func(a net.Addr) { mapped = a })
	// Downstream: rdv -> a1's mapping (a1 has sent to rdv, so its NAT lets it in).
	go func() {
		msg := make([]byte, 100)
		for i := range n {
			binary.BigEndian.PutUint32(msg, uint32(i))
			sink.WriteTo(msg, mapped)
			if i%10 == 9 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	down := count(src, n, time.Second, nil)
	t.Logf("3%% loss: upstream %d/%d arrived (%.1f%% lost), downstream %d/%d (%.1f%% lost)",
		up, n, 100*float64(n-up)/n, down, n, 100*float64(n-down)/n)
	for dir, got := range map[string]int{"upstream": up, "downstream": down} {
		// Mean loss is 60 of 2000 (sd ~8): 0 or more than 300 cannot happen by chance.
		if got >= n || got < n-300 {
			t.Errorf("%s: %d of %d arrived with 3%% loss configured", dir, got, n)
		}
	}

	const size = 1 << 20
	tu := transfer(t, l, "a1", "rdv", "198.18.0.2", size, true)
	td := transfer(t, l, "a1", "rdv", "198.18.0.2", size, false)
	t.Logf("TCP through 40 ms RTT + 3%% loss, 1 MiB intact: a1 -> rdv in %v (%s), rdv -> a1 in %v (%s)",
		tu.Round(time.Millisecond), mbps(size, tu), td.Round(time.Millisecond), mbps(size, td))
}

// count reads numbered datagrams until n distinct ones arrived or nothing
// came for idle; it reports the first sender to from.
func count(c net.PacketConn, n int, idle time.Duration, from func(net.Addr)) int {
	seen := map[uint32]bool{}
	buf := make([]byte, 2048)
	for len(seen) < n {
		c.SetReadDeadline(time.Now().Add(idle))
		k, src, err := c.ReadFrom(buf)
		if err != nil {
			break
		}
		if k < 4 {
			continue
		}
		if from != nil && len(seen) == 0 {
			from(src)
		}
		seen[binary.BigEndian.Uint32(buf)] = true
	}
	return len(seen)
}

// A 16 Mbit/s rate limit makes 2 MiB take at least ~1 s; the unlimited site
// is not held back.
func TestWANRate(t *testing.T) {
	labtest.RequireRoot(t)
	t.Parallel()
	l := up(t, map[string]string{"SITE_A_RATE": "16mbit"})
	const size = 2 << 20
	limited := transfer(t, l, "a1", "rdv", "198.18.0.2", size, true)
	free := transfer(t, l, "b1", "rdv", "198.18.0.2", size, true)
	t.Logf("2 MiB: a1 at 16 Mbit/s in %v (%s); b1 unlimited in %v (%s)",
		limited.Round(time.Millisecond), mbps(size, limited), free.Round(time.Millisecond), mbps(size, free))
	if min := 800 * time.Millisecond; limited < min { // 2 MiB at 16 Mbit/s = 1.05 s
		t.Errorf("a1: 2 MiB through a 16 Mbit/s limit took %v, less than %v", limited, min)
	}
}
