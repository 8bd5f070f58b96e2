package natprobe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Ops a client can ask for.
const (
	OpEcho        = "echo"          // reply from the socket that got the request
	OpFromAltPort = "from-alt-port" // reply from the server's other port (same IP)
	OpFromAltIP   = "from-alt-ip"   // reply from the server's other IP
	opHairpin     = "hairpin"       // client to itself through its NAT
	opPunch       = "punch"         // hole-punch packet between two clients
)

// Request is what a client sends (JSON in one datagram).
type Request struct {
	ID  uint64 `json:"id"`
	Op  string `json:"op"`
	Tok string `json:"tok,omitempty"`
}

// Reply is what the server answers: the source address it saw (the client's
// mapping) and the server address the reply leaves from.
type Reply struct {
	ID     uint64 `json:"id"`
	Mapped string `json:"mapped"`
	From   string `json:"from"`
}

// Target is where a probe server listens: two ports on one IP, and a second IP.
type Target struct {
	Primary, AltPort, AltIP netip.AddrPort
}

// Server answers probe requests on three UDP sockets and reports the
// observed TCP source on a TCP listener. It sits on the public side of the lab.
type Server struct {
	Primary, AltPort, AltIP net.PacketConn
	TCP                     net.Listener // optional
	Logf                    func(format string, args ...any)

	closeOnce sync.Once
}

// ListenFunc opens a packet socket; the caller chooses the network namespace.
type ListenFunc func(network, addr string) (net.PacketConn, error)

// StreamListenFunc opens a stream listener.
type StreamListenFunc func(network, addr string) (net.Listener, error)

// Listen opens a server on primary and altIP (both must be local addresses
// of the namespace listen works in). port 0 picks free ports; the alternate
// IP uses the primary's port when it can.
func Listen(listen ListenFunc, listenTCP StreamListenFunc, primary, altIP netip.Addr, port int) (*Server, error) {
	s := &Server{}
	var err error
	if s.Primary, err = listen("udp4", netip.AddrPortFrom(primary, uint16(port)).String()); err != nil {
		return nil, fmt.Errorf("probe server: %w", err)
	}
	p := addrPort(s.Primary.LocalAddr()).Port()
	altPort := 0
	if port != 0 {
		altPort = port + 1
	}
	if s.AltPort, err = listen("udp4", netip.AddrPortFrom(primary, uint16(altPort)).String()); err != nil {
		s.Close()
		return nil, fmt.Errorf("probe server: %w", err)
	}
	if s.AltIP, err = listen("udp4", netip.AddrPortFrom(altIP, p).String()); err != nil {
		if s.AltIP, err = listen("udp4", netip.AddrPortFrom(altIP, 0).String()); err != nil {
			s.Close()
			return nil, fmt.Errorf("probe server: %w", err)
		}
	}
	if listenTCP != nil {
		if s.TCP, err = listenTCP("tcp4", netip.AddrPortFrom(primary, p).String()); err != nil {
			s.Close()
			return nil, fmt.Errorf("probe server: %w", err)
		}
	}
	return s, nil
}

// Target returns the server's addresses.
func (s *Server) Target() Target {
	return Target{Primary: addrPort(s.Primary.LocalAddr()), AltPort: addrPort(s.AltPort.LocalAddr()), AltIP: addrPort(s.AltIP.LocalAddr())}
}

// Close closes all sockets (Serve returns).
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		for _, c := range []net.PacketConn{s.Primary, s.AltPort, s.AltIP} {
			if c != nil {
				c.Close()
			}
		}
		if s.TCP != nil {
			s.TCP.Close()
		}
	})
}

// Serve answers requests until ctx ends or Close is called.
func (s *Server) Serve(ctx context.Context) error {
	logf := s.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	stop := context.AfterFunc(ctx, s.Close)
	defer stop()
	var wg sync.WaitGroup
	for _, c := range []net.PacketConn{s.Primary, s.AltPort, s.AltIP} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 2048)
			for {
				n, src, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				var req Request
				if json.Unmarshal(buf[:n], &req) != nil {
					continue
				}
				out := c
				switch req.Op {
				case OpEcho:
				case OpFromAltPort:
					out = s.AltPort
				case OpFromAltIP:
					out = s.AltIP
				default:
					continue
				}
				b, _ := json.Marshal(Reply{ID: req.ID, Mapped: src.String(), From: out.LocalAddr().String()})
				if _, err := out.WriteTo(b, src); err != nil {
					logf("probe server: reply to %s: %v", src, err)
				}
			}
		}()
	}
	if s.TCP != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				conn, err := s.TCP.Accept()
				if err != nil {
					return
				}
				b, _ := json.Marshal(Reply{Mapped: conn.RemoteAddr().String(), From: conn.LocalAddr().String()})
				_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
				_, _ = conn.Write(append(b, '\n'))
				conn.Close()
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("probe server closed")
}

func addrPort(a net.Addr) netip.AddrPort {
	switch x := a.(type) {
	case *net.UDPAddr:
		ap := x.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	case *net.TCPAddr:
		ap := x.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}
