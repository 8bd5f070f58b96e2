package overlay

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"strings"
	"sync"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
)

// Ping messages (msgPing, msgPong) carry an 8-byte nonce; they travel sealed on
// the link's current route, so `meshnode ping` measures the path data takes.

// pingWaiters maps a nonce to the channel its pong is awaited on.
type pingWaiters struct {
	mu sync.Mutex
	m  map[uint64]chan struct{}
}

func (w *pingWaiters) add(nonce uint64) chan struct{} {
	c := make(chan struct{})
	w.mu.Lock()
	if w.m == nil {
		w.m = make(map[uint64]chan struct{})
	}
	w.m[nonce] = c
	w.mu.Unlock()
	return c
}

func (w *pingWaiters) done(nonce uint64) {
	w.mu.Lock()
	c, ok := w.m[nonce]
	delete(w.m, nonce)
	w.mu.Unlock()
	if ok {
		close(c)
	}
}

func (w *pingWaiters) forget(nonce uint64) {
	w.mu.Lock()
	delete(w.m, nonce)
	w.mu.Unlock()
}

// findPeer resolves a name, a node ID or an ID prefix (>= 4 characters) to a
// linked peer.
func (n *Node) findPeer(spec string) (*link, error) {
	var found []*link
	for _, l := range n.linkList() {
		if l.peerName() == spec || len(spec) >= 4 && strings.HasPrefix(l.peer.String(), strings.ToLower(spec)) {
			found = append(found, l)
		}
	}
	switch len(found) {
	case 0:
		return nil, notFound("no peer named %q (give a name, a node ID or an ID prefix of 4+ characters)", spec)
	case 1:
		return found[0], nil
	}
	return nil, conflict("%q matches %d peers; give more of the node ID", spec, len(found))
}

// Ping sends count pings to a peer, one per interval, each waiting at most
// timeout for its pong.
func (n *Node) Ping(ctx context.Context, spec string, count int, interval, timeout time.Duration) (api.PingResult, error) {
	if count < 1 || count > 1000 {
		return api.PingResult{}, invalid("ping count %d out of range 1-1000", count)
	}
	l, err := n.findPeer(spec)
	if err != nil {
		return api.PingResult{}, err
	}
	res := api.PingResult{Peer: l.peer.String(), Name: l.peerName()}
	for i := range count {
		if i > 0 {
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(interval):
			}
		}
		var b [8]byte
		rand.Read(b[:])
		nonce := binary.BigEndian.Uint64(b[:])
		c := l.pings.add(nonce)
		start := time.Now()
		l.sendMessage(msgPing, b[:])
		select {
		case <-c:
			res.RTTs = append(res.RTTs, float64(time.Since(start).Microseconds())/1000)
		case <-time.After(timeout):
			l.pings.forget(nonce)
			res.RTTs = append(res.RTTs, -1)
		case <-ctx.Done():
			l.pings.forget(nonce)
			return res, ctx.Err()
		}
	}
	p := l.info()
	res.Path, res.Endpoint, res.Why = p.Path, p.Endpoint, p.Why
	return res, nil
}

func (l *link) handlePing(kind byte, payload []byte) {
	if len(payload) != 8 {
		l.log.Debug("dropped a malformed ping", "bytes", len(payload))
		return
	}
	switch kind {
	case msgPing:
		l.sendMessage(msgPong, payload)
	case msgPong:
		l.pings.done(binary.BigEndian.Uint64(payload))
	}
}
