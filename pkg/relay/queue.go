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
//
// On the server, datagrams also meet two more bounds. Fair share: a sender may
// hold at most limit/(n+1) of a receiver's queue, n being the senders with bytes
// in it (itself included). So a lone sender uses up to half of the queue and
// there is always room for one more: a flood from one member cannot crowd out
// another's traffic to the same receiver. The flooder's excess is dropped while
// the other keeps its share. Budget: beyond a small floor per queue (budgetFloor),
// all queues of a server together hold at most a fixed number of bytes
// (ServerConfig.QueueMemory), so many slow receivers cannot exhaust memory while
// a receiver with a short queue is never refused for what others hold.
type sendQueue struct {
	pool   *bufPool
	fair   bool    // track bytes per sender (server queues)
	budget *budget // shared by all queues of a server; nil = none
	floor  int64   // bytes a queue holds before the budget applies

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

	senders map[uint64]int64 // bytes queued per sender id (fair queues; under mu)

	wake    chan struct{} // cap 1: the writer has work (or should look at the state)
	waiters atomic.Int32  // producers waiting in space
	space   chan struct{} // cap 1: the writer freed bytes
}

type pushResult int

const (
	pushed       pushResult = iota
	pushFull                // datagram refused: the queue is at its limit
	pushUnfair              // datagram refused: its sender holds its fair share already
	pushBudget              // datagram refused: the server's queue memory is used up
	pushOverflow            // control frame refused: the queue is beyond ctlLimit
	pushClosed              // the queue is closed or finishing
)

// budgetFloor is what a server queue holds before the shared budget applies: a
// few dozen datagrams, so a receiver with a short queue always gets its traffic.
const budgetFloor = 32 << 10

// budget is a byte count shared by several queues, with a limit.
type budget struct {
	used  atomic.Int64
	limit int64
}

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
// A datagram's sender is fb.src (0: none, which fair queues do not track).
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
	track := !control && q.fair && fb.src != 0
	if track {
		mine, ok := q.senders[fb.src]
		active := len(q.senders)
		if !ok {
			active++
		}
		if mine+n > q.limit/int64(active+1) {
			q.mu.Unlock()
			return pushUnfair
		}
	}
	if !control && q.budget != nil && q.bytes.Load()+n > q.floor {
		if q.budget.used.Add(n) > q.budget.limit {
			q.budget.used.Add(-n)
			q.mu.Unlock()
			return pushBudget
		}
		fb.budgeted = true
	}
	if track {
		if q.senders == nil {
			q.senders = make(map[uint64]int64)
		}
		q.senders[fb.src] += n
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

// written releases fb's queue space after the writer consumed it (or a closing
// queue discarded it). The caller then releases fb itself.
func (q *sendQueue) written(fb *frameBuf) {
	n := int64(len(fb.b))
	if fb.budgeted {
		q.budget.used.Add(-n)
		fb.budgeted = false
	}
	if q.fair && fb.src != 0 {
		q.mu.Lock()
		if left := q.senders[fb.src] - n; left > 0 {
			q.senders[fb.src] = left
		} else {
			delete(q.senders, fb.src)
		}
		q.mu.Unlock()
	}
	q.bytes.Add(-n)
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
		q.written(fb)
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
