package seal

import (
	"sync"
	"sync/atomic"
	"time"
)

// DefaultStrangerHandshakesPerSecond is what a HandshakeBudget answers per
// second by default (bursts of twice that). Answering one costs the responder
// about 0.2 ms of one core (BenchmarkHandshake: ~0.41 ms for both sides on the
// project's 2-core test VM), so a flood of strangers costs a node at most ~4% of
// a core (~8% during a burst), while a group of up to 400 members that all
// (re)start at once still links at once.
const DefaultStrangerHandshakesPerSecond = 200

// HandshakeBudget bounds, across all of a node's channels, how many initiations
// per second it answers from peers it never had a session with ("strangers"):
// the per-peer limit (ChannelConfig.HandshakesPerSecond) alone lets N fake peers
// cost N times that. Peers that had a session (group members the node knows)
// are not counted, so rekeys and restarts of known peers are never held back.
// Share one budget among a node's channels (ChannelConfig.Budget).
type HandshakeBudget struct {
	rate  float64
	mu    sync.Mutex
	level float64
	at    time.Time

	refused atomic.Uint64
}

// NewHandshakeBudget returns a budget of perSecond answers (bursts of twice
// that); perSecond <= 0 takes DefaultStrangerHandshakesPerSecond.
func NewHandshakeBudget(perSecond int) *HandshakeBudget {
	if perSecond <= 0 {
		perSecond = DefaultStrangerHandshakesPerSecond
	}
	return &HandshakeBudget{rate: float64(perSecond), level: 2 * float64(perSecond)}
}

// take spends one answer if the budget allows it at now.
func (b *HandshakeBudget) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.at.IsZero() {
		b.level = min(2*b.rate, b.level+now.Sub(b.at).Seconds()*b.rate)
	}
	b.at = now
	if b.level < 1 {
		b.refused.Add(1)
		return false
	}
	b.level--
	return true
}

// Refused is how many initiations the budget turned away.
func (b *HandshakeBudget) Refused() uint64 { return b.refused.Load() }
