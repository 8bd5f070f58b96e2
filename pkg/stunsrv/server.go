package stunsrv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// Defaults of Config.
const (
	DefaultRatePerIP  = 100   // answers per second and source IP, per socket
	DefaultMaxSources = 10000 // source IPs tracked per second and socket; beyond, new sources wait
	DefaultMaxRate    = 10000 // answers per second over all sockets and sources
)

// Config configures a Server. Zero values take defaults.
type Config struct {
	Logger *slog.Logger
	// RatePerIP is how many requests per second one source IP gets answered, per
	// socket; more are dropped and counted.
	RatePerIP int
	// MaxSources bounds the rate limiter's table: while it tracks this many source
	// IPs in the current second, requests from further IPs are dropped.
	MaxSources int
	// MaxRate bounds the answers per second of the whole server (all sockets,
	// all sources): at most MaxRate x 100 bytes per second leave the STUN
	// ports, however many addresses a spoofed flood comes from.
	MaxRate int
}

// Stats are a server's counters, summed over its sockets.
type Stats struct {
	Answered    uint64 // Binding success responses sent
	Malformed   uint64 // packets that are not STUN messages or are broken ones
	Ignored     uint64 // well-formed STUN messages other than Binding requests this server answers
	RateLimited uint64 // requests dropped by the per-source or the global limit
	SendErrors  uint64 // responses the socket refused
}

// Server answers STUN Binding requests on any number of UDP sockets.
type Server struct {
	cfg    Config
	log    *slog.Logger
	global globalLimiter
	now    func() time.Time // the rate limiters' clock

	answered, malformed, ignored, limited, sendErrs atomic.Uint64
}

// New returns a server; call Serve for each socket.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RatePerIP <= 0 {
		cfg.RatePerIP = DefaultRatePerIP
	}
	if cfg.MaxSources <= 0 {
		cfg.MaxSources = DefaultMaxSources
	}
	if cfg.MaxRate <= 0 {
		cfg.MaxRate = DefaultMaxRate
	}
	return &Server{cfg: cfg, log: cfg.Logger, global: globalLimiter{rate: cfg.MaxRate}, now: time.Now}
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Answered:    s.answered.Load(),
		Malformed:   s.malformed.Load(),
		Ignored:     s.ignored.Load(),
		RateLimited: s.limited.Load(),
		SendErrors:  s.sendErrs.Load(),
	}
}

// Serve answers requests on pc until ctx is done (it then closes pc and returns
// nil) or pc fails (it returns the error). Each Serve call has its own goroutine
// and per-source limiter; the global limit and the counters are shared.
func (s *Server) Serve(ctx context.Context, pc *net.UDPConn) error {
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	defer pc.Close()
	var (
		buf  = make([]byte, maxRequest+1)
		resp = make([]byte, 0, maxResponse)
		lim  = limiter{rate: s.cfg.RatePerIP, max: s.cfg.MaxSources}
	)
	for {
		n, src, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("stun %s: %w", pc.LocalAddr(), err)
			}
			// A transient error (ICMP-induced ECONNREFUSED and the like): go on.
			s.log.Debug("stun read error", "addr", pc.LocalAddr().String(), "err", err)
			continue
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		req, ok := s.admit(buf[:n], src, &lim)
		if !ok {
			continue
		}
		resp = appendResponse(resp, req, src)
		if _, err := pc.WriteToUDPAddrPort(resp, src); err != nil {
			s.sendErrs.Add(1)
			continue
		}
		s.answered.Add(1)
	}
}

// admit decides whether the datagram b from src gets an answer, counting why
// not: it must be a well-formed Binding request (parseRequest), within the
// size rule (never failing for what appendResponse builds, checked all the
// same), and within the per-source and then the global rate.
func (s *Server) admit(b []byte, src netip.AddrPort, lim *limiter) (request, bool) {
	req, v := parseRequest(b)
	switch v {
	case malformed:
		s.malformed.Add(1)
		return req, false
	case ignored:
		s.ignored.Add(1)
		return req, false
	}
	if !withinRule(len(b), responseSize(req, src), src.Addr().Is6()) {
		s.ignored.Add(1)
		return req, false
	}
	now := s.now()
	if !lim.allow(src.Addr(), now) || !s.global.allow(now) {
		s.limited.Add(1)
		return req, false
	}
	return req, true
}

// responseSize is the length of appendResponse's answer to req from src.
func responseSize(req request, src netip.AddrPort) int {
	n := headerSize + 4 + 8
	if src.Addr().Is6() {
		n += 12
	}
	if req.fingerprint {
		n += 8
	}
	return n
}
