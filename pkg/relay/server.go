package relay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
)

// ServerConfig configures a rendezvous relay server. Zero values take defaults.
type ServerConfig struct {
	Logger           *slog.Logger
	MaxConns         int           // connections at once, handshaking included (default 10000)
	HandshakeTimeout time.Duration // magic to Welcome (default 10 s)
	IdleTimeout      time.Duration // a client that sent nothing this long is closed (default 60 s)
	SendQueueBytes   int           // per connection (default 1 MiB); control frames may use twice that

	// STUNPorts are announced to every node in a ServerInfo frame right after
	// Welcome: the UDP ports of the rendezvous' STUN server, primary first. Zero
	// ports are dropped and at most MaxSTUNPorts are kept; none means no frame.
	STUNPorts []uint16
}

// ServerStats are a server's counters.
type ServerStats struct {
	Groups            int    // groups with at least one member
	Conns             int    // nodes connected (handshake done)
	Handshaking       int    // connections still in the handshake
	FramesRelayed     uint64 // datagrams forwarded
	BytesRelayed      uint64 // datagram payload bytes forwarded
	DroppedQueueFull  uint64 // datagrams dropped because the receiver's queue was full
	DroppedUnknownDst uint64 // datagrams to a node not in the sender's group
	Rejected          uint64 // connections refused before joining (full, bad magic, bad proof...)
}

// Server is the relay half of the rendezvous: it authenticates nodes, keeps the
// members of each group, tells members about each other and forwards datagrams
// between members of one group.
type Server struct {
	cfg  ServerConfig
	log  *slog.Logger
	pool bufPool
	info []byte // the encoded ServerInfo frame every joining node gets; nil = none
	// writers lends bufio.Writers to connections that have something to send,
	// readers large bufio.Readers to connections receiving a lot.
	writers, readers sync.Pool

	mu     sync.Mutex
	groups map[identity.GroupID]*group
	conns  map[*serverConn]struct{} // every accepted connection, handshaking included
	closed bool                     // Serve is shutting down: no more connections
	wg     sync.WaitGroup           // connection goroutines; Add only under mu while !closed

	nconns    atomic.Int64 // accepted and not yet finished
	rejecting atomic.Int32 // goroutines telling a client that the server is full

	framesRelayed, bytesRelayed   atomic.Uint64
	dropQueueFull, dropUnknownDst atomic.Uint64
	rejected                      atomic.Uint64
}

// serverWriteBufSize is the size of the write buffer a server connection borrows
// while it has something to send (read buffers: server_reader.go).
const (
	serverWriteBufSize = 64 << 10
	maxRejecting       = 64 // concurrent "server full" replies; beyond, close at once
)

// NewServer returns a server; call Serve to run it.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.SendQueueBytes <= 0 {
		cfg.SendQueueBytes = DefaultSendQueueBytes
	}
	if cfg.SendQueueBytes < headerLen+MaxFrameLen {
		cfg.SendQueueBytes = headerLen + MaxFrameLen // a queue must hold the largest frame
	}
	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger,
		groups: make(map[identity.GroupID]*group),
		conns:  make(map[*serverConn]struct{}),
	}
	var info ServerInfo
	for _, p := range cfg.STUNPorts {
		if p != 0 && len(info.STUNPorts) < MaxSTUNPorts {
			info.STUNPorts = append(info.STUNPorts, p)
		}
	}
	if len(info.STUNPorts) > 0 {
		s.info = appendServerInfo(nil, info)
	}
	s.writers.New = func() any { return bufio.NewWriterSize(nil, serverWriteBufSize) }
	s.readers.New = func() any { return bufio.NewReaderSize(nil, bigReadBuf) }
	return s
}

// Serve accepts connections on ln until ctx is done (it then returns nil) or ln
// fails (it returns the error). Either way it closes ln and every connection,
// those handed over by ServeConn included, and waits for their goroutines before
// returning. The server then stays closed: a Server is served once, by one Serve
// call (more listeners hand their connections to ServeConn); a later Serve returns
// ErrServerClosed at once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		ln.Close()
		return ErrServerClosed
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	var err error
	var delay time.Duration
	for {
		nc, aerr := ln.Accept()
		if aerr == nil {
			delay = 0
			s.accept(nc)
			continue
		}
		if ctx.Err() != nil {
			break
		}
		if errors.Is(aerr, net.ErrClosed) {
			err = fmt.Errorf("accept on %s: %w", ln.Addr(), aerr)
			break
		}
		// Out of file descriptors and the like: wait and retry, as net/http does.
		delay = min(max(2*delay, 5*time.Millisecond), time.Second)
		s.log.Warn("accept failed; retrying", "addr", ln.Addr().String(), "err", aerr, "retry_in", delay)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
	}
	ln.Close()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.closeAll(msgShuttingDown)
	s.wg.Wait()
	return err
}

// msgShuttingDown is the Error that connections get when the server stops.
const msgShuttingDown = "server shutting down"

// ServeConn serves one connection that the caller accepted itself (a WebSocket
// from cmd/rendezvous' HTTP listener, say) exactly like one that Serve accepted:
// the same handshake, groups, MaxConns, timeouts and shutdown. It blocks until
// the connection ends, and then nc is closed. When ctx is done first the
// connection is closed as at shutdown (Error "server shutting down").
//
// It returns ErrServerClosed, after closing nc, when Serve has already returned
// or is shutting down; otherwise nil, however the connection ended (the server
// logs why, as for any connection). ServeConn may be called from any number of
// goroutines, before or while Serve runs.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) error {
	c, err := s.admit(nc, true)
	if c == nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { c.closeWithError(msgShuttingDown, time.Second) })
	defer stop()
	c.run()
	return nil
}

// Stats returns the server's counters.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	groups, all := len(s.groups), len(s.conns)
	joined := 0
	for _, g := range s.groups {
		joined += g.size()
	}
	s.mu.Unlock()
	return ServerStats{
		Groups:            groups,
		Conns:             joined,
		Handshaking:       max(all-joined, 0),
		FramesRelayed:     s.framesRelayed.Load(),
		BytesRelayed:      s.bytesRelayed.Load(),
		DroppedQueueFull:  s.dropQueueFull.Load(),
		DroppedUnknownDst: s.dropUnknownDst.Load(),
		Rejected:          s.rejected.Load(),
	}
}

// accept starts serving nc on a goroutine of its own, or refuses it.
func (s *Server) accept(nc net.Conn) {
	if c, _ := s.admit(nc, false); c != nil {
		go c.run()
	}
}

// admit registers nc as a connection whose run the caller must call (s.wg counts
// it already). It returns nil when the server is full (nc is told so and closed:
// by the caller's goroutine when wait, else in the background) or closed (nc is
// closed; the error is ErrServerClosed).
func (s *Server) admit(nc net.Conn, wait bool) (*serverConn, error) {
	if n := s.nconns.Add(1); n > int64(s.cfg.MaxConns) {
		s.nconns.Add(-1)
		s.rejectFull(nc, wait)
		return nil, nil
	}
	c := newServerConn(s, nc)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.nconns.Add(-1)
		nc.Close()
		return nil, ErrServerClosed
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1) // under mu, before closed is set: Serve's Wait cannot miss it
	s.mu.Unlock()
	return c, nil
}

// rejectFull tells a client that the server is full, with a bound on how many
// such replies run at once. Unless wait, it does not block: the reply is written
// by a goroutine of its own, so that the accept loop goes on.
func (s *Server) rejectFull(nc net.Conn, wait bool) {
	s.rejected.Add(1)
	remote := nc.RemoteAddr().String()
	s.log.Warn("connection rejected", "remote", remote, "reason",
		fmt.Sprintf("server full (%d connections, --max-conns)", s.cfg.MaxConns))
	if s.rejecting.Add(1) > maxRejecting {
		s.rejecting.Add(-1)
		nc.Close()
		return
	}
	reply := func() {
		defer s.rejecting.Add(-1)
		nc.SetDeadline(time.Now().Add(2 * time.Second))
		nc.Write(appendError(nil, fmt.Sprintf("server full (%d connections); try again later", s.cfg.MaxConns)))
		closeGracefully(nc)
	}
	if wait {
		reply()
		return
	}
	s.wg.Add(1) // only Serve's accept loop gets here, before its Wait
	go func() {
		defer s.wg.Done()
		reply()
	}()
}

// closeAll closes every connection: joined ones get an Error with reason first.
func (s *Server) closeAll(reason string) {
	s.mu.Lock()
	conns := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeWithError(reason, time.Second)
	}
}

func (s *Server) forget(c *serverConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.nconns.Add(-1)
}

// closeGracefully half-closes nc, drains what the client still sends for a moment
// and closes it, so that an Error written just before is read by the client rather
// than lost to a reset caused by unread data.
func closeGracefully(nc net.Conn) {
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		nc.SetDeadline(time.Now().Add(time.Second))
		if cw.CloseWrite() == nil {
			var buf [512]byte
			for total := 0; total < 64<<10; {
				n, err := nc.Read(buf[:])
				total += n
				if err != nil {
					break
				}
			}
		}
	}
	nc.Close()
}
