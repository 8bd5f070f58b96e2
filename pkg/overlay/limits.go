package overlay

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/meshnode/meshnode/pkg/control/api"
)

// limiter is a service's or a mapping's api.Limits in force: its connection
// slots, one token bucket per direction shared by all its connections, and
// the idle timeout. Limits act on the TCP side of a spliced connection (the
// target's on the serving node, the client's on the mapping's node), so the
// stream side keeps its own machinery (end markers, cut-off detection).
type limiter struct {
	slots   slots
	in, out *rate.Limiter // from / to the TCP side; nil: no rate limit
	burst   int
	idle    time.Duration // 0: none
	refused atomic.Uint64 // connections refused because every slot was busy
}

// Token bucket burst: a tenth of a second's worth, at least 4 KiB (a read
// of one small message at a low rate) and at most 256 KiB. A bucket starts
// full, so a transfer exceeds the rate by one burst at most: at 1 MB/s that
// is 100 kB, 1% over 10 s.
const (
	minBurst = 4 << 10
	maxBurst = 256 << 10
)

func newLimiter(l *api.Limits, defaultConns int) *limiter {
	lm := &limiter{slots: newSlots(defaultConns)}
	if l == nil {
		return lm
	}
	if l.MaxConns > 0 {
		lm.slots = newSlots(l.MaxConns)
	}
	if l.Rate > 0 {
		lm.burst = int(min(max(l.Rate/10, minBurst), maxBurst))
		lm.in = rate.NewLimiter(rate.Limit(l.Rate), lm.burst)
		lm.out = rate.NewLimiter(rate.Limit(l.Rate), lm.burst)
	}
	lm.idle = l.Idle()
	return lm
}

// shapes reports whether connections need wrapping (a rate or an idle timeout).
func (lm *limiter) shapes() bool { return lm.in != nil || lm.idle > 0 }

// wrap puts c under the rate limits and idle timeout; ctx ends the waits for
// tokens. Call done when the connection is over.
func (lm *limiter) wrap(ctx context.Context, c *net.TCPConn) *limitedConn {
	lc := &limitedConn{TCPConn: c, lm: lm, ctx: ctx}
	if lm.idle > 0 {
		lc.touch()
		lc.timer = time.AfterFunc(lm.idle, lc.checkIdle)
	}
	return lc
}

// limitedConn is a TCP connection under a limiter. It implements halfCloser,
// and splice sees through it (tcpOf) for resets.
type limitedConn struct {
	*net.TCPConn
	lm    *limiter
	ctx   context.Context
	last  atomic.Int64 // unix ns of the last byte either way
	timer *time.Timer
	idled atomic.Bool
}

func (c *limitedConn) touch() { c.last.Store(time.Now().UnixNano()) }

// checkIdle closes the connection when it has been idle for the timeout,
// and otherwise looks again when it could be.
func (c *limitedConn) checkIdle() {
	quiet := time.Since(time.Unix(0, c.last.Load()))
	if quiet < c.lm.idle {
		c.timer.Reset(c.lm.idle - quiet)
		return
	}
	c.idled.Store(true)
	c.TCPConn.SetLinger(0)
	c.TCPConn.Close() // splice's reads fail, and it aborts the other side too
}

// Idled reports whether the idle timeout closed the connection.
func (c *limitedConn) Idled() bool { return c.idled.Load() }

// done stops the idle timer.
func (c *limitedConn) done() {
	if c.timer != nil {
		c.timer.Stop()
	}
}

func (c *limitedConn) Read(p []byte) (int, error) {
	if c.lm.in != nil && len(p) > c.lm.burst {
		p = p[:c.lm.burst]
	}
	n, err := c.TCPConn.Read(p)
	if n > 0 {
		if c.lm.idle > 0 {
			c.touch()
		}
		if c.lm.in != nil {
			if werr := c.lm.in.WaitN(c.ctx, n); werr != nil && err == nil {
				err = werr
			}
		}
	}
	return n, err
}

func (c *limitedConn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p
		if c.lm.out != nil {
			chunk = p[:min(len(p), c.lm.burst)]
			if err := c.lm.out.WaitN(c.ctx, len(chunk)); err != nil {
				return written, err
			}
		}
		n, err := c.TCPConn.Write(chunk)
		written += n
		if c.lm.idle > 0 && n > 0 {
			c.touch()
		}
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// ReadFrom and WriteTo hide the TCPConn's, which would bypass the limits.
func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(onlyWriter{c}, onlyReader{r})
}

func (c *limitedConn) WriteTo(w io.Writer) (int64, error) {
	return io.Copy(onlyWriter{w}, onlyReader{c})
}
