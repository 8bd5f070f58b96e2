package stunsrv

import (
	"net/netip"
	"sync"
	"time"
)

// limiter counts requests per source IP in one-second windows. One per
// socket (Serve), used by its goroutine only.
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

// globalLimiter bounds the answers of all of a server's sockets together, in
// one-second windows: what the server sends in total whatever the number of
// sources (a spoofed flood from many addresses).
type globalLimiter struct {
	rate int

	mu     sync.Mutex
	window time.Time
	n      int
}

func (g *globalLimiter) allow(now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if now.Sub(g.window) >= time.Second {
		g.window, g.n = now, 0
	}
	if g.n >= g.rate {
		return false
	}
	g.n++
	return true
}
