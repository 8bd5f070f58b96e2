package ice

import (
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// receiver reads a socket's datagrams in batches: recvmmsg fills up to
// rxBatch buffers per call, each holding one datagram or, with UDP_GRO, a run
// of datagrams of one flow that the kernel coalesced (mmsg.go). Data datagrams
// go to the packet handler at once; STUN messages wait in a small queue for
// pion's read loop, which ReadFrom returns them to one at a time.
type receiver struct {
	hs    [rxBatch]unix.Mmsghdr
	iovs  [rxBatch]unix.Iovec
	bufs  [rxBatch][]byte
	names [rxBatch][unix.SizeofSockaddrAny]byte
	oob   [rxBatch][64]byte

	stun    [][]byte // STUN messages waiting for pion (copies)
	stunSrc []netip.AddrPort
}

const (
	// rxBatch buffers of rxBufSize: 512 KiB per socket that carries a Path
	// (a coalesced buffer holds up to 46 full datagrams).
	rxBatch   = 8
	rxBufSize = 64 << 10
	// maxPendingSTUN bounds the STUN messages waiting for pion; more are
	// dropped (the agent retransmits its checks).
	maxPendingSTUN = 16
)

func newReceiver(k *sock) *receiver {
	r := &receiver{}
	for i := range r.bufs {
		r.bufs[i] = make([]byte, rxBufSize)
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(rxBufSize)
	}
	k.raw.Control(func(fd uintptr) { enableGRO(fd) })
	return r
}

// read delivers data until a STUN message is there for pion, and returns it in
// b.
func (r *receiver) read(k *sock, b []byte) (int, net.Addr, error) {
	for len(r.stun) == 0 {
		if err := r.fill(k); err != nil {
			return 0, nil, err
		}
	}
	m, src := r.stun[0], r.stunSrc[0]
	r.stun, r.stunSrc = r.stun[1:], r.stunSrc[1:]
	return copy(b, m), net.UDPAddrFromAddrPort(src), nil
}

// fill reads one batch (waiting for the first datagram) and hands it out.
func (r *receiver) fill(k *sock) error {
	for i := range r.hs {
		h := &r.hs[i].Hdr
		h.Name = &r.names[i][0]
		h.Namelen = unix.SizeofSockaddrAny
		h.Iov = &r.iovs[i]
		h.Iovlen = 1
		h.Control = &r.oob[i][0]
		h.SetControllen(len(r.oob[i]))
		r.hs[i].Len = 0
	}
	var n int
	var errno unix.Errno
	if err := k.raw.Read(func(fd uintptr) bool {
		n, errno = recvmmsg(fd, r.hs[:])
		return errno != unix.EAGAIN
	}); err != nil {
		return err
	}
	if errno != 0 {
		return nil // ECONNREFUSED and the like, from an earlier send: try again
	}
	var held []byte // the last data datagram, not yet delivered
	var heldSrc netip.AddrPort
	for i := range n {
		src := parseRawAddr(&r.names[i])
		data := r.bufs[i][:r.hs[i].Len]
		seg := groSize(r.oob[i][:r.hs[i].Hdr.Controllen])
		if seg <= 0 {
			seg = len(data)
		}
		for off := 0; off < len(data); off += seg {
			p := data[off:min(off+seg, len(data))]
			if isSTUN(p) {
				r.queueSTUN(p, src)
				continue
			}
			// Each data datagram goes out once the next is known, so the
			// handler learns whether more of this batch follow.
			if held != nil {
				k.d.deliver(k, held, heldSrc, true)
			}
			held, heldSrc = p, src
		}
	}
	if held != nil {
		k.d.deliver(k, held, heldSrc, false)
	}
	return nil
}

func (r *receiver) queueSTUN(p []byte, src netip.AddrPort) {
	if len(r.stun) >= maxPendingSTUN {
		return
	}
	r.stun = append(r.stun, append([]byte(nil), p...))
	r.stunSrc = append(r.stunSrc, src)
}
