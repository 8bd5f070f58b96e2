package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

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
	groups, err := DeriveGroups((n + groupSize - 1) / groupSize)
	if err != nil {
		return 0, err
	}
	cfgs := make([]relay.ClientConfig, n)
	for i := range cfgs {
		cfgs[i] = relay.ClientConfig{Group: groups[i/groupSize], PingInterval: time.Minute}
	}
	_, stop, err := runRelayClients(ctx, addr, cfgs)
	if err != nil {
		return 0, err
	}
	defer stop()
	time.Sleep(2 * time.Second) // let buffers settle back to idle
	after, err := RSS(pid)
	if err != nil {
		return 0, err
	}
	return float64(after-base) / float64(n), nil
}
