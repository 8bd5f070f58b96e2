package ice

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/pion/stun"
	"github.com/pion/transport/v2"
	"github.com/pion/transport/v2/stdnet"
	"golang.org/x/sys/unix"
)

// The sockets of a Session. pion opens every UDP socket through AgentConfig.Net;
// ours (sockNet) gives each the configured buffers and wraps it in a sock, whose
// ReadFrom is what pion's per-candidate read loop calls. A sock hands STUN
// messages to pion and delivers everything else straight to the Session's packet
// handler, on that read loop's goroutine: datagrams never enter pion's 1 MB
// agent buffer (which drops silently when full) and are copied once (kernel to
// pion's read buffer), not three times. Path.Send writes to the selected pair's
// socket directly, without blocking (see sock.send).
//
// STUN or not is decided as RFC 7983 does: a STUN message starts with two zero
// bits (first byte 0..3) and carries the magic cookie. Sealed packets start with
// the top bit set, so none of them is ever taken for STUN, whatever its cookie
// bytes happen to be.

// maxDatagram is the largest datagram a Path carries: pion's read buffer per
// socket (receiveMTU in pion/ice) is 8192 bytes.
const maxDatagram = 8192

// isSTUN reports whether b goes to the ICE agent rather than the packet handler.
func isSTUN(b []byte) bool { return len(b) > 0 && b[0] < 4 && stun.IsMessage(b) }

// demux is what all sockets of one Session share.
type demux struct {
	log      *slog.Logger
	bufSize  int // requested SO_RCVBUF/SO_SNDBUF; <= 0 keeps the default
	onPacket func(pkt []byte, more bool)

	mu     sync.Mutex
	socks  []*sock
	closed bool

	route  atomic.Pointer[route] // the selected pair; nil before selection
	ops    sync.Pool             // *sendOp
	sender *sender               // Path.Send's queue

	pktsIn, bytesIn, pktsOut, bytesOut atomic.Uint64
	inOther                            atomic.Uint64 // datagrams from other than the selected remote
	sendDrops                          atomic.Uint64
	stopped                            atomic.Bool // no more delivery (Session closed)
	raw                                bool        // a raw Path's (birthday.go): drop the attempt's own packets
}

// route is where Path.Send goes: the selected pair.
type route struct {
	sock                  *sock
	remote                netip.AddrPort
	sa                    unix.Sockaddr
	raw                   rawAddr // sa, laid out for sendmmsg
	localAddr, localType  string
	remoteAddr, remoteTyp string
	method                string // MethodICE, MethodPortmap...
}

// sock is one UDP socket of the Session (one per local candidate).
type sock struct {
	*net.UDPConn // promotes everything transport.UDPConn needs
	d            *demux
	raw          syscall.RawConn
	local        netip.AddrPort
	inet6        bool // AF_INET6 socket: destinations as IPv6 (v4-mapped for IPv4)

	rmu sync.Mutex // ReadFrom's: pion's read loop, or its STUN gathering before it
	rx  *receiver  // batched reads, once the socket carries data; nil before
}

// ReadFrom is called by pion's candidate read loop (and by its STUN gathering):
// it returns STUN messages and delivers everything else itself. A socket
// starts with one datagram per read; the first data datagram switches it to
// batched reads (receiver), which only a socket that carries a Path needs.
func (k *sock) ReadFrom(b []byte) (int, net.Addr, error) {
	k.rmu.Lock()
	defer k.rmu.Unlock()
	for {
		if k.rx != nil {
			return k.rx.read(k, b)
		}
		n, src, err := k.UDPConn.ReadFromUDPAddrPort(b)
		if err != nil {
			return n, nil, err
		}
		if isSTUN(b[:n]) {
			return n, net.UDPAddrFromAddrPort(src), nil
		}
		k.d.deliver(k, b[:n], src, false)
		k.rx = newReceiver(k)
	}
}

// deliver hands a datagram to the packet handler.
func (d *demux) deliver(k *sock, b []byte, src netip.AddrPort, more bool) {
	if d.stopped.Load() {
		return
	}
	if d.raw && len(b) == bdPacketLn && string(b[:4]) == bdMagic {
		return // a late probe or duplicate ack of the attempt that found this raw Path
	}
	if r := d.route.Load(); r == nil || r.sock != k || r.remote != unmapped(src) {
		// Before our selection (the peer may select first) or from another
		// candidate of the peer. The caller authenticates every packet.
		d.inOther.Add(1)
	}
	d.pktsIn.Add(1)
	d.bytesIn.Add(uint64(len(b)))
	d.onPacket(b, more)
}

// sendOp is one non-blocking sendto with its closure built once, so sending does
// not allocate (ops are pooled per Session).
type sendOp struct {
	b   []byte
	sa  unix.Sockaddr
	err error
	fn  func(fd uintptr) bool
}

func newSendOp() any {
	op := &sendOp{}
	op.fn = func(fd uintptr) bool {
		op.err = unix.Sendto(int(fd), op.b, unix.MSG_DONTWAIT, op.sa)
		return true // one attempt: never wait for the socket to drain
	}
	return op
}

// send writes b to sa in one non-blocking attempt: a full socket buffer drops the
// datagram instead of stalling the caller.
func (k *sock) send(b []byte, sa unix.Sockaddr) error {
	op := k.d.ops.Get().(*sendOp)
	op.b, op.sa = b, sa
	err := k.raw.Write(op.fn)
	if err == nil {
		err = op.err
	}
	op.b, op.sa, op.err = nil, nil, nil
	k.d.ops.Put(op)
	return err
}

func (k *sock) Close() error {
	k.d.forget(k)
	return k.UDPConn.Close()
}

// sockNet is the transport.Net pion opens sockets through.
type sockNet struct {
	*stdnet.Net
	d *demux
}

func newSockNet(d *demux) (*sockNet, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("ice: list network interfaces: %w", err)
	}
	return &sockNet{Net: n, d: d}, nil
}

// ListenUDP opens a socket with the session's buffers. pion uses it for host and
// server-reflexive candidates (ListenPacket and DialUDP only serve TURN, which we
// do not configure).
func (n *sockNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	k, err := n.d.adopt(c)
	if err != nil {
		c.Close()
		return nil, err
	}
	return k, nil
}

// adopt sizes c's buffers, wraps it and registers it.
func (d *demux) adopt(c *net.UDPConn) (*sock, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	k := &sock{UDPConn: c, d: d, raw: raw, local: c.LocalAddr().(*net.UDPAddr).AddrPort()}
	var domain int
	var oerr error
	if err := raw.Control(func(fd uintptr) {
		domain, oerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
		if oerr == nil && d.bufSize > 0 {
			oerr = setBuffers(int(fd), d.bufSize)
		}
	}); err != nil {
		return nil, err
	}
	if oerr != nil {
		return nil, fmt.Errorf("ice: socket options on %v: %w", k.local, oerr)
	}
	k.inet6 = domain == unix.AF_INET6
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, net.ErrClosed
	}
	d.socks = append(d.socks, k)
	return k, nil
}

// setBuffers sets SO_RCVBUF and SO_SNDBUF to size: forced past the sysctl caps
// (net.core.rmem_max/wmem_max) when we may (CAP_NET_ADMIN), else as far as the
// caps allow.
func setBuffers(fd, size int) error {
	for _, o := range [][2]int{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, o[0], size) == nil {
			continue
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, o[1], size); err != nil {
			return err
		}
	}
	return nil
}

// socketBuffers returns a socket's actual receive and send buffer sizes.
func (k *sock) socketBuffers() (rcv, snd int) {
	k.raw.Control(func(fd uintptr) {
		rcv, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		snd, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
	})
	return rcv, snd
}

func (d *demux) forget(k *sock) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, s := range d.socks {
		if s == k {
			d.socks = append(d.socks[:i], d.socks[i+1:]...)
			break
		}
	}
}

// close stops delivery and refuses new sockets (pion closes its own).
func (d *demux) close() {
	d.stopped.Store(true)
	d.sender.close()
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
}

// findSock returns the socket whose local address is base: a host candidate's
// address, or a server-reflexive candidate's base (pion binds those to the
// unspecified address, so only the port is compared then).
func (d *demux) findSock(base netip.AddrPort) *sock {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range d.socks {
		if k.local.Port() != base.Port() {
			continue
		}
		if k.local.Addr().Unmap() == base.Addr().Unmap() || k.local.Addr().IsUnspecified() || base.Addr().IsUnspecified() {
			return k
		}
	}
	return nil
}

// newRoute builds the send route for a selected pair.
func newRoute(k *sock, remote netip.AddrPort) (*route, error) {
	remote = unmapped(remote)
	r := &route{sock: k, remote: remote}
	switch {
	case k.inet6:
		r.sa = &unix.SockaddrInet6{Port: int(remote.Port()), Addr: remote.Addr().As16()}
	case remote.Addr().Is4():
		r.sa = &unix.SockaddrInet4{Port: int(remote.Port()), Addr: remote.Addr().As4()}
	default:
		return nil, errors.New("an IPv6 peer address on an IPv4 socket")
	}
	r.raw = newRawAddr(remote, k.inet6)
	return r, nil
}

func unmapped(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
