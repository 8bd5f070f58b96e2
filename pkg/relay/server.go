package relay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
)

// ServerConfig configures a rendezvous relay server. Zero values take defaults;
// for the limits marked so, a negative value means "no limit".
type ServerConfig struct {
	Logger           *slog.Logger
	MaxConns         int           // connections at once, handshaking included (default 10000)
	MaxConnsPerIP    int           // connections at once from one IP address (default 64; <0: no limit)
	MaxHandshaking   int           // connections in the handshake at once (default 1024); a newcomer beyond evicts the oldest
	MaxGroupMembers  int           // nodes in one group (default 1024; <0: no limit)
	HandshakeTimeout time.Duration // magic to Welcome (default 10 s)
	IdleTimeout      time.Duration // a client that sent nothing this long is closed (default 60 s)
	WriteTimeout     time.Duration // a client that takes no data this long is closed (default 10 s)
	SendQueueBytes   int           // per connection (default 2 MiB; one sender may use half); control frames may use twice that
	QueueMemory      int64         // datagram bytes all connections' queues hold together (default 256 MiB)
	RelayRate        int64         // bytes/s of datagrams one node may send (default 0: no limit)
	RelayBurst       int64         // token bucket depth of RelayRate (default RelayRate/4, at least one frame)
	GroupRelayRate   int64         // bytes/s of datagrams one group may send (default 0: no limit)
	ClashProbe       time.Duration // how long a node has to answer when another process connects with its key (default 3 s)
	// RefusalLogEvery is how often refused connections from one address are
	// logged (default a minute; negative: every one).
	RefusalLogEvery time.Duration

	// AuthKeys are the keys nodes must prove they hold (see proto.go); nil makes
	// an open server that admits any node. SetAuthKeys replaces them.
	AuthKeys *AuthKeys

	// STUNPorts are announced to every node in a ServerInfo frame right after
	// Welcome: the UDP ports of the rendezvous' STUN server, primary first. Zero
	// ports are dropped and at most MaxSTUNPorts are kept; none means no frame.
	STUNPorts []uint16
}

// Defaults of the server's limits.
const (
	DefaultMaxConnsPerIP   = 64
	DefaultMaxHandshaking  = 1024
	DefaultMaxGroupMembers = 1024
	DefaultWriteTimeout    = 10 * time.Second
	DefaultQueueMemory     = 256 << 20
	DefaultClashProbe      = 3 * time.Second
)

// ServerStats are a server's counters.
type ServerStats struct {
	Groups            int    // namespaces (group keys) with at least one member
	Conns             int    // nodes connected (handshake done)
	Handshaking       int    // connections still in the handshake
	FramesRelayed     uint64 // datagrams forwarded
	BytesRelayed      uint64 // datagram payload bytes forwarded
	DroppedQueueFull  uint64 // datagrams dropped because the receiver's queue was full
	DroppedFairShare  uint64 // datagrams dropped because their sender held its share of the receiver's queue
	DroppedMemory     uint64 // datagrams dropped because all queues together held QueueMemory
	DroppedUnknownDst uint64 // datagrams to a node not in the sender's group
	Rejected          uint64 // connections refused before joining (full, bad magic, bad proof, no key...)
	RejectedAuth      uint64 // of those: no, unknown, expired or misused auth key
	Evicted           uint64 // handshaking connections closed to make room (MaxHandshaking)
	Clashes           uint64 // nodes refused because their key was connected from a live process
	QueuedBytes       int64  // datagram bytes in all queues now
	// RejectedBy counts Rejected by the Code the client was told (auth key
	// problems: CodeNoAuthKey, CodeBadAuthKey, CodeAuthKeyExpired, ...); codes
	// never used are absent.
	RejectedBy map[Code]uint64
	// HandshakeErrors are rejected connections that got no code: the
	// handshake timed out or the client went away during it.
	HandshakeErrors uint64
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
	auth             atomic.Pointer[AuthKeys] // nil: open
	budget           budget
	refusals         refusalLog

	mu          sync.Mutex
	groups      map[identity.GroupKey]*group
	names       map[identity.GroupID]map[*group]struct{} // namespaces by group name
	conns       map[*serverConn]struct{}                 // every accepted connection, handshaking included
	handshaking map[*serverConn]struct{}
	perIP       map[netip.Addr]int
	nextID      uint64
	closed      bool           // Serve is shutting down: no more connections
	wg          sync.WaitGroup // connection goroutines; Add only under mu while !closed

	nconns    atomic.Int64 // accepted and not yet finished
	rejecting atomic.Int32 // goroutines telling a client that it is refused

	framesRelayed, bytesRelayed            atomic.Uint64
	dropQueueFull, dropUnfair, dropMemory  atomic.Uint64
	dropUnknownDst, rejected, rejectedAuth atomic.Uint64
	evicted, clashes                       atomic.Uint64
	rejectedBy                             [maxCode]atomic.Uint64
	handshakeErrs                          atomic.Uint64
}

// serverWriteBufSize is the size of the write buffer a server connection borrows
// while it has something to send (read buffers: server_reader.go).
const (
	serverWriteBufSize = 64 << 10
	maxRejecting       = 64 // concurrent refusals being written; beyond, close at once
)

// NewServer returns a server; call Serve to run it.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.MaxConns, DefaultMaxConns)
	def(&cfg.MaxConnsPerIP, DefaultMaxConnsPerIP)
	def(&cfg.MaxHandshaking, DefaultMaxHandshaking)
	def(&cfg.MaxGroupMembers, DefaultMaxGroupMembers)
	def(&cfg.SendQueueBytes, DefaultSendQueueBytes)
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defd(&cfg.HandshakeTimeout, DefaultHandshakeTimeout)
	defd(&cfg.IdleTimeout, DefaultIdleTimeout)
	defd(&cfg.WriteTimeout, DefaultWriteTimeout)
	defd(&cfg.ClashProbe, DefaultClashProbe)
	if cfg.RefusalLogEvery == 0 {
		cfg.RefusalLogEvery = time.Minute
	}
	if cfg.MaxConns < 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxHandshaking < 0 {
		cfg.MaxHandshaking = cfg.MaxConns
	}
	if cfg.SendQueueBytes < headerLen+MaxFrameLen {
		cfg.SendQueueBytes = headerLen + MaxFrameLen // a queue must hold the largest frame
	}
	if cfg.QueueMemory <= 0 {
		cfg.QueueMemory = DefaultQueueMemory
	}
	if cfg.RelayRate > 0 && cfg.RelayBurst <= 0 {
		cfg.RelayBurst = cfg.RelayRate / 4
	}
	if cfg.RelayBurst < headerLen+MaxFrameLen {
		cfg.RelayBurst = headerLen + MaxFrameLen // WaitN cannot wait for more than the burst
	}
	s := &Server{
		cfg:         cfg,
		log:         cfg.Logger,
		groups:      make(map[identity.GroupKey]*group),
		names:       make(map[identity.GroupID]map[*group]struct{}),
		conns:       make(map[*serverConn]struct{}),
		handshaking: make(map[*serverConn]struct{}),
		perIP:       make(map[netip.Addr]int),
		budget:      budget{limit: cfg.QueueMemory},
		refusals:    refusalLog{every: cfg.RefusalLogEvery},
	}
	s.auth.Store(cfg.AuthKeys)
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
// ErrServerClosed at once. While it runs, nodes whose auth key expires are
// disconnected within a minute.
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
	go s.expiryLoop(ctx)

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
	s.closeAll(CodeShuttingDown, msgShuttingDown)
	s.wg.Wait()
	return err
}

// msgShuttingDown is the Error that connections get when the server stops.
const msgShuttingDown = "server shutting down"

// ServeConn serves one connection that the caller accepted itself (a WebSocket
// from cmd/rendezvous' HTTP listener, say) exactly like one that Serve accepted:
// the same handshake, groups, limits, timeouts and shutdown. It blocks until the
// connection ends, and then nc is closed. When ctx is done first the connection
// is closed as at shutdown (Error "server shutting down").
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
	stop := context.AfterFunc(ctx, func() { c.closeWithError(CodeShuttingDown, msgShuttingDown, time.Second) })
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
		DroppedFairShare:  s.dropUnfair.Load(),
		DroppedMemory:     s.dropMemory.Load(),
		DroppedUnknownDst: s.dropUnknownDst.Load(),
		Rejected:          s.rejected.Load(),
		RejectedAuth:      s.rejectedAuth.Load(),
		Evicted:           s.evicted.Load(),
		Clashes:           s.clashes.Load(),
		QueuedBytes:       s.budget.used.Load(),
		RejectedBy:        s.rejectedByCode(),
		HandshakeErrors:   s.handshakeErrs.Load(),
	}
}

// accept starts serving nc on a goroutine of its own, or refuses it.
func (s *Server) accept(nc net.Conn) {
	if c, _ := s.admit(nc, false); c != nil {
		go c.run()
	}
}

// admit registers nc as a connection whose run the caller must call (s.wg counts
// it already). It returns nil when the server is full or nc's address has its
// share of connections (nc is told so and closed: by the caller's goroutine when
// wait, else in the background) or when the server is closed (nc is closed; the
// error is ErrServerClosed). Past MaxHandshaking it evicts the connection that has
// been handshaking longest: slow or stalled handshakes cannot lock real nodes out.
func (s *Server) admit(nc net.Conn, wait bool) (*serverConn, error) {
	if n := s.nconns.Add(1); n > int64(s.cfg.MaxConns) {
		s.nconns.Add(-1)
		s.refuse(nc, wait, CodeServerFull, fmt.Sprintf("server full (%d connections); try again later", s.cfg.MaxConns))
		return nil, nil
	}
	ip := remoteIP(nc)
	c := newServerConn(s, nc, ip)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.nconns.Add(-1)
		nc.Close()
		return nil, ErrServerClosed
	}
	if s.cfg.MaxConnsPerIP > 0 && ip.IsValid() && s.perIP[ip] >= s.cfg.MaxConnsPerIP {
		s.mu.Unlock()
		s.nconns.Add(-1)
		s.refuse(nc, wait, CodeTooManyFromAddr, fmt.Sprintf("too many connections from %s (the limit is %d per address)", ip, s.cfg.MaxConnsPerIP))
		return nil, nil
	}
	var evict *serverConn
	if len(s.handshaking) >= s.cfg.MaxHandshaking {
		for h := range s.handshaking {
			if evict == nil || h.start.Before(evict.start) {
				evict = h
			}
		}
		delete(s.handshaking, evict)
	}
	s.nextID++
	c.id = s.nextID
	if ip.IsValid() {
		s.perIP[ip]++
	}
	s.conns[c] = struct{}{}
	s.handshaking[c] = struct{}{}
	s.wg.Add(1) // under mu, before closed is set: Serve's Wait cannot miss it
	s.mu.Unlock()
	if evict != nil {
		s.evicted.Add(1)
		evict.evicted.Store(true)
		evict.nc.Close() // its handshake fails and it logs why
	}
	return c, nil
}

// remoteIP is the IP address nc comes from (invalid for non-IP connections).
func remoteIP(nc net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// refuse tells a client why it is refused before its handshake starts, with a
// bound on how many such replies run at once. Unless wait, it does not block:
// the reply is written by a goroutine of its own, so that the accept loop goes on.
func (s *Server) refuse(nc net.Conn, wait bool, code Code, msg string) {
	s.rejected.Add(1)
	s.countRejection(code)
	s.refusals.log(s.log, remoteIP(nc), "connection rejected", "remote", nc.RemoteAddr().String(), "reason", msg)
	if s.rejecting.Add(1) > maxRejecting {
		s.rejecting.Add(-1)
		nc.Close()
		return
	}
	reply := func() {
		defer s.rejecting.Add(-1)
		nc.SetDeadline(time.Now().Add(2 * time.Second))
		nc.Write(appendError(nil, code, msg))
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

// closeAll closes every connection: joined ones get an Error first.
func (s *Server) closeAll(code Code, reason string) {
	s.mu.Lock()
	conns := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeWithError(code, reason, time.Second)
	}
}

// handshakeDone takes c off the handshaking list.
func (s *Server) handshakeDone(c *serverConn) {
	s.mu.Lock()
	delete(s.handshaking, c)
	s.mu.Unlock()
}

func (s *Server) forget(c *serverConn) {
	s.mu.Lock()
	delete(s.conns, c)
	delete(s.handshaking, c)
	if c.ip.IsValid() {
		if s.perIP[c.ip] <= 1 {
			delete(s.perIP, c.ip)
		} else {
			s.perIP[c.ip]--
		}
	}
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
