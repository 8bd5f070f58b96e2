package relay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// clientSession is one established connection to the rendezvous.
type clientSession struct {
	c     *Client
	nc    net.Conn
	q     sendQueue
	start time.Time
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup

	errMu sync.Mutex
	err   error // why the writer side gave up, if it did
}

// clientWriteBufSize is the client's bufio.Writer size; its reader holds a whole
// frame so that a Recv payload can be handed to OnPacket without a copy.
const clientWriteBufSize = 64 << 10

// connectOnce dials, handshakes and serves one connection until it fails or ctx is
// done. connectedAt is zero when the handshake did not complete.
func (c *Client) connectOnce(ctx context.Context) (connectedAt time.Time, err error) {
	dctx, cancel := context.WithTimeout(ctx, DefaultHandshakeTimeout)
	nc, err := c.cfg.Transport.Dial(dctx, c.cfg.Addr)
	cancel()
	if err != nil {
		return time.Time{}, err
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()

	br := bufio.NewReaderSize(nc, headerLen+MaxFrameLen)
	nc.SetDeadline(time.Now().Add(DefaultHandshakeTimeout))
	rtt, err := c.handshake(nc, br)
	if err != nil {
		return time.Time{}, err
	}
	nc.SetDeadline(time.Time{})
	limitUnsent(nc)

	s := &clientSession{c: c, nc: nc, q: newSendQueue(&c.pool, c.cfg.SendQueueBytes), start: time.Now(), done: make(chan struct{})}
	connectedAt = s.start
	c.pres.resync()
	c.info.Store(nil) // this connection's server announces its own right after Welcome
	c.rtt.Store(int64(rtt))
	c.sess.Store(s)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.writeLoop()
	}()
	go func() {
		defer s.wg.Done()
		s.pingLoop()
	}()
	c.log.Info("connected to rendezvous", "transport", c.cfg.Transport.Name(), "rtt", rtt.Round(10*time.Microsecond))
	c.setConnected(true, rtt, nil)

	err = s.readLoop(br)
	c.sess.CompareAndSwap(s, nil)
	s.close()
	s.wg.Wait()
	if werr := s.failure(); werr != nil && errors.Is(err, net.ErrClosed) {
		err = werr // the writer gave up first and closed the connection
	}
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	c.setConnected(false, 0, err)
	return connectedAt, err
}

// handshake runs the client side of the handshake (see proto.go) on nc and
// returns the round trip from magic to ServerHello.
func (c *Client) handshake(nc net.Conn, br *bufio.Reader) (time.Duration, error) {
	start := time.Now()
	if _, err := nc.Write([]byte(Magic)); err != nil {
		return 0, fmt.Errorf("handshake: send magic: %w", err)
	}
	t, body, err := readHandshakeFrame(br)
	if err != nil {
		return 0, err
	}
	rtt := time.Since(start)
	var sh serverHello
	switch t {
	case frameServerHello:
		if sh, err = parseServerHello(body); err != nil {
			return 0, err
		}
	case frameError:
		return 0, rejected(body)
	default:
		return 0, protoErr("handshake: expected a ServerHello, got %v", t)
	}
	ch, err := c.hello(&sh)
	if err != nil {
		return 0, err
	}
	if _, err := nc.Write(appendClientHello(make([]byte, 0, headerLen+clientHelloLen), ch)); err != nil {
		return 0, fmt.Errorf("handshake: send ClientHello: %w", err)
	}

	t, body, err = readHandshakeFrame(br)
	if err != nil {
		return 0, err
	}
	switch t {
	case frameWelcome:
		return rtt, parseEmpty(t, body)
	case frameError:
		return 0, rejected(body)
	}
	return 0, protoErr("handshake: expected Welcome, got %v", t)
}

// hello builds the ClientHello that answers sh: node proof, group signature and,
// with an auth key, the auth proof.
func (c *Client) hello(sh *serverHello) (clientHello, error) {
	dh, err := c.cfg.Key.SharedSecret(sh.ephPub)
	if err != nil {
		return clientHello{}, protoErr("handshake: the server's ephemeral key is a low-order point")
	}
	h := clientHello{version: ProtocolVersion, key: c.pub, instance: c.instance,
		group: c.cfg.Group.ID, groupKey: c.cfg.Group.Key}
	h.proof = computeProof(dh, &sh.challenge, &h)
	if h.groupSig, err = c.cfg.Group.SignAdmission(admissionMessage(&sh.challenge, &h.key, &h.group)); err != nil {
		return clientHello{}, fmt.Errorf("handshake: %w", err)
	}
	if k := c.cfg.AuthKey; k != nil {
		h.authID = k.ID()
		h.auth = computeAuthProof((*[AuthKeySize]byte)(k), &sh.challenge, &h)
	}
	return h, nil
}

// readHandshakeFrame reads a handshake answer and explains the usual ways a wrong
// address fails.
func readHandshakeFrame(br *bufio.Reader) (frameType, []byte, error) {
	if first, _ := br.Peek(5); len(first) >= 2 {
		switch {
		case (first[0] == 0x15 || first[0] == 0x16) && first[1] == 0x03:
			return 0, nil, protoErr("handshake: the server answered with TLS; use the TLS transport")
		case bytes.HasPrefix(first, []byte("HTTP/")):
			return 0, nil, protoErr("handshake: the server answered with HTTP; this is not a rendezvous relay port (a --ws-listen endpoint needs the websocket transport)")
		}
	}
	t, body, err := readFrame(br, MaxFrameLen)
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, ErrProtocol):
			return t, nil, fmt.Errorf("handshake: %w", err)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return t, nil, errors.New("handshake: the rendezvous closed the connection (a TLS-only rendezvous does this to a plain TCP client)")
		case errors.As(err, &ne) && ne.Timeout():
			return t, nil, fmt.Errorf("handshake: no answer from the rendezvous within %v", DefaultHandshakeTimeout)
		}
		return t, nil, fmt.Errorf("handshake: %w", err)
	}
	return t, body, nil
}

func rejected(body []byte) error {
	code, msg, err := parseError(body)
	if err != nil {
		return err
	}
	return &RejectedError{Code: code, Message: msg}
}

// close ends the session; it is safe to call more than once.
func (s *clientSession) close() {
	s.once.Do(func() {
		s.nc.Close()
		s.q.close()
		close(s.done)
	})
}

// fail ends the session for a reason found outside the read loop.
func (s *clientSession) fail(err error) {
	s.errMu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.errMu.Unlock()
	s.close() // the read loop then returns, and connectOnce reports err
}

func (s *clientSession) failure() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

func (s *clientSession) writeLoop() {
	bw := bufio.NewWriterSize(s.nc, clientWriteBufSize)
	w := connWriter{nc: s.nc, q: &s.q, timeout: s.c.deadAfter(), bw: bw, onWritten: s.c.countOut}
	if err := w.run(s.done); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			err = fmt.Errorf("the rendezvous took no data for %v: connection is stuck", s.c.deadAfter())
		}
		s.fail(fmt.Errorf("write to the rendezvous: %w", err))
	}
}

// countOut counts a datagram frame the writer sent.
func (c *Client) countOut(fb *frameBuf) {
	if frameType(fb.b[0]) == frameSend {
		c.pktsOut.Add(1)
		c.bytesOut.Add(uint64(len(fb.b) - headerLen - keyLen))
	}
}

func (s *clientSession) pingLoop() {
	t := time.NewTicker(s.c.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		var p [pingLen]byte
		binary.BigEndian.PutUint64(p[:], uint64(time.Since(s.start)))
		s.sendControl(framePing, p)
	}
}

// sendControl queues a Ping or Pong. A queue so full that even control frames do
// not fit means the connection is stuck: close it.
func (s *clientSession) sendControl(t frameType, p [pingLen]byte) {
	fb := s.c.pool.get(headerLen + pingLen)
	fb.b = appendPing(fb.b[:0], t, p)
	switch s.q.push(fb, true) {
	case pushed:
	case pushOverflow:
		s.c.pool.put(fb)
		s.fail(errors.New("send queue overflow: the rendezvous does not take our data"))
	default:
		s.c.pool.put(fb)
	}
}

// readLoop handles the server's frames until the connection fails.
func (s *clientSession) readLoop(br *bufio.Reader) error {
	c := s.c
	dead := c.deadAfter()
	var deadlineSet time.Time
	for {
		if !frameBuffered(br) { // as in the server's read loop
			if now := time.Now(); now.Sub(deadlineSet) > dead/8 {
				s.nc.SetReadDeadline(now.Add(dead))
				deadlineSet = now
			}
		}
		t, body, err := readFrame(br, MaxFrameLen)
		if err != nil {
			return s.readErr(err, dead)
		}
		switch t {
		case frameRecv:
			src, payload, err := parseDatagram(t, body)
			if err != nil {
				return err
			}
			c.pktsIn.Add(1)
			c.bytesIn.Add(uint64(len(payload)))
			if c.cfg.OnPacket != nil {
				c.cfg.OnPacket(src, payload, recvBuffered(br, &src))
			}
		case framePeerPresent:
			k, err := parsePeerPresent(body)
			if err != nil {
				return err
			}
			c.emit(c.pres.present(k))
		case framePeerGone:
			k, err := parsePeerGone(body)
			if err != nil {
				return err
			}
			c.emit(c.pres.gone(k))
		case framePeersEnd:
			if err := parseEmpty(t, body); err != nil {
				return err
			}
			c.emit(c.pres.end())
		case framePing, framePong:
			p, err := parsePing(t, body)
			if err != nil {
				return err
			}
			if t == framePing {
				s.sendControl(framePong, p)
			} else if rtt := time.Since(s.start) - time.Duration(binary.BigEndian.Uint64(p[:])); rtt >= 0 {
				c.rtt.Store(int64(rtt))
			}
		case frameError:
			code, msg, err := parseError(body)
			if err != nil {
				return err
			}
			return &ClosedByServerError{Code: code, Message: msg}
		case frameServerInfo:
			info, _, err := parseServerInfo(body)
			if err != nil {
				return err
			}
			c.info.Store(&info)
		case frameGroupInfo:
			gi, err := parseGroupInfo(body)
			if err != nil {
				return err
			}
			c.mu.Lock()
			c.others = gi.Others
			c.mu.Unlock()
			if c.cfg.OnGroupInfo != nil {
				c.cfg.OnGroupInfo(gi)
			}
		default:
			if !t.optional() {
				return protoErr("unexpected %v frame from the rendezvous", t)
			}
		}
	}
}

func (s *clientSession) readErr(err error, dead time.Duration) error {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("the rendezvous closed the connection")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the rendezvous closed the connection in the middle of a frame")
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("no frame from the rendezvous for %v: connection is dead", dead)
	}
	return err
}
