package proxyentry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Dialer reaches mesh services; the node implements it. Its errors should
// wrap one of the Err values below so that each protocol can answer with the
// right code (an error wrapping none is a general failure).
type Dialer interface {
	// DialTCP connects to the TCP service t names (ClientAddr(ctx) is the
	// application's address when the connection is its own: SOCKS5 CONNECT,
	// HTTP CONNECT; for an ad-hoc target, the
	// serving node first registers it). The connection's CloseWrite, if it
	// has one, ends the client's direction only.
	DialTCP(ctx context.Context, t Target) (net.Conn, error)
	// DialUDP opens a flow to the UDP service t names.
	DialUDP(ctx context.Context, t Target) (DatagramConn, error)
}

// DatagramConn is a flow to a UDP service: each Write is one datagram to
// the service, each Read one datagram from it.
type DatagramConn interface {
	ReadDatagram(b []byte) (int, error)
	WriteDatagram(b []byte) error
	Close() error
}

// clientKey carries the application's address in a dial's context.
type clientKey struct{}

// withClient is ctx carrying the application's address a.
func withClient(ctx context.Context, a net.Addr) context.Context {
	return context.WithValue(ctx, clientKey{}, a)
}

// ClientAddr is the address of the application a DialTCP connects, when the
// connection is the application's own (SOCKS5 and HTTP CONNECT; nil for
// plain http:// requests, whose connections the proxy pools across clients).
func ClientAddr(ctx context.Context) net.Addr {
	a, _ := ctx.Value(clientKey{}).(net.Addr)
	return a
}

// What a Dialer's error means, for the reply codes.
var (
	// ErrNoSuchService: nothing in the group answers to the name (SOCKS
	// "host unreachable", HTTP 502).
	ErrNoSuchService = errors.New("no such service")
	// ErrNotAllowed: the serving node or this entry's rules refuse it
	// (SOCKS "not allowed by ruleset", HTTP 403).
	ErrNotAllowed = errors.New("not allowed")
	// ErrUnreachable: the service's node cannot be reached now (SOCKS
	// "network unreachable", HTTP 502).
	ErrUnreachable = errors.New("unreachable")
	// ErrRefused: the service's target refused the connection (SOCKS
	// "connection refused", HTTP 502).
	ErrRefused = errors.New("connection refused")
	// ErrWrongProto: a TCP request for a UDP service or the reverse (SOCKS
	// "command not supported", HTTP 502).
	ErrWrongProto = errors.New("wrong protocol for the service")
)

// Config is a proxy entry's configuration. Zero values take the defaults
// noted.
type Config struct {
	// SOCKS5 and HTTPProxy are listen addresses ("" = that entry is off).
	SOCKS5, HTTPProxy string
	// Username and Password, when set, are required by both entries (SOCKS5
	// username/password auth, HTTP Basic proxy auth). An entry that listens
	// on an address other than loopback refuses to start without them.
	Username, Password string
	// Fallthrough lets requests for hosts outside .mesh go to the network
	// directly from this node. Off, they are refused: the entry is not an
	// open proxy.
	Fallthrough bool
	// MaxConns bounds the connections the two entries serve at once (default
	// 1024); a connection over the limit is closed at once and counted
	// (Server.Refused), and the ones already open are never cut.
	MaxConns int
	// HandshakeTimeout bounds a client's request: from accept to a dialed
	// service (default 30 s, which includes the mesh dial).
	HandshakeTimeout time.Duration
	// UDPFlows bounds the UDP services one SOCKS5 association talks to at
	// once (default 16).
	UDPFlows int
	Logger   *slog.Logger
}

const (
	defaultMaxConns         = 1024
	defaultHandshakeTimeout = 30 * time.Second
	defaultUDPFlows         = 16
)

// Check reports what is wrong with c, as Listen would.
func (c Config) Check() error {
	_, err := c.withDefaults()
	return err
}

func (c Config) withDefaults() (Config, error) {
	if c.MaxConns == 0 {
		c.MaxConns = defaultMaxConns
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = defaultHandshakeTimeout
	}
	if c.UDPFlows == 0 {
		c.UDPFlows = defaultUDPFlows
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.MaxConns < 0:
		return c, fmt.Errorf("proxy entry: max connections %d is negative", c.MaxConns)
	case c.HandshakeTimeout < 0:
		return c, fmt.Errorf("proxy entry: handshake timeout %v is negative", c.HandshakeTimeout)
	case c.UDPFlows < 0:
		return c, fmt.Errorf("proxy entry: UDP flows %d is negative", c.UDPFlows)
	case (c.Username == "") != (c.Password == ""):
		return c, errors.New("proxy entry: a username needs a password and a password a username")
	case len(c.Username) > 255 || len(c.Password) > 255:
		return c, errors.New("proxy entry: username and password are at most 255 bytes each (SOCKS5's limit)")
	}
	for _, a := range []struct{ what, addr string }{{"SOCKS5", c.SOCKS5}, {"HTTP proxy", c.HTTPProxy}} {
		if a.addr == "" {
			continue
		}
		host, _, err := net.SplitHostPort(a.addr)
		if err != nil {
			return c, fmt.Errorf("proxy entry: %s address %q: %w", a.what, a.addr, err)
		}
		if !isLoopback(host) && c.Username == "" {
			return c, fmt.Errorf("proxy entry: %s on %q is reachable from other machines: set a username and password, or listen on 127.0.0.1", a.what, a.addr)
		}
	}
	return c, nil
}

// isLoopback reports whether a listen host is loopback-only ("" and the
// unspecified addresses are not).
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// target turns a requested host and port into a mesh Target, or reports that
// the request leaves the mesh (ok false, err nil) when Fallthrough allows it.
func (c Config) target(host string, port int) (t Target, ok bool, err error) {
	t, err = ParseName(host, port)
	switch {
	case err == nil:
		return t, true, nil
	case !errors.Is(err, ErrNotMesh):
		return t, false, fmt.Errorf("%w: %w", ErrNoSuchService, err)
	case c.Fallthrough:
		return t, false, nil
	default:
		return t, false, fmt.Errorf("%w: %s is not a %s name, and this proxy reaches only the mesh", ErrNotAllowed, host, Suffix)
	}
}
