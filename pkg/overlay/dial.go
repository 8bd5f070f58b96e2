package overlay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// What DialService's and DialServiceUDP's errors wrap, so that an entry in
// front of them (pkg/proxyentry) can answer with the right code.
var (
	// ErrNoService: no member serves the name, or more than one does.
	ErrNoService = errors.New("no such service")
	// ErrWrongProto: a TCP dial of a UDP service or the reverse.
	ErrWrongProto = errors.New("wrong protocol for the service")
	// ErrServiceRefused: the service's target refused the connection (or
	// its node has no slot free).
	ErrServiceRefused = errors.New("the service refused the connection")
	// ErrUnreachable: the serving node cannot be reached now.
	ErrUnreachable = errors.New("the serving node is unreachable")
)

// MeshAddr is the address of a service connection's far end.
type MeshAddr struct{ Service string }

func (MeshAddr) Network() string  { return "mesh" }
func (a MeshAddr) String() string { return a.Service }

// DialService connects to the TCP service spec names ("700", "web@home",
// "web@3f2a" for a node ID prefix). Unlike a mapping's connections it waits
// for the serving node's answer, so that a refusal is its error; the errors
// wrap ErrNoService, ErrWrongProto, ErrServiceRefused or ErrUnreachable.
// The connection's CloseWrite ends this side's direction only.
//
// from is the application's address (nil or not TCP: unknown), for a
// service that sends its target a PROXY protocol header.
func (n *Node) DialService(ctx context.Context, spec string, from net.Addr) (net.Conn, error) {
	r, err := n.resolveSpec(ctx, spec, "tcp")
	if err != nil {
		return nil, err
	}
	c, err := n.dialResolved(ctx, r, addrPortOf(from))
	if err != nil {
		if r.local != nil {
			return nil, fmt.Errorf("%w: %w", ErrServiceRefused, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		return tc, nil
	}
	ss := c.(*serviceStream)
	if err := n.awaitAnswer(ctx, ss); err != nil {
		ss.Close()
		return nil, err
	}
	return &serviceConn{serviceStream: ss, remote: MeshAddr{Service: spec}}, nil
}

// resolveSpec finds the service spec names and checks its protocol.
func (n *Node) resolveSpec(ctx context.Context, spec, proto string) (resolved, error) {
	t, err := parseTarget(spec)
	if err != nil {
		return resolved{}, fmt.Errorf("%w: %w", ErrNoService, err)
	}
	t.proto = proto
	r, err := n.resolveWait(ctx, t, n.cfg.ResolveWait)
	if err != nil {
		for _, known := range []error{ErrNoService, ErrNotAllowed, ErrServiceRefused, ErrUnreachable} {
			if errors.Is(err, known) {
				return r, err
			}
		}
		if isKind(err, KindNotFound) || isKind(err, KindConflict) {
			return r, fmt.Errorf("%w: %w", ErrNoService, err)
		}
		return r, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	if p := r.proto(); p != proto {
		return r, fmt.Errorf("%w: %s is a %s service", ErrWrongProto, spec, p)
	}
	return r, nil
}

// awaitAnswer waits (until ctx ends) for the serving node to connect the
// stream to its target, and classifies its refusal.
func (n *Node) awaitAnswer(ctx context.Context, ss *serviceStream) error {
	if dl, ok := ctx.Deadline(); ok {
		ss.smux.SetReadDeadline(dl)
		defer ss.smux.SetReadDeadline(time.Time{})
	}
	err := ss.awaitStatus()
	var se *statusError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se) && se.Code == statusNoService:
		return fmt.Errorf("%w: %w", ErrNoService, err)
	case errors.As(err, &se):
		return fmt.Errorf("%w: %w", ErrServiceRefused, err)
	default:
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
}

// serviceConn is a service stream as a net.Conn.
type serviceConn struct {
	*serviceStream
	remote net.Addr
}

func (c *serviceConn) LocalAddr() net.Addr                { return MeshAddr{Service: "local"} }
func (c *serviceConn) RemoteAddr() net.Addr               { return c.remote }
func (c *serviceConn) SetDeadline(t time.Time) error      { return c.smux.SetDeadline(t) }
func (c *serviceConn) SetReadDeadline(t time.Time) error  { return c.smux.SetReadDeadline(t) }
func (c *serviceConn) SetWriteDeadline(t time.Time) error { return c.smux.SetWriteDeadline(t) }

// DatagramFlow is a flow to a UDP service: one WriteDatagram is one datagram
// to it, one ReadDatagram one datagram from it. One reader and one writer
// may use it at once.
type DatagramFlow struct {
	local net.Conn       // a UDP service of this node: a connected socket
	st    *serviceStream // a peer's: framed datagrams on a service stream

	rbuf []byte
	wmu  sync.Mutex
	wbuf []byte
}

// DialServiceUDP opens a flow to the UDP service spec names; its errors wrap
// the same values as DialService's.
func (n *Node) DialServiceUDP(ctx context.Context, spec string) (*DatagramFlow, error) {
	r, err := n.resolveSpec(ctx, spec, "udp")
	if err != nil {
		return nil, err
	}
	if r.local != nil {
		var d net.Dialer
		c, err := d.DialContext(ctx, "udp", r.local.Target)
		if err != nil {
			return nil, fmt.Errorf("%w: serveid %d (local): %w", ErrServiceRefused, r.local.ID, err)
		}
		return &DatagramFlow{local: c}, nil
	}
	c, err := n.dialResolved(ctx, r, netip.AddrPort{})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	ss := c.(*serviceStream)
	if err := n.awaitAnswer(ctx, ss); err != nil {
		ss.Close()
		return nil, err
	}
	return &DatagramFlow{st: ss, rbuf: make([]byte, maxDatagram), wbuf: make([]byte, 0, maxDatagram+2)}, nil
}

// ReadDatagram reads the next datagram from the service into b, truncating
// one longer than b (as a UDP socket does).
func (f *DatagramFlow) ReadDatagram(b []byte) (int, error) {
	if f.local != nil {
		return f.local.Read(b)
	}
	p, err := readDatagram(f.st, f.rbuf)
	if err != nil {
		return 0, err
	}
	return copy(b, p), nil
}

// WriteDatagram sends b to the service as one datagram.
func (f *DatagramFlow) WriteDatagram(b []byte) error {
	if f.local != nil {
		_, err := f.local.Write(b)
		return err
	}
	f.wmu.Lock()
	defer f.wmu.Unlock()
	return writeDatagram(f.st, f.wbuf, b)
}

// Close ends the flow.
func (f *DatagramFlow) Close() error {
	if f.local != nil {
		return f.local.Close()
	}
	return f.st.Close()
}
