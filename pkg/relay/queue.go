package relay

import (
	"sync"
	"sync/atomic"
)

// sendQueue is a connection's bounded outgoing queue, measured in bytes, shared by
// client and server. Producers push encoded frames; the connection's writer
// goroutine takes them in batches. Bytes count from push until the writer has
// handed the frame to its bufio.Writer, so the queue bounds memory held for a slow
// peer.
//
// Datagrams are refused once limit is reached (the caller drops them). Control
// frames (presence, pings, errors) may use up to ctlLimit: they must not be lost,
// so a control push beyond that reports overflow and the caller disconnects.
type sendQueue struct {
	pool *bufPool

	mu        sync.Mutex
	items     []*frameBuf
	closed    bool
	finishing bool // write what is queued, then close the connection

	bytes    atomic.Int64
	limit    int64
	ctlLimit int64

	// shrinkIdle: drop large backing arrays when the writer parks (server
	// connections, where idle memory counts; a node's one client keeps them).
	shrinkIdle bool

	wake    chan struct{} // cap 1: the writer has work (or should look at the state)
	waiters atomic.Int32  // producers waiting in space
	space   chan struct{} // cap 1: the writer freed bytes
}

type pushResult int

const (
	pushed       pushResult = iota
	pushFull                // datagram refused: the queue is at its limit
	pushOverflow            // control frame refused: the queue is beyond ctlLimit
	pushClosed              // the queue is closed or finishing
)

// maxIdleQueueCap is the item capacity an idle queue keeps; busy queues keep what
// they grew to, and shrink when their writer parks, so idle connections stay small.
const maxIdleQueueCap = 64

func newSendQueue(pool *bufPool, limit int) sendQueue {
	return sendQueue{
		pool:     pool,
		limit:    int64(limit),
		ctlLimit: 2 * int64(limit),
		wake:     make(chan struct{}, 1),
		space:    make(chan struct{}, 1),
	}
}

// push appends fb. Unless the result is pushed, the caller keeps ownership of fb.
func (q *sendQueue) push(fb *frameBuf, control bool) pushResult {
	n := int64(len(fb.b))
	limit := q.limit
	if control {
		limit = q.ctlLimit
	}
	q.mu.Lock()
	if q.closed || q.finishing {
		q.mu.Unlock()
		return pushClosed
	}
	if q.bytes.Load()+n > limit {
		q.mu.Unlock()
		if control {
			return pushOverflow
		}
		return pushFull
	}
	q.bytes.Add(n)
	q.items = append(q.items, fb)
	first := len(q.items) == 1
	q.mu.Unlock()
	if first {
		signal(q.wake)
	}
	return pushed
}

// take swaps the queued frames out, reusing spare as the new backing array. It
// also reports whether the queue is closed or finishing.
func (q *sendQueue) take(spare []*frameBuf) (batch []*frameBuf, closed, finishing bool) {
	q.mu.Lock()
	batch = q.items
	q.items = spare[:0]
	closed, finishing = q.closed, q.finishing
	q.mu.Unlock()
	return batch, closed, finishing
}

// shrink drops a large, empty backing array (the writer is about to park).
func (q *sendQueue) shrink() {
	if !q.shrinkIdle {
		return
	}
	q.mu.Lock()
	if len(q.items) == 0 && cap(q.items) > maxIdleQueueCap {
		q.items = nil
	}
	q.mu.Unlock()
}

// written releases n bytes of queue space after the writer consumed a frame.
func (q *sendQueue) written(n int) {
	q.bytes.Add(-int64(n))
	if q.waiters.Load() > 0 {
		signal(q.space)
	}
}

// empty reports whether nothing is queued (frames being written do not count).
func (q *sendQueue) empty() bool {
	q.mu.Lock()
	e := len(q.items) == 0
	q.mu.Unlock()
	return e
}

// finish makes the writer send what is queued, then close the connection. Later
// pushes are refused.
func (q *sendQueue) finish() {
	q.mu.Lock()
	q.finishing = true
	q.mu.Unlock()
	signal(q.wake)
}

// close discards queued frames and refuses further pushes.
func (q *sendQueue) close() {
	q.mu.Lock()
	items := q.items
	q.items = nil
	q.closed = true
	q.mu.Unlock()
	for _, fb := range items {
		q.bytes.Add(-int64(len(fb.b)))
		q.pool.put(fb)
	}
	signal(q.wake)
	signal(q.space)
}

// signal does a non-blocking send on a 1-buffered channel.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
