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

	"github.com/pion/stun"
)

// Defaults of Config.
const (
	DefaultRatePerIP  = 100   // answers per second and source IP
	DefaultMaxSources = 10000 // source IPs tracked per second; beyond, new sources wait
)

// maxRequest is the largest request read; Binding requests are tens of bytes.
const maxRequest = 1500

// Config configures a Server. Zero values take defaults.
type Config struct {
	Logger *slog.Logger
	// RatePerIP is how many requests per second one source IP gets answered, per
	// socket; more are dropped and counted.
	RatePerIP int
	// MaxSources bounds the rate limiter's table: while it tracks this many source
	// IPs in the current second, requests from further IPs are dropped.
	MaxSources int
}

// Stats are a server's counters, summed over its sockets.
type Stats struct {
	Answered    uint64 // Binding success responses sent
	Malformed   uint64 // packets that are not STUN messages or fail to decode
	Ignored     uint64 // valid STUN messages other than Binding requests
	RateLimited uint64 // requests dropped by the per-source limit
	SendErrors  uint64 // responses the socket refused
}

// Server answers STUN Binding requests on any number of UDP sockets.
type Server struct {
	cfg Config
	log *slog.Logger

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
	return &Server{cfg: cfg, log: cfg.Logger}
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
// and rate limiter; the counters are shared.
func (s *Server) Serve(ctx context.Context, pc *net.UDPConn) error {
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	defer pc.Close()
	var (
		buf  = make([]byte, maxRequest)
		req  = new(stun.Message)
		resp = new(stun.Message)
		lim  = limiter{rate: s.cfg.RatePerIP, max: s.cfg.MaxSources}
		ipb  [16]byte
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
		if !s.parse(req, buf[:n]) {
			continue
		}
		if !lim.allow(src.Addr(), time.Now()) {
			s.limited.Add(1)
			continue
		}
		buildResponse(resp, req.TransactionID, src, ipb[:])
		if _, err := pc.WriteToUDPAddrPort(resp.Raw, src); err != nil {
			s.sendErrs.Add(1)
			continue
		}
		s.answered.Add(1)
	}
}

// parse decodes b into req and reports whether it is a Binding request worth
// answering, counting what it is not.
func (s *Server) parse(req *stun.Message, b []byte) bool {
	if !stun.IsMessage(b) || b[0]&0xc0 != 0 {
		s.malformed.Add(1)
		return false
	}
	req.Raw = append(req.Raw[:0], b...)
	if err := req.Decode(); err != nil {
		s.malformed.Add(1)
		return false
	}
	if req.Type != stun.BindingRequest {
		s.ignored.Add(1)
		return false
	}
	if req.Contains(stun.AttrFingerprint) && stun.Fingerprint.Check(req) != nil {
		s.malformed.Add(1)
		return false
	}
	return true
}

// buildResponse encodes a Binding success response for src into resp (reusing
// its buffer): XOR-MAPPED-ADDRESS and FINGERPRINT.
func buildResponse(resp *stun.Message, tid [stun.TransactionIDSize]byte, src netip.AddrPort, ipb []byte) {
	resp.Reset()
	resp.Type = stun.BindingSuccess
	resp.TransactionID = tid
	resp.WriteHeader()
	ip := ipb[:16]
	if a := src.Addr(); a.Is4() {
		a4 := a.As4()
		ip = append(ip[:0], a4[:]...)
	} else {
		a16 := a.As16()
		ip = append(ip[:0], a16[:]...)
	}
	// Neither AddTo can fail for a 4- or 16-byte IP.
	_ = stun.XORMappedAddress{IP: ip, Port: int(src.Port())}.AddTo(resp)
	_ = stun.Fingerprint.AddTo(resp)
}

// limiter counts requests per source IP in one-second windows.
type limiter struct {
	rate, max int
	window    time.Time
	counts    map[netip.Addr]int
}

func (l *limiter) allow(ip netip.Addr, now time.Time) bool {
	if l.counts == nil || now.Sub(l.window) >= time.Second {
		l.window = now
		clear(l.counts)
		if l.counts == nil {
			l.counts = make(map[netip.Addr]int)
		}
	}
	n, ok := l.counts[ip]
	if !ok && len(l.counts) >= l.max {
		return false
	}
	if n >= l.rate {
		return false
	}
	l.counts[ip] = n + 1
	return true
}
