package relay

import (
	"math/rand/v2"
	"time"
)

// backoff is the reconnect delay: exponential from min to max, with jitter so that
// many nodes losing one rendezvous do not come back in lockstep.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
}

// next returns the delay before the next attempt: a random value in [d/2, d] where
// d doubles on each call, from min up to max.
func (b *backoff) next() time.Duration {
	if b.cur < b.min {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	half := b.cur / 2
	return half + rand.N(b.cur-half+1)
}

// reset starts over from min.
func (b *backoff) reset() { b.cur = 0 }
