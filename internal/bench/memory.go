package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/relay"
)

// RSS returns a process's resident set size in bytes (Linux /proc).
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// PeakRSS samples pid's RSS every 20 ms until stop is closed and returns the
// largest value seen.
func PeakRSS(pid int, stop <-chan struct{}) <-chan int64 {
	out := make(chan int64, 1)
	go func() {
		var peak int64
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if r, err := RSS(pid); err == nil && r > peak {
				peak = r
			}
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// RendezvousPerNode connects n relay clients (groups of groupSize) to the
// rendezvous at addr and returns the rendezvous' RSS growth per connected node,
// after the connections settled. The clients run in this process: they are real
// protocol peers on real TCP connections.
func RendezvousPerNode(ctx context.Context, addr string, pid, n, groupSize int) (perNode float64, err error) {
	base, err := RSS(pid)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	clients := make([]*relay.Client, n)
	groups := make(map[int]identity.Group)
	for i := range n {
		key, err := identity.GeneratePrivateKey()
		if err != nil {
			return 0, err
		}
		g, ok := groups[i/groupSize]
		if !ok {
			if g, err = identity.DeriveGroup(fmt.Sprintf("bench-group-%d", i/groupSize), "bench-secret"); err != nil {
				return 0, err
			}
			groups[i/groupSize] = g
		}
		c, err := relay.NewClient(relay.ClientConfig{Addr: addr, Key: key, Group: g, PingInterval: time.Minute})
		if err != nil {
			return 0, err
		}
		clients[i] = c
		wg.Add(1)
		go func() { defer wg.Done(); c.Run(ctx) }()
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		up := 0
		for _, c := range clients {
			if c.Status().Connected {
				up++
			}
		}
		if up == n {
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("only %d of %d clients connected to the rendezvous", up, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // let buffers settle back to idle
	after, err := RSS(pid)
	if err != nil {
		return 0, err
	}
	return float64(after-base) / float64(n), nil
}
