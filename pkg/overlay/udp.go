package overlay

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// UDP services. A mapping of a UDP service listens on a local UDP port; every
// client address becomes a flow: one stream to the serving node, which sends the
// flow's datagrams from its own socket to the target. On the stream, datagrams
// are framed:
//
//	u16 length | length bytes
//
// A flow ends after udpIdleTimeout without a datagram either way (as a NAT's
// conntrack would), or when the stream ends.

const (
	udpIdleTimeout = 2 * time.Minute
	udpFlowQueue   = 256 // datagrams waiting for a flow's stream
	maxDatagram    = 65535
)

func writeDatagram(w io.Writer, buf, p []byte) error {
	if len(p) > maxDatagram {
		return fmt.Errorf("datagram of %d bytes exceeds %d", len(p), maxDatagram)
	}
	buf = binary.BigEndian.AppendUint16(buf[:0], uint16(len(p)))
	_, err := w.Write(append(buf, p...))
	return err
}

// readDatagram reads one framed datagram into buf (>= maxDatagram bytes).
func readDatagram(r io.Reader, buf []byte) ([]byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(h[:]))
	if _, err := io.ReadFull(r, buf[:n]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf[:n], nil
}

// idleClock tracks the last datagram of a flow.
type idleClock struct{ last atomic.Int64 }

func (c *idleClock) touch()              { c.last.Store(time.Now().UnixNano()) }
func (c *idleClock) idle() time.Duration { return time.Since(time.Unix(0, c.last.Load())) }

// startUDPMapping listens on a UDP port for a UDP service.
func (n *Node) startUDPMapping(req mappingReq, t target) (*mapping, error) {
	addr := net.JoinHostPort(req.Bind, fmt.Sprint(req.Port))
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, invalid("cannot listen on %s: %v", addr, err)
	}
	pc, err := net.ListenUDP("udp", ua)
	if err != nil {
		if errors.Is(err, errAddrInUse) {
			return nil, conflict("cannot listen on udp %s: the port is in use", addr)
		}
		return nil, invalid("cannot listen on udp %s: %v", addr, err)
	}
	req.Port = pc.LocalAddr().(*net.UDPAddr).Port
	m := n.newMapping(req, t)
	m.pc = pc
	m.flows = make(map[string]*udpFlow)
	if err := n.registerMapping(m); err != nil {
		pc.Close()
		return nil, err
	}
	go m.udpLoop()
	return m, nil
}

// udpFlow is one client address of a UDP mapping.
type udpFlow struct {
	m     *mapping
	key   string
	addr  *net.UDPAddr
	queue chan []byte
	clock idleClock
	done  chan struct{}
	once  sync.Once
}

func (f *udpFlow) close() { f.once.Do(func() { close(f.done) }) }

// udpLoop reads client datagrams and hands them to their flows.
func (m *mapping) udpLoop() {
	defer close(m.acceptEnd)
	buf := make([]byte, maxDatagram)
	for {
		nr, addr, err := m.pc.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			m.log.Warn("udp read failed", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		f := m.flowFor(addr)
		if f == nil {
			continue
		}
		select {
		case f.queue <- append([]byte(nil), buf[:nr]...):
		default: // the flow is behind: drop, as UDP would
		}
	}
}

// flowFor returns the flow of a client address, starting one when needed (nil
// when the mapping is at its flow limit or stopping).
func (m *mapping) flowFor(addr *net.UDPAddr) *udpFlow {
	key := addr.String()
	m.mu.Lock()
	defer m.mu.Unlock()
	if f, ok := m.flows[key]; ok {
		return f
	}
	if m.stopped || !m.lim.slots.tryAcquire() {
		if !m.stopped {
			m.failed.Add(1)
		}
		return nil
	}
	f := &udpFlow{m: m, key: key, addr: addr, queue: make(chan []byte, udpFlowQueue), done: make(chan struct{})}
	f.clock.touch()
	m.flows[key] = f
	m.total.Add(1)
	go f.run()
	return f
}

// run connects the flow to the service and moves datagrams both ways until the
// flow idles out, the stream ends or the mapping stops.
func (f *udpFlow) run() {
	m := f.m
	defer func() {
		m.mu.Lock()
		delete(m.flows, f.key)
		m.mu.Unlock()
		m.lim.slots.release()
	}()
	ctx, cancel := context.WithTimeout(m.n.runContext(), m.n.cfg.OpenTimeout)
	remote, err := m.n.dialTarget(ctx, m.t, netip.AddrPort{})
	cancel()
	if err != nil {
		m.noteErr(err)
		return
	}
	defer remote.Close()
	go func() { // service -> client
		defer f.close()
		buf := make([]byte, maxDatagram)
		for {
			p, err := readDatagram(remote, buf)
			if err != nil {
				var se *statusError
				switch {
				case errors.As(err, &se):
					m.noteErr(fmt.Errorf("refused by the serving node: %w", err))
				case errors.Is(err, errLinkDown):
					// The flow ends (the next datagram starts a new one);
					// UDP has no end to pass on.
					m.note("mapped UDP flow cut off", err, "client", f.key)
				}
				return
			}
			f.clock.touch()
			m.bytesIn.Add(uint64(len(p)))
			m.pc.WriteToUDP(p, f.addr)
		}
	}()
	wbuf := make([]byte, 0, maxDatagram+2)
	tick := time.NewTicker(udpIdleTimeout / 4)
	defer tick.Stop()
	for {
		select {
		case p := <-f.queue:
			f.clock.touch()
			m.bytesOut.Add(uint64(len(p)))
			if err := writeDatagram(remote, wbuf, p); err != nil {
				return
			}
		case <-tick.C:
			if f.clock.idle() > udpIdleTimeout {
				return
			}
		case <-f.done:
			return
		}
	}
}

// serveUDP connects a peer's flow stream to a UDP service target.
func (n *Node) serveUDP(l *link, st *chunkConn, ls *localService) {
	c, err := net.Dial("udp", ls.Target)
	if err != nil {
		ls.failed.Add(1)
		l.log.Warn("service target unreachable", "serveid", ls.ID, "target", ls.Target, "err", err)
		st.st.Write(marshalStatus(statusDialFailed, fmt.Sprintf("serveid %d: %v", ls.ID, err)))
		return
	}
	defer c.Close()
	if _, err := st.st.Write(marshalStatus(statusOK, "")); err != nil {
		return
	}
	var clock idleClock
	clock.touch()
	done := make(chan struct{})
	go func() { // target -> peer
		defer close(done)
		buf := make([]byte, maxDatagram)
		wbuf := make([]byte, 0, maxDatagram+2)
		for {
			c.SetReadDeadline(time.Now().Add(udpIdleTimeout / 4))
			nr, err := c.Read(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					if clock.idle() > udpIdleTimeout {
						return
					}
					continue
				}
				// ICMP port unreachable and the like: the target may come back.
				if clock.idle() > udpIdleTimeout {
					return
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
			clock.touch()
			ls.bytesOut.Add(uint64(nr))
			if writeDatagram(st, wbuf, buf[:nr]) != nil {
				return
			}
		}
	}()
	buf := make([]byte, maxDatagram)
	for {
		p, err := readDatagram(st, buf)
		if err != nil {
			break
		}
		clock.touch()
		ls.bytesIn.Add(uint64(len(p)))
		c.Write(p)
	}
	c.Close() // ends the reader
	<-done
}
