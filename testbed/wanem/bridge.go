package wanem

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Config describes a delay bridge between two interfaces.
type Config struct {
	A, B string // interface names in the current network namespace
	// Delay is added to every frame in each direction; Jitter adds a uniform
	// random offset in [-Jitter, +Jitter], without reordering frames.
	Delay, Jitter time.Duration
	// MaxQueue bounds the bytes held per direction (default 64 MiB); frames
	// beyond it are dropped, like a router queue overflowing.
	MaxQueue int
}

// Stats counts frames per direction.
type Stats struct {
	Forwarded  atomic.Uint64 // frames sent on
	GSO        atomic.Uint64 // of those, GSO frames (several packets in one)
	Dropped    atomic.Uint64 // queue full or runt
	SendErrors atomic.Uint64 // the kernel refused the frame (full qdisc, nft egress drop)
}

// Bridge is a running delay bridge.
type Bridge struct {
	cfg      Config
	fds      [2]int
	AtoB     Stats
	BtoA     Stats
	closeErr error
	once     sync.Once
}

// vnetHdrLen is sizeof(struct virtio_net_hdr): with PACKET_VNET_HDR every
// frame read carries it in front (GSO type and size, checksum offsets) and
// every frame written must too. Passing it through untouched keeps GSO
// frames and partial checksums valid on the other side.
const vnetHdrLen = 10

// Open binds raw packet sockets to both interfaces. Call it inside the
// namespace that holds them.
func Open(cfg Config) (*Bridge, error) {
	if cfg.A == "" || cfg.B == "" || cfg.A == cfg.B {
		return nil, fmt.Errorf("wanem: need two different interfaces, have %q and %q", cfg.A, cfg.B)
	}
	if cfg.Delay < 0 || cfg.Jitter < 0 {
		return nil, errors.New("wanem: delay and jitter must not be negative")
	}
	if cfg.MaxQueue == 0 {
		cfg.MaxQueue = 64 << 20
	}
	br := &Bridge{cfg: cfg, fds: [2]int{-1, -1}}
	for i, name := range []string{cfg.A, cfg.B} {
		fd, err := openPacketSocket(name)
		if err != nil {
			br.Close()
			return nil, err
		}
		br.fds[i] = fd
	}
	return br, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func openPacketSocket(name string) (int, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return -1, fmt.Errorf("wanem: interface %s: %w", name, err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return -1, fmt.Errorf("wanem: packet socket: %w", err)
	}
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("wanem: %s on %s: %w", what, name, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return fail("PACKET_VNET_HDR", err)
	}
	// Our own transmissions on this interface must not come back to us.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return fail("PACKET_IGNORE_OUTGOING", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 8<<20)
	// Packet sockets cannot be shut down: readers wake up this often to see
	// whether the bridge is stopping.
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail("SO_RCVTIMEO", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return fail("bind", err)
	}
	mreq := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return fail("promiscuous mode", err)
	}
	return fd, nil
}

// Close releases the sockets of a bridge that is not running (Run closes
// them itself when it returns).
func (br *Bridge) Close() error {
	br.once.Do(func() {
		for i, fd := range br.fds {
			if fd >= 0 {
				if err := unix.Close(fd); err != nil {
					br.closeErr = err
				}
				br.fds[i] = -1
			}
		}
	})
	return br.closeErr
}

type frame struct {
	at   time.Time
	data []byte
}

// Release computes when a frame that arrives at now leaves: now + delay +
// uniform jitter, but never before the previous frame (last), so jitter
// never reorders. r returns a uniform float64 in [0, 1).
func Release(now, last time.Time, delay, jitter time.Duration, r func() float64) time.Time {
	d := delay
	if jitter > 0 {
		d += time.Duration((r()*2 - 1) * float64(jitter))
	}
	if d < 0 {
		d = 0
	}
	at := now.Add(d)
	if at.Before(last) {
		at = last
	}
	return at
}

// Run forwards frames both ways until ctx ends or an interface fails; it
// closes the sockets before returning.
func (br *Bridge) Run(ctx context.Context) error {
	defer br.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		cancel()
	}
	var wg sync.WaitGroup
	for dir, st := range []*Stats{&br.AtoB, &br.BtoA} {
		in, out := br.fds[dir], br.fds[1-dir]
		q := make(chan frame, 1<<16)
		var queued atomic.Int64
		wg.Add(2)
		go func() { // reader
			defer wg.Done()
			defer close(q)
			buf := make([]byte, 256<<10)
			var last time.Time
			rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
			for ctx.Err() == nil {
				n, _, err := unix.Recvfrom(in, buf, 0)
				if err != nil {
					if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
						continue
					}
					fail(fmt.Errorf("wanem: receive: %w", err))
					return
				}
				if n <= vnetHdrLen || queued.Load()+int64(n) > int64(br.cfg.MaxQueue) {
					st.Dropped.Add(1)
					continue
				}
				f := frame{data: append([]byte(nil), buf[:n]...)}
				f.at = Release(time.Now(), last, br.cfg.Delay, br.cfg.Jitter, rng.Float64)
				last = f.at
				select {
				case q <- f:
					queued.Add(int64(n))
				default:
					st.Dropped.Add(1)
				}
			}
		}()
		go func() { // writer
			defer wg.Done()
			for f := range q {
				if d := time.Until(f.at); d > 0 {
					time.Sleep(d) // bounded by Delay+Jitter
				}
				queued.Add(-int64(len(f.data)))
				if ctx.Err() != nil {
					continue // stopping: drain without sending
				}
				if _, err := unix.Write(out, f.data); err != nil {
					// A full qdisc (tbf) or an nft egress drop is loss, not failure.
					st.SendErrors.Add(1)
					continue
				}
				st.Forwarded.Add(1)
				if f.data[1] != 0 { // virtio_net_hdr.gso_type
					st.GSO.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}
