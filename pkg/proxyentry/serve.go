package proxyentry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	socks5 "github.com/things-go/go-socks5"
)

// Server is a running proxy entry: its listeners and the connections they
// serve.
type Server struct {
	cfg  Config
	d    Dialer
	log  *slog.Logger
	sock *socks5.Server
	http *http.Server

	socksLn, httpLn net.Listener
	slots           chan struct{} // one per connection served (Config.MaxConns)

	mu     sync.Mutex
	conns  map[io.Closer]struct{} // SOCKS connections and hijacked HTTP ones
	closed bool

	refused        uint64    // connections closed because every slot was busy
	lastRefusedLog time.Time // refusals are logged at most once a second
	wg             sync.WaitGroup
}

// Listen checks cfg and opens the listeners it names; Serve then serves them.
func Listen(cfg Config, d Dialer) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, d: d, log: cfg.Logger, slots: make(chan struct{}, cfg.MaxConns), conns: make(map[io.Closer]struct{})}
	if cfg.SOCKS5 != "" {
		if s.socksLn, err = net.Listen("tcp", cfg.SOCKS5); err != nil {
			return nil, fmt.Errorf("proxy entry: SOCKS5: %w", err)
		}
		s.sock = s.newSOCKS5()
	}
	if cfg.HTTPProxy != "" {
		if s.httpLn, err = net.Listen("tcp", cfg.HTTPProxy); err != nil {
			if s.socksLn != nil {
				s.socksLn.Close()
			}
			return nil, fmt.Errorf("proxy entry: HTTP proxy: %w", err)
		}
		s.http = s.newHTTPProxy()
	}
	return s, nil
}

// SOCKS5Addr and HTTPAddr are the listeners' addresses (nil when off).
func (s *Server) SOCKS5Addr() net.Addr { return addrOf(s.socksLn) }
func (s *Server) HTTPAddr() net.Addr   { return addrOf(s.httpLn) }

func addrOf(ln net.Listener) net.Addr {
	if ln == nil {
		return nil
	}
	return ln.Addr()
}

// Close closes the listeners of a Server that is not going to Serve (Serve
// closes them itself when its ctx ends).
func (s *Server) Close() {
	for _, ln := range []net.Listener{s.socksLn, s.httpLn} {
		if ln != nil {
			ln.Close()
		}
	}
}

// Serve serves until ctx ends, then closes the listeners and every
// connection, and returns when all are done.
func (s *Server) Serve(ctx context.Context) error {
	if s.socksLn != nil {
		s.log.Info("SOCKS5 proxy entry listening", "addr", s.socksLn.Addr().String(), "auth", s.cfg.Username != "")
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.acceptSOCKS(ctx) }()
	}
	if s.httpLn != nil {
		s.log.Info("HTTP proxy entry listening", "addr", s.httpLn.Addr().String(), "auth", s.cfg.Username != "")
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.http.Serve(&slotListener{Listener: s.httpLn, s: s}); err != nil && !errors.Is(err, http.ErrServerClosed) && ctx.Err() == nil {
				s.log.Error("HTTP proxy entry stopped", "err", err)
			}
		}()
	}
	<-ctx.Done()
	if s.socksLn != nil {
		s.socksLn.Close()
	}
	if s.http != nil {
		s.http.Close() // its listener and the connections it still owns
	}
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// track registers c to be closed when the server stops; it reports false
// (and closes c) when the server has stopped already.
func (s *Server) track(c io.Closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c io.Closer) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// tryAcquire takes a connection slot if one is free. A connection over the
// limit is closed at once (a client retries or fails fast; one that waits
// in our accept loop would hold a socket nobody serves).
func (s *Server) tryAcquire(c net.Conn, entry string) bool {
	select {
	case s.slots <- struct{}{}:
		return true
	default:
	}
	s.mu.Lock()
	s.refused++ // before the close, which the client may see first
	n, logNow := s.refused, time.Since(s.lastRefusedLog) >= time.Second
	if logNow {
		s.lastRefusedLog = time.Now()
	}
	s.mu.Unlock()
	c.Close()
	if logNow {
		s.log.Warn("proxy entry: connection refused, all slots busy", "entry", entry, "max_conns", s.cfg.MaxConns, "refused_total", n)
	}
	return false
}

func (s *Server) release() { <-s.slots }

// Open counts the connections the entries serve now.
func (s *Server) Open() int { return len(s.slots) }

// Refused counts the connections refused because every slot was busy.
func (s *Server) Refused() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

func (s *Server) acceptSOCKS(ctx context.Context) {
	var delay time.Duration
	for {
		c, err := s.socksLn.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second) // EMFILE and friends
			s.log.Warn("SOCKS5 proxy entry: accept failed", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if !s.tryAcquire(c, "socks5") {
			continue
		}
		if !s.track(c) {
			s.release()
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.release()
			defer s.untrack(c)
			c.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout)) // cleared once the request is served
			if err := s.sock.ServeConn(c); err != nil && ctx.Err() == nil {
				s.log.Debug("SOCKS5 connection ended", "client", c.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

// slotListener gives each accepted connection a slot, released when the
// connection closes; connections over the limit are closed at once.
type slotListener struct {
	net.Listener
	s *Server
}

func (l *slotListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.s.tryAcquire(c, "http") {
			return &slotConn{Conn: c, s: l.s}, nil
		}
	}
}

type slotConn struct {
	net.Conn
	s    *Server
	once sync.Once
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.s.release)
	return err
}

// splice copies between the client (reading from cr, which may hold bytes
// the client sent before its request was answered) and the service until both
// directions end. A clean end in one direction is passed on as a half-close;
// an error in either closes both.
func splice(client net.Conn, cr io.Reader, svc net.Conn) {
	done := make(chan struct{}, 2)
	copyHalf := func(src io.Reader, w net.Conn) {
		_, err := io.Copy(w, src)
		if err != nil {
			client.Close()
			svc.Close()
		} else if cw, ok := w.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			w.Close()
		}
		done <- struct{}{}
	}
	go copyHalf(cr, svc)
	copyHalf(svc, client)
	<-done
	client.Close()
	svc.Close()
}
