package ice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Defaults of Config.
const (
	// DefaultSocketBuffer is the receive and send buffer of every UDP socket a
	// Session opens. Linux's default (208 KiB) overflows at KCP's window sizes and
	// loses ~40% of a burst; 4 MiB does not (see the package benchmark).
	DefaultSocketBuffer = 4 << 20
	// DefaultConnectTimeout bounds one attempt: gathering, signaling and checks.
	DefaultConnectTimeout = 15 * time.Second
	// DefaultKeepaliveInterval is how often consent checks (STUN Binding
	// requests) run on the selected pair. NAT bindings expire after ~30 s without
	// traffic; consent traffic alone keeps them well inside that.
	DefaultKeepaliveInterval = 2 * time.Second
	// DefaultDisconnectedTimeout is how long the selected pair may go without
	// any answer or check from the peer before the Path is declared dead.
	DefaultDisconnectedTimeout = 5 * time.Second
	// DefaultResendInterval caps the interval between repeated offers while the
	// attempt is not connected (they start 250 ms apart and back off to this).
	DefaultResendInterval = time.Second
)

// DefaultPredictWindow is how many of a sequential NAT's next ports are
// predicted. pion checks every pair each 200 ms, so a window of 16 costs our
// two sockets 160 checks/s for up to 5 s.
const DefaultPredictWindow = 16

const maxPredictWindow = 64

// firstResend is the first interval between offers; it doubles up to
// Config.ResendInterval.
const firstResend = 250 * time.Millisecond

// maxKeepaliveInterval keeps consent checks inside the ~30 s NAT binding lifetime
// with room for a lost check.
const maxKeepaliveInterval = 10 * time.Second

// Config is what a Session needs besides its peer. Zero values take the defaults.
type Config struct {
	// STUN servers as "host:port" (the rendezvous' STUN ports:
	// relay.Client.STUNServers()); each yields a server-reflexive candidate. One
	// is enough for ICE; empty means host candidates only.
	STUN []string
	// Loopback includes loopback addresses as host candidates (for tests).
	Loopback bool
	// IPv6 gathers IPv6 candidates too (UDP6). Off by default: IPv4 only.
	IPv6 bool
	// InterfaceFilter, if set, says which interfaces (by name) give host
	// candidates.
	InterfaceFilter func(name string) bool
	// Logger gets the session's events; pion's own logging goes to it at Debug.
	Logger *slog.Logger
	// PortMapper, if set, is asked to map the port of each IPv4 host
	// candidate's socket at the gateway (pkg/portmap); the first mapping
	// granted is offered as a candidate (type "portmap") and released when
	// the Session closes.
	PortMapper PortMapper
	// PeerReadsMapped says whether the peer's signaling parser knows mapped
	// candidates (wire type 3); while it says no (or is nil) they are sent as
	// server-reflexive, which older peers accept. Asked at every offer.
	PeerReadsMapped func() bool
	// PeerSeqDelta, if set and returning a step > 0 (the peer is behind a
	// symmetric NAT that allocates ports sequentially, as its netcheck
	// found), makes the Session predict the peer's next mappings: the
	// PredictWindow ports after its server-reflexive candidate, at that step,
	// join the remote candidates, so our checks open our NAT's filter for
	// the port the peer's checks will come from. Asked at every signal.
	PeerSeqDelta func() int
	// PredictWindow is how many ports are predicted (default 16, at most 64).
	PredictWindow int

	// SocketBuffer is the SO_RCVBUF/SO_SNDBUF of every UDP socket (default 4 MiB;
	// as root it is forced past net.core.rmem_max). Negative keeps the system
	// default (for comparisons).
	SocketBuffer int
	// ConnectTimeout bounds Connect (default 15 s).
	ConnectTimeout time.Duration
	// KeepaliveInterval is the consent check interval on the selected pair
	// (default 2 s, at most 10 s).
	KeepaliveInterval time.Duration
	// DisconnectedTimeout: after this long without a STUN message from the peer
	// on the selected pair, the Path is dead (default 5 s; more than
	// KeepaliveInterval).
	DisconnectedTimeout time.Duration
	// ResendInterval caps the interval of repeated offers (default 1 s).
	ResendInterval time.Duration
}

// PortMapper asks the gateway to forward a UDP port to a local socket.
type PortMapper interface {
	// MapUDP maps local (a socket's address); it fails fast for an address
	// the gateway does not see (another interface). The mapping is kept
	// alive until its Close, which deletes it.
	MapUDP(ctx context.Context, local netip.AddrPort) (PortMapping, error)
}

// PortMapping is a mapping a PortMapper holds.
type PortMapping interface {
	External() netip.AddrPort
	Protocol() string // "pcp", "nat-pmp", "upnp"
	Close() error
}

// withDefaults checks c and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.SocketBuffer == 0 {
		c.SocketBuffer = DefaultSocketBuffer
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.KeepaliveInterval == 0 {
		c.KeepaliveInterval = DefaultKeepaliveInterval
	}
	if c.DisconnectedTimeout == 0 {
		c.DisconnectedTimeout = max(DefaultDisconnectedTimeout, 2*c.KeepaliveInterval+c.KeepaliveInterval/2)
	}
	if c.ResendInterval == 0 {
		c.ResendInterval = DefaultResendInterval
	}
	if c.PredictWindow == 0 {
		c.PredictWindow = DefaultPredictWindow
	}
	switch {
	case c.ConnectTimeout < 0:
		return c, fmt.Errorf("ice: connect timeout %v is negative", c.ConnectTimeout)
	case c.KeepaliveInterval < 0 || c.KeepaliveInterval > maxKeepaliveInterval:
		return c, fmt.Errorf("ice: keepalive interval %v is outside 0..%v (NAT bindings expire after ~30s)", c.KeepaliveInterval, maxKeepaliveInterval)
	case c.DisconnectedTimeout <= c.KeepaliveInterval:
		return c, fmt.Errorf("ice: disconnected timeout %v must exceed the keepalive interval %v", c.DisconnectedTimeout, c.KeepaliveInterval)
	case c.PredictWindow < 1 || c.PredictWindow > maxPredictWindow:
		return c, fmt.Errorf("ice: predict window %d is outside 1..%d", c.PredictWindow, maxPredictWindow)
	case c.ResendInterval < 10*time.Millisecond:
		return c, fmt.Errorf("ice: resend interval %v is below 10ms", c.ResendInterval)
	}
	for _, s := range c.STUN {
		if err := checkHostPort(s); err != nil {
			return c, fmt.Errorf("ice: STUN server %q: %w", s, err)
		}
	}
	return c, nil
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("no host")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}
