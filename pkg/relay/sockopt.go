package relay

import (
	"crypto/tls"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// notSentLowat bounds the bytes a relay connection's kernel socket holds that it
// has not sent yet (TCP_NOTSENT_LOWAT). Without it, Linux grows a busy socket's
// send buffer to megabytes: datagrams then wait there in arrival order, where
// neither the fair share of the send queue (queue.go) nor anything else can
// reorder them, and a flood ahead of a node's traffic becomes seconds of delay.
// With it, the backlog stays in the send queue. Data in flight (sent, not yet
// acknowledged) is not limited, so a long fat path still fills its pipe.
const notSentLowat = 128 << 10

// limitUnsent applies notSentLowat to nc when it is a TCP connection (possibly
// inside TLS). Other connections (WebSocket, test pipes) are left alone.
func limitUnsent(nc net.Conn) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) {
		// Best effort: a kernel without the option keeps the old behaviour.
		unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, notSentLowat)
	})
}
