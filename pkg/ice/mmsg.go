package ice

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batched datagram I/O on Linux: sendmmsg and recvmmsg, with UDP GSO on send
// (UDP_SEGMENT: one buffer of equal-size datagrams the kernel splits) and GRO on
// receive (UDP_GRO: consecutive datagrams of one flow arrive coalesced, with
// their size in a control message). Measured on this project's 2-core VM,
// 1400-byte datagrams over loopback: one sendto/recvfrom per datagram moves
// ~140 MB/s; sendmmsg/recvmmsg ~440 MB/s; GSO with recvmmsg ~930 MB/s; GSO
// with GRO ~3.3 GB/s. Each syscall's cost is per call, not per datagram.

// gsoMaxSegments and gsoMaxBytes bound one GSO buffer (the kernel takes up to
// 64 segments on every version that has UDP_SEGMENT, and an IP datagram's
// payload limit).
const (
	gsoMaxSegments = 64
	gsoMaxBytes    = 65000
)

// rawAddr is a destination socket address in the kernel's layout, built once.
type rawAddr struct {
	buf [unix.SizeofSockaddrInet6]byte
	len uint32
}

// newRawAddr lays out remote for a socket of family inet6 (AF_INET6, with
// v4-mapped addresses for IPv4 peers) or AF_INET.
func newRawAddr(remote netip.AddrPort, inet6 bool) rawAddr {
	var ra rawAddr
	if inet6 {
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&ra.buf[0]))
		sa.Family = unix.AF_INET6
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], remote.Port())
		sa.Addr = remote.Addr().As16()
		ra.len = unix.SizeofSockaddrInet6
		return ra
	}
	sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&ra.buf[0]))
	sa.Family = unix.AF_INET
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], remote.Port())
	sa.Addr = remote.Addr().As4()
	ra.len = unix.SizeofSockaddrInet4
	return ra
}

// parseRawAddr reads a source address the kernel wrote (no allocation).
func parseRawAddr(b *[unix.SizeofSockaddrAny]byte) netip.AddrPort {
	switch family := *(*uint16)(unsafe.Pointer(&b[0])); family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&b[0]))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port)
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&b[0]))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
	}
	return netip.AddrPort{}
}

// sendmmsg sends hs in one call; it returns how many messages went out.
func sendmmsg(fd uintptr, hs []unix.Mmsghdr) (int, unix.Errno) {
	n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&hs[0])), uintptr(len(hs)), unix.MSG_DONTWAIT, 0, 0)
	return int(n), e
}

// recvmmsg receives into hs without waiting; it returns how many arrived.
func recvmmsg(fd uintptr, hs []unix.Mmsghdr) (int, unix.Errno) {
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&hs[0])), uintptr(len(hs)), unix.MSG_DONTWAIT, 0, 0)
	return int(n), e
}

// gsoControl is the control message that makes one buffer GSO segments of seg
// bytes.
type gsoControl [unix.SizeofCmsghdr + 8]byte

func (c *gsoControl) set(seg int) {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
	h.Level, h.Type = unix.IPPROTO_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(c[unix.CmsgLen(0):], uint16(seg))
}

// groSize returns the segment size a UDP_GRO control message gives (0: none:
// the datagram arrived alone).
func groSize(oob []byte) int {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return 0
		}
		if h.Level == unix.IPPROTO_UDP && h.Type == unix.UDP_GRO && l >= unix.CmsgLen(2) {
			data := oob[unix.CmsgLen(0):l]
			if len(data) >= 4 {
				return int(binary.NativeEndian.Uint32(data))
			}
			return int(binary.NativeEndian.Uint16(data))
		}
		oob = oob[unix.CmsgSpace(l-unix.CmsgLen(0)):]
	}
	return 0
}

// enableGRO asks the kernel to coalesce received datagrams (best effort: a
// kernel without UDP_GRO delivers them one by one, which recvmmsg handles).
func enableGRO(fd uintptr) bool {
	return unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1) == nil
}
