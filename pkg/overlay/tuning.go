package overlay

import (
	"time"

	"github.com/xtaci/kcp-go/v5"
	"github.com/xtaci/smux"
)

// Link tuning. Values follow FACTS.md's measurements on this class of machine.
const (
	// linkPacketSize is the largest sealed datagram a link sends. It fits a UDP
	// payload on any path with a 1500-byte MTU minus IPv6, UDP and a PPPoE or tunnel
	// header or two; the relay route has no such limit but the same KCP session
	// must fit the direct route after a switch.
	linkPacketSize = 1400

	// KCP: "fast" nodelay mode with a 10 ms interval, fast resend after 2 duplicate
	// ACKs and no congestion window (nc=1): the measured ~30 ms retransmission floor
	// keeps request tails short under loss (FACTS.md "UDP tunnels under loss").
	kcpNoDelay, kcpInterval, kcpResend, kcpNoCongestion = 1, 10, 2, 1
	kcpWindow                                           = 1024

	// smux: version 2 (per-stream flow control), so one slow mapped connection
	// cannot stall the others on the link.
	smuxVersion        = 2
	smuxReceiveBuffer  = 4 << 20
	smuxStreamBuffer   = 2 << 20
	smuxFrameSize      = 32 << 10
	smuxKeepAlive      = 10 * time.Second
	smuxKeepAliveLimit = 30 * time.Second

	// linkSilenceLimit: a link generation from which nothing authentic (data,
	// ACK, keepalive, handshake) arrived for this long is down: its streams are
	// cut off (the mapped clients get a reset) and the link re-handshakes. A
	// healthy idle peer is heard at least every smuxKeepAlive (its NOPs and its
	// ACKs of ours), so this leaves one keepalive and a half of slack. It is also
	// how long a relayed transfer survives a rendezvous outage: one that comes
	// back sooner resumes (KCP retransmits), a longer one fails cleanly. smux's
	// own keepalive check (30-60 s) stays as a backstop.
	linkSilenceLimit = 15 * time.Second
	// byeSilenceLimit replaces linkSilenceLimit once the peer said goodbye: it
	// is stopping, and its silence means it is gone.
	byeSilenceLimit = 3 * time.Second
	// linkCheckEvery is how often a link checks its silence.
	linkCheckEvery = time.Second
)

// kcpMTU is the KCP segment size that, with the link message kind byte and the
// seal overhead, fills linkPacketSize.
func kcpMTU(sealOverhead int) int { return linkPacketSize - sealOverhead - 1 }

func tuneKCP(s *kcp.UDPSession, sealOverhead int) {
	//lint:ignore SA1019 kcp-go has no replacement; stream mode packs small writes into full segments
	s.SetStreamMode(true)
	s.SetWriteDelay(false)
	s.SetNoDelay(kcpNoDelay, kcpInterval, kcpResend, kcpNoCongestion)
	s.SetWindowSize(kcpWindow, kcpWindow)
	s.SetMtu(kcpMTU(sealOverhead))
	s.SetACKNoDelay(true) // per segment; kcpConn.steerACKs holds ACKs while more of a receive batch follow
}

func smuxConfig() *smux.Config {
	c := smux.DefaultConfig()
	c.Version = smuxVersion
	c.MaxReceiveBuffer = smuxReceiveBuffer
	c.MaxStreamBuffer = smuxStreamBuffer
	c.MaxFrameSize = smuxFrameSize
	c.KeepAliveInterval = smuxKeepAlive
	c.KeepAliveTimeout = smuxKeepAliveLimit
	return c
}
