package transport

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// Transport is how a node reaches the rendezvous.
type Transport interface {
	// Name is a short lowercase name for logs and status ("tcp", "tls").
	Name() string
	// Dial connects to addr (host:port, or a URL for transports that take
	// one; see CheckAddr). It honours ctx's deadline and cancellation. The
	// returned conn carries the relay protocol as is.
	Dial(ctx context.Context, addr string) (net.Conn, error)
}

// keepAlive is the TCP keepalive configuration of built-in transports. The relay
// protocol has its own pings; TCP keepalives additionally keep NAT and firewall
// state of otherwise quiet connections alive and clean up half-open ones.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 15 * time.Second, Count: 4}

// TCP returns the built-in default transport: a plain TCP connection with
// TCP_NODELAY (the relay batches writes itself) and TCP keepalives.
func TCP() Transport { return tcpTransport{} }

type tcpTransport struct{}

func (tcpTransport) Name() string { return "tcp" }

// CheckAddr accepts host:port.
func (tcpTransport) CheckAddr(addr string) error {
	return checkHostPort("tcp transport: address", addr, "want host:port")
}

func (t tcpTransport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	if err := t.CheckAddr(addr); err != nil {
		return nil, err
	}
	return dialTCP(ctx, addr)
}

func dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{KeepAliveConfig: keepAlive}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err // net.OpError already names the operation and address
	}
	if tc, ok := c.(*net.TCPConn); ok {
		if err := tc.SetNoDelay(true); err != nil {
			c.Close()
			return nil, fmt.Errorf("set TCP_NODELAY on connection to %s: %w", addr, err)
		}
	}
	return c, nil
}

// TLS returns the built-in TLS-over-TCP transport. cfg may be nil (system roots,
// server name taken from the address); ClientTLSConfig makes one with a private
// CA or a pin. When cfg.ServerName is empty, the host part of the dialled address
// is used. cfg is cloned; later changes do not apply.
func TLS(cfg *tls.Config) Transport {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	c := cfg.Clone()
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return &tlsTransport{cfg: c}
}

type tlsTransport struct{ cfg *tls.Config }

func (*tlsTransport) Name() string { return "tls" }

// CheckAddr accepts host:port.
func (*tlsTransport) CheckAddr(addr string) error {
	return checkHostPort("tls transport: address", addr, "want host:port")
}

func (t *tlsTransport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	if err := t.CheckAddr(addr); err != nil {
		return nil, err
	}
	raw, err := dialTCP(ctx, addr)
	if err != nil {
		return nil, err
	}
	cfg := t.cfg
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(addr) // checked above
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("tls handshake with %s: %w", addr, explainTLSError(err))
	}
	return tc, nil
}
