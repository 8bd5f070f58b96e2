package relay

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// SetAuthKeys replaces the server's auth keys (a reload of the keys file): nil
// opens the server. Connected nodes whose key is gone, expired or no longer valid
// for their group are disconnected with the reason, and so are nodes that joined
// an open server without a key when keys are set. It returns how many nodes were
// disconnected.
func (s *Server) SetAuthKeys(ks *AuthKeys) int {
	s.auth.Store(ks)
	return s.recheckKeys(time.Now())
}

// OpenAccess reports whether the server admits nodes without an auth key.
func (s *Server) OpenAccess() bool { return s.auth.Load() == nil }

// recheckKeys disconnects joined nodes that the current keys no longer admit.
func (s *Server) recheckKeys(now time.Time) int {
	ks := s.auth.Load()
	s.mu.Lock()
	var bad []*serverConn
	var codes []Code
	var msgs []string
	for c := range s.conns {
		if !c.joined.Load() {
			continue
		}
		code, msg := keyStillValid(ks, c, now)
		if code != 0 {
			bad, codes, msgs = append(bad, c), append(codes, code), append(msgs, msg)
		}
	}
	s.mu.Unlock()
	for i, c := range bad {
		s.log.Info("disconnecting node", "node", c.key.Short(), "remote", c.remote, "reason", msgs[i])
		c.closeWithError(codes[i], msgs[i], time.Second)
	}
	return len(bad)
}

// keyStillValid checks a joined connection's key against ks (nil: open).
func keyStillValid(ks *AuthKeys, c *serverConn, now time.Time) (Code, string) {
	if ks == nil {
		return 0, ""
	}
	if c.authKey == nil {
		return CodeNoAuthKey, "the rendezvous now requires an auth key"
	}
	k := ks.lookup(c.authKey.ID)
	switch {
	case k == nil || k.Secret != c.authKey.Secret:
		return CodeAuthKeyRevoked, "auth key " + c.authKey.Name() + " was revoked"
	case k.expired(now):
		return CodeAuthKeyExpired, fmt.Sprintf("auth key %s expired at %s", k.Name(), k.Expires.UTC().Format(time.RFC3339))
	case !k.allows(c.groupID):
		return CodeAuthKeyGroup, "auth key " + k.Name() + " is no longer valid for this group"
	}
	return 0, ""
}

// expiryLoop disconnects nodes whose key expired, once a minute (keys are
// checked at the handshake too, so this bounds how long one outlives its key).
func (s *Server) expiryLoop(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if s.auth.Load() != nil {
				s.recheckKeys(now)
			}
		}
	}
}

// refusalLog logs refused connections at most once per source address per
// interval (a minute), so a client retrying in a loop (or a flood) costs one line
// a minute.
type refusalLog struct {
	every  time.Duration // <0: log every refusal
	mu     sync.Mutex
	last   map[netip.Addr]time.Time
	quiet  int // lines suppressed since the last summary
	window time.Time
}

// maxRefusalSources bounds the memory of refusalLog.
const maxRefusalSources = 4096

func (r *refusalLog) log(log *slog.Logger, src netip.Addr, msg string, args ...any) {
	if r.every < 0 {
		log.Warn(msg, args...)
		return
	}
	now := time.Now()
	r.mu.Lock()
	if r.last == nil {
		r.last = make(map[netip.Addr]time.Time)
	}
	if now.Sub(r.window) > r.every {
		if r.quiet > 0 {
			log.Warn("refused connections not logged since the last summary", "count", r.quiet, "since", r.window.Format(time.RFC3339))
		}
		r.quiet, r.window = 0, now
		if len(r.last) > maxRefusalSources {
			clear(r.last)
		}
	}
	if t, ok := r.last[src]; ok && now.Sub(t) < r.every {
		r.quiet++
		r.mu.Unlock()
		return
	}
	if len(r.last) >= maxRefusalSources {
		r.quiet++
		r.mu.Unlock()
		return
	}
	r.last[src] = now
	r.mu.Unlock()
	log.Warn(msg, args...)
}
