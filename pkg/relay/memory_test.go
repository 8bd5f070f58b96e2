package relay

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
)

// TestIdleConnMemory checks the budget of 64 KiB of rendezvous memory per idle
// connected node (heap and goroutine stacks; the test's own client ends are tiny
// and counted too, so the real figure is a bit lower).
func TestIdleConnMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector inflates memory")
	}
	checkGoroutines(t)
	const n = 300
	srv := startServer(t, ServerConfig{MaxConnsPerIP: -1}, "")
	keys := make([]identity.PrivateKey, n)
	for i := range keys {
		keys[i] = newKey(t)
	}
	before := liveBytes()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		nc, err := net.Dial("tcp", srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		// Groups of ten, as in a deployment with many small groups.
		c, err := NewClient(ClientConfig{Addr: srv.addr, Key: keys[i], Group: testGroup(t, fmt.Sprintf("group-%d", i/10))})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.handshake(nc, bufio.NewReaderSize(nc, 256)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "all nodes joined", func() bool { return srv.Stats().Conns == n })
	time.Sleep(100 * time.Millisecond) // let writers flush presence and park
	after := liveBytes()
	per := (after - before) / n
	t.Logf("%d idle connections: %d bytes each (heap + stacks)", n, per)
	if per > 64<<10 {
		t.Fatalf("%d bytes per idle connection, budget 65536", per)
	}
}

func liveBytes() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC() // the second one also empties sync.Pools' victim caches
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}
