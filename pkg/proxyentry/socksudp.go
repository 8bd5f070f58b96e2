package proxyentry

import (
	"context"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	socks5 "github.com/things-go/go-socks5"
	"github.com/things-go/go-socks5/statute"
)

// SOCKS5 UDP ASSOCIATE (RFC 1928 section 7). The entry binds a UDP socket
// for the client and answers with its address; the client sends each
// datagram there behind a header naming its destination, and gets the
// answers behind a header naming their source (the name it sent to). Every
// destination is a flow to a UDP service (Dialer.DialUDP). The association
// lives as long as the client's TCP connection.
//
// Bounds: Config.UDPFlows destinations per association; udpFlowQueue
// datagrams waiting while a flow's service is dialed (more are dropped, as
// UDP may); fragmented datagrams (FRAG != 0) are dropped, as the RFC allows.

const (
	udpFlowQueue = 64
	maxUDPMsg    = 65535
	// maxFailedDests bounds the destinations remembered as failed, so that
	// a client retrying a bad name is logged once, not per datagram.
	maxFailedDests = 64
)

func (s *Server) socksAssociate(_ context.Context, w io.Writer, req *socks5.Request) error {
	c := w.(net.Conn)
	local, _ := c.LocalAddr().(*net.TCPAddr)
	remote, _ := c.RemoteAddr().(*net.TCPAddr)
	if local == nil || remote == nil {
		socks5.SendReply(w, statute.RepServerFailure, nil)
		return nil
	}
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: local.IP})
	if err != nil {
		socks5.SendReply(w, statute.RepServerFailure, nil)
		return err
	}
	if !s.track(pc) {
		socks5.SendReply(w, statute.RepServerFailure, nil)
		return nil
	}
	defer s.untrack(pc)
	defer pc.Close()
	if err := socks5.SendReply(w, statute.RepSuccess, pc.LocalAddr()); err != nil {
		return err
	}
	c.SetDeadline(time.Time{})
	a := &association{s: s, pc: pc, clientIP: remote.IP, flows: make(map[string]*udpFlow), failed: make(map[string]bool)}
	if p := req.RawDestAddr.Port; p != 0 { // the client said where it will send from
		a.clientPort = p
	}
	go func() {
		io.Copy(io.Discard, req.Reader) // until the client closes the TCP connection
		pc.Close()
	}()
	s.log.Debug("SOCKS5 UDP association", "client", remote.String(), "relay", pc.LocalAddr().String())
	a.run()
	return nil
}

type association struct {
	s          *Server
	pc         *net.UDPConn
	clientIP   net.IP
	clientPort int // 0 until the client's first datagram (or its request) fixes it

	mu     sync.Mutex
	client *net.UDPAddr
	flows  map[string]*udpFlow // by destination as the client wrote it
	failed map[string]bool     // destinations whose dial failed (logged once)
	wg     sync.WaitGroup
}

// run reads the client's datagrams until the association ends.
func (a *association) run() {
	defer func() {
		a.mu.Lock()
		for _, f := range a.flows {
			f.close()
		}
		a.mu.Unlock()
		a.wg.Wait()
	}()
	buf := make([]byte, maxUDPMsg)
	for {
		n, from, err := a.pc.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if !from.IP.Equal(a.clientIP) || a.clientPort != 0 && from.Port != a.clientPort {
			continue // not our client: the relay port is not an open door
		}
		a.clientPort = from.Port
		d, err := statute.ParseDatagram(buf[:n])
		if err != nil || d.Frag != 0 {
			continue
		}
		a.mu.Lock()
		a.client = from
		a.mu.Unlock()
		a.send(d)
	}
}

// send queues d's payload on its destination's flow, starting the flow.
func (a *association) send(d statute.Datagram) {
	host, port := requestHost(&d.DstAddr), d.DstAddr.Port
	key := net.JoinHostPort(host, strconv.Itoa(port))
	a.mu.Lock()
	f := a.flows[key]
	if f == nil {
		if len(a.flows) >= a.s.cfg.UDPFlows || a.failed[key] {
			a.mu.Unlock()
			return
		}
		hdr := statute.Datagram{DstAddr: d.DstAddr}
		f = &udpFlow{a: a, key: key, host: host, port: port, header: hdr.Header(), q: make(chan []byte, udpFlowQueue), done: make(chan struct{})}
		a.flows[key] = f
		a.wg.Add(1)
		go f.run()
	}
	a.mu.Unlock()
	select {
	case f.q <- append([]byte(nil), d.Data...):
	default: // the flow is still dialing, or its service is slow: dropped
	}
}

// fail forgets f and remembers its destination as failed.
func (a *association) fail(f *udpFlow, err error) {
	a.mu.Lock()
	delete(a.flows, f.key)
	if len(a.failed) < maxFailedDests {
		a.failed[f.key] = true
	}
	a.mu.Unlock()
	a.s.log.Info("proxy request failed", "client", a.clientIP.String(), "to", f.key, "proto", "udp", "err", err)
}

// udpFlow is one destination of an association.
type udpFlow struct {
	a          *association
	key, host  string
	port       int
	header     []byte // the SOCKS UDP header of answers: the destination as the client named it
	q          chan []byte
	done       chan struct{}
	once       sync.Once
	mu         sync.Mutex
	conn       DatagramConn // once dialed
	closedConn bool
}

func (f *udpFlow) close() {
	f.once.Do(func() { close(f.done) })
	f.mu.Lock()
	f.closedConn = true
	if f.conn != nil {
		f.conn.Close()
	}
	f.mu.Unlock()
}

func (f *udpFlow) run() {
	defer f.a.wg.Done()
	conn, err := f.dial()
	if err != nil {
		f.a.fail(f, err)
		return
	}
	f.mu.Lock()
	if f.closedConn {
		f.mu.Unlock()
		conn.Close()
		return
	}
	f.conn = conn
	f.mu.Unlock()
	f.a.wg.Add(1)
	go func() { // answers to the client
		defer f.a.wg.Done()
		buf := make([]byte, maxUDPMsg)
		out := make([]byte, 0, len(f.header)+maxUDPMsg)
		for {
			n, err := conn.ReadDatagram(buf)
			if err != nil {
				f.close()
				f.a.mu.Lock()
				if f.a.flows[f.key] == f {
					delete(f.a.flows, f.key) // a later datagram dials again
				}
				f.a.mu.Unlock()
				return
			}
			f.a.mu.Lock()
			to := f.a.client
			f.a.mu.Unlock()
			out = append(append(out[:0], f.header...), buf[:n]...)
			f.a.pc.WriteToUDP(out, to)
		}
	}()
	for {
		select {
		case b := <-f.q:
			if err := conn.WriteDatagram(b); err != nil {
				f.close()
				return
			}
		case <-f.done:
			return
		}
	}
}

func (f *udpFlow) dial() (DatagramConn, error) {
	s := f.a.s
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HandshakeTimeout)
	defer cancel()
	go func() { // the association may end while the service is dialed
		select {
		case <-f.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	t, mesh, err := s.cfg.target(f.host, f.port)
	switch {
	case err != nil:
		return nil, err
	case mesh:
		return s.d.DialUDP(ctx, t)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", f.key)
	if err != nil {
		return nil, err
	}
	return netDatagram{c}, nil
}

// netDatagram is a connected UDP socket as a DatagramConn (fallthrough).
type netDatagram struct{ net.Conn }

func (d netDatagram) ReadDatagram(b []byte) (int, error) { return d.Read(b) }
func (d netDatagram) WriteDatagram(b []byte) error {
	_, err := d.Write(b)
	return err
}
