package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/relay"
)

// Relay clients in this process as real protocol peers of a rendezvous: for
// its memory per node and its forwarding capacity.

// DeriveGroups derives n groups named bench-group-0.. at most NumCPU at a
// time (identity.DeriveGroup is deliberately slow and memory-hard: derive
// each once and reuse it).
func DeriveGroups(n int) ([]identity.Group, error) {
	out := make([]identity.Group, n)
	errs := make([]error, n)
	sem := make(chan struct{}, runtime.NumCPU())
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i], errs[i] = identity.DeriveGroup(fmt.Sprintf("bench-group-%d", i), "bench-secret")
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// runRelayClients starts one relay client per config (Addr set to addr, a new
// key each) and waits (at most 2 minutes) until all are connected. They run
// until ctx ends; stop cancels them and waits until they have returned.
func runRelayClients(ctx context.Context, addr string, cfgs []relay.ClientConfig) (clients []*relay.Client, stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	stop = func() { cancel(); wg.Wait() }
	for _, cfg := range cfgs {
		cfg.Addr = addr
		if cfg.Key, err = identity.GeneratePrivateKey(); err != nil {
			stop()
			return nil, nil, err
		}
		c, err := relay.NewClient(cfg)
		if err != nil {
			stop()
			return nil, nil, err
		}
		clients = append(clients, c)
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
		if up == len(clients) {
			return clients, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return nil, nil, fmt.Errorf("only %d of %d clients connected to the rendezvous", up, len(clients))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ForwardDatagram is the payload size of the forwarding rows: a link's
// largest sealed datagram (pkg/overlay's linkPacketSize).
const ForwardDatagram = 1400

// Forward is a rendezvous' forwarding of relayed datagrams between pairs of
// clients, each pair in its own group.
type Forward struct {
	Pairs       int
	MBps        Series        // payload MB/s delivered to the receivers, per window
	Bytes       int64         // payload bytes delivered during the windows
	Wall        time.Duration // the windows' total length
	RdvCPU      time.Duration // the rendezvous' CPU time during the windows
	ClientsCPU  time.Duration // this process's (all clients') CPU time during the windows
	Sent, Got   int64         // datagrams accepted by Send and delivered, over the whole run
	SendRefused int64         // Sends refused with a full queue (retried)
}

// RendezvousForward connects a sender and a receiver per group (len(groups)
// pairs) to the rendezvous at addr (process rdvPid) and has every sender send
// ForwardDatagram-byte datagrams to its receiver as fast as Send takes them.
// After a warm-up it measures reps windows of the given length: payload bytes
// delivered, and the CPU time of the rendezvous and of this process.
func RendezvousForward(ctx context.Context, addr string, rdvPid int, groups []identity.Group, window time.Duration, reps int) (Forward, error) {
	res := Forward{Pairs: len(groups)}
	var got, gotBytes, sent, refused atomic.Int64
	cfgs := make([]relay.ClientConfig, 0, 2*len(groups))
	for _, g := range groups {
		cfgs = append(cfgs, relay.ClientConfig{Group: g, PingInterval: time.Minute},
			relay.ClientConfig{Group: g, PingInterval: time.Minute, OnPacket: func(_ identity.PublicKey, p []byte, _ bool) {
				got.Add(1)
				gotBytes.Add(int64(len(p)))
			}})
	}
	clients, stopClients, err := runRelayClients(ctx, addr, cfgs)
	if err != nil {
		return res, err
	}
	defer stopClients()
	// In a pair's group the sender's only peer is its receiver.
	dsts := make([]identity.PublicKey, len(groups))
	for i := range groups {
		deadline := time.Now().Add(10 * time.Second)
		for len(clients[2*i].Peers()) != 1 {
			if time.Now().After(deadline) {
				return res, fmt.Errorf("pair %d: the sender sees %d peers, want its receiver", i, len(clients[2*i].Peers()))
			}
			time.Sleep(10 * time.Millisecond)
		}
		dsts[i] = clients[2*i].Peers()[0]
	}

	stop := make(chan struct{})
	var senders sync.WaitGroup
	sendErrs := make([]error, len(groups))
	payload := make([]byte, ForwardDatagram)
	for i := range groups {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				switch err := clients[2*i].Send(dsts[i], payload); {
				case err == nil:
					sent.Add(1)
				case errors.Is(err, relay.ErrQueueFull):
					refused.Add(1)
				default:
					sendErrs[i] = fmt.Errorf("pair %d: %w", i, err)
					return
				}
			}
		}()
	}
	time.Sleep(min(window, 500*time.Millisecond)) // warm-up: queues and windows fill
	for range reps {
		before := gotBytes.Load()
		start := time.Now()
		cpu, err := CPUDuring([]int{rdvPid, os.Getpid()}, func() error { time.Sleep(window); return nil })
		took := time.Since(start)
		if err != nil {
			close(stop)
			senders.Wait()
			return res, err
		}
		n := gotBytes.Load() - before
		res.MBps = append(res.MBps, float64(n)/1e6/took.Seconds())
		res.Bytes += n
		res.Wall += took
		res.RdvCPU += cpu[0]
		res.ClientsCPU += cpu[1]
	}
	close(stop)
	senders.Wait()
	time.Sleep(200 * time.Millisecond) // what is in flight arrives
	res.Sent, res.Got, res.SendRefused = sent.Load(), got.Load(), refused.Load()
	return res, errors.Join(sendErrs...)
}
