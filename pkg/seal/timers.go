package seal

import (
	"fmt"
	"time"
)

// The channel has one timer. It serves whichever of two things is due: replacing
// (or giving up) the pending initiation at retryAt, or starting a deferred
// handshake once holdUntil passed. The handler re-reads the state and the clock,
// so a stale or early firing does nothing but re-arm.

// armLocked makes the timer fire at at (by c.now).
func (c *Channel) armLocked(at, now time.Time) {
	d := max(at.Sub(now), 0)
	if c.timer == nil {
		c.timer = time.AfterFunc(d, c.onTimer)
		return
	}
	c.timer.Reset(d)
}

func (c *Channel) onTimer() {
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return
	}
	c.timerSends.Add(1) // Close waits for the Send below
	now := c.now()
	var pkt []byte
	var failed error
	switch {
	case c.pending != nil && now.Before(c.retryAt):
		c.armLocked(c.retryAt, now)
	case c.pending != nil && now.Sub(c.cycleStart) >= c.cfg.GiveUpAfter:
		failed = fmt.Errorf("%w: no answer from peer %s for %v", ErrHandshakeTimeout, c.cfg.Remote.Short(), c.cfg.GiveUpAfter)
		c.endCycleLocked(now, failed)
	case c.pending != nil:
		c.log.Debug("initiation unanswered; retrying")
		pkt = c.startLocked(now) // a new handshake replaces the unanswered one
	case c.deferred:
		c.deferred = false
		pkt = c.initiateLocked(now, false) // re-checks everything, may defer again
	}
	c.mu.Unlock()
	c.send(pkt, "initiation")
	c.timerSends.Done()
	if failed != nil {
		c.failure(failed)
	}
}

// endCycleLocked ends the running handshake cycle: with err == nil because a
// session became current, otherwise because it failed (timeout, or an
// authenticated refusal); then new cycles wait for the backoff.
func (c *Channel) endCycleLocked(now time.Time, err error) {
	c.pending = nil
	c.handshaking.Store(false)
	c.deferred = false
	if c.timer != nil {
		c.timer.Stop()
	}
	if err == nil {
		c.failures = 0
		c.holdUntil = time.Time{}
		c.lastErr = nil
		return
	}
	c.failures++
	c.holdUntil = now.Add(c.backoff(c.failures))
	c.lastErr = err
}

// backoff is the wait before a new cycle after n consecutive failed ones:
// 2*RetryInterval, doubling, at most GiveUpAfter.
func (c *Channel) backoff(n int) time.Duration {
	d := c.cfg.RetryInterval
	for i := 0; i < n && d < c.cfg.GiveUpAfter; i++ {
		d *= 2
	}
	return min(d, c.cfg.GiveUpAfter)
}
