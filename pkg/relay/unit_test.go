package relay

import (
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
)

func TestSendQueue(t *testing.T) {
	var pool bufPool
	frame := func(n int) *frameBuf { return pool.get(n) }
	type step struct {
		n       int
		control bool
		want    pushResult
	}
	for _, tc := range []struct {
		name  string
		limit int
		steps []step
		bytes int64
	}{
		{"datagrams up to the limit", 100, []step{{60, false, pushed}, {40, false, pushed}, {1, false, pushFull}}, 100},
		{"control beyond the datagram limit", 100, []step{{100, false, pushed}, {1, false, pushFull}, {100, true, pushed}, {1, true, pushOverflow}}, 200},
		{"datagram refused while control fills", 100, []step{{150, true, pushed}, {10, false, pushFull}, {50, true, pushed}}, 200},
	} {
		q := newSendQueue(&pool, tc.limit)
		for i, s := range tc.steps {
			fb := frame(s.n)
			if got := q.push(fb, s.control); got != s.want {
				t.Errorf("%s: step %d: push(%d, control=%v) = %v, want %v", tc.name, i, s.n, s.control, got, s.want)
			}
		}
		if got := q.bytes.Load(); got != tc.bytes {
			t.Errorf("%s: %d bytes queued, want %d", tc.name, got, tc.bytes)
		}
		batch, closed, finishing := q.take(nil)
		var n int64
		for _, fb := range batch {
			n += int64(len(fb.b))
			q.written(fb)
		}
		if n != tc.bytes || closed || finishing || q.bytes.Load() != 0 || !q.empty() {
			t.Errorf("%s: took %d bytes (closed %v finishing %v), %d left", tc.name, n, closed, finishing, q.bytes.Load())
		}
	}

	q := newSendQueue(&pool, 100)
	q.push(frame(10), false)
	q.finish()
	if got := q.push(frame(10), true); got != pushClosed {
		t.Errorf("push after finish = %v", got)
	}
	if batch, _, finishing := q.take(nil); len(batch) != 1 || !finishing {
		t.Errorf("finishing queue: %d frames, finishing %v", len(batch), finishing)
	}
	q = newSendQueue(&pool, 100)
	q.push(frame(10), false)
	q.close()
	if got := q.push(frame(10), false); got != pushClosed || q.bytes.Load() != 0 {
		t.Errorf("closed queue: push = %v, %d bytes", got, q.bytes.Load())
	}
	if _, closed, _ := q.take(nil); !closed {
		t.Error("take does not report closed")
	}
}

// TestSendQueueFairShare: on a server queue a sender may hold at most
// limit/(n+1) of it (n = senders with bytes queued, itself included), so there is
// always room for another; beyond a floor per queue all queues together hold at
// most the server's budget; control frames are exempt from both.
func TestSendQueueFairShare(t *testing.T) {
	var pool bufPool
	from := func(src uint64, n int) *frameBuf {
		fb := pool.get(n)
		fb.src = src
		return fb
	}
	b := &budget{limit: 1000}
	q := newSendQueue(&pool, 400)
	q.fair, q.budget = true, b
	push := func(q *sendQueue, src uint64, n int, want pushResult) {
		t.Helper()
		if got := q.push(from(src, n), false); got != want {
			t.Fatalf("push %d bytes from %d = %v, want %v", n, src, got, want)
		}
	}
	// A lone flooder gets half of the queue.
	push(&q, 1, 100, pushed)
	push(&q, 1, 100, pushed)
	push(&q, 1, 1, pushUnfair)
	// A second sender gets in at once, and both are held to a third.
	push(&q, 2, 100, pushed)
	push(&q, 2, 34, pushUnfair)
	push(&q, 1, 1, pushUnfair)
	// The writer drains the flooder's first datagram: it may send again, up to
	// its share.
	batch, _, _ := q.take(nil)
	q.written(batch[0])
	pool.put(batch[0])
	push(&q, 1, 33, pushed)
	push(&q, 1, 1, pushUnfair)
	// Control frames ignore shares and the budget, but not the control limit.
	if got := q.push(from(0, 300), true); got != pushed {
		t.Fatalf("control frame: %v", got)
	}
	if b.used.Load() != 233 {
		t.Fatalf("budget counts %d, want 233 (datagrams only)", b.used.Load())
	}
	// The budget is shared; a queue's first floor bytes are outside it.
	q2 := newSendQueue(&pool, 10000)
	q2.fair, q2.budget, q2.floor = true, b, 50
	push(&q2, 3, 50, pushed)  // within the floor
	push(&q2, 3, 767, pushed) // up to the budget: 233 + 767
	push(&q2, 3, 1, pushBudget)
	if b.used.Load() != 1000 {
		t.Fatalf("budget %d, want 1000", b.used.Load())
	}
	// Writing and closing give everything back.
	for _, fb := range batch[1:] {
		q.written(fb)
		pool.put(fb)
	}
	q.close()
	q2.close()
	if b.used.Load() != 0 || len(q.senders) != 0 || len(q2.senders) != 0 || q.bytes.Load() != 0 {
		t.Fatalf("after close: budget %d, senders %v %v, bytes %d", b.used.Load(), q.senders, q2.senders, q.bytes.Load())
	}
}

func TestBufPool(t *testing.T) {
	var p bufPool
	for _, n := range []int{0, 1, 128, 129, 1387, 2048, 2049, headerLen + MaxFrameLen} {
		fb := p.get(n)
		if len(fb.b) != n || cap(fb.b) < n {
			t.Errorf("get(%d): len %d cap %d", n, len(fb.b), cap(fb.b))
		}
		p.put(fb)
	}
	if allocs := testing.AllocsPerRun(100, func() { p.put(p.get(1387)) }); allocs > 0 {
		t.Errorf("get/put allocates %.1f times", allocs)
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: 800 * time.Millisecond}
	for i, ceil := range []time.Duration{100, 200, 400, 800, 800, 800} {
		ceil *= time.Millisecond
		for range 20 {
			c := b
			d := c.next()
			if d < ceil/2 || d > ceil {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", i, d, ceil/2, ceil)
			}
		}
		b.next()
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Fatalf("after reset: %v", d)
	}
}

func TestPresenceDiff(t *testing.T) {
	self, a, b, c := key(0), key(1), key(2), key(3)
	type op struct {
		kind string // "present", "gone", "end", "resync"
		k    identity.PublicKey
		want []PresenceEvent
	}
	joined := func(k identity.PublicKey) PresenceEvent { return PresenceEvent{PeerJoined, k} }
	left := func(k identity.PublicKey) PresenceEvent { return PresenceEvent{PeerLeft, k} }
	for _, tc := range []struct {
		name  string
		ops   []op
		peers int
	}{
		{"first connection reports the list at PeersEnd", []op{
			{kind: "resync"},
			{kind: "present", k: b},
			{kind: "present", k: a},
			{kind: "end", want: []PresenceEvent{joined(a), joined(b)}},
			{kind: "present", k: c, want: []PresenceEvent{joined(c)}},
			{kind: "gone", k: a, want: []PresenceEvent{left(a)}},
			{kind: "gone", k: a},
		}, 2},
		{"reconnect reports only the difference", []op{
			{kind: "resync"},
			{kind: "present", k: a},
			{kind: "present", k: b},
			{kind: "end", want: []PresenceEvent{joined(a), joined(b)}},
			{kind: "resync"},
			{kind: "present", k: b},
			{kind: "present", k: c},
			{kind: "gone", k: c},
			{kind: "present", k: c},
			{kind: "end", want: []PresenceEvent{left(a), joined(c)}},
		}, 2},
		{"our own key and repeated presence are not events", []op{
			{kind: "resync"},
			{kind: "end"},
			{kind: "present", k: self},
			{kind: "present", k: a, want: []PresenceEvent{joined(a)}},
			{kind: "present", k: a},
			{kind: "end"},
		}, 1},
	} {
		p := newPresence(self)
		for i, o := range tc.ops {
			var got []PresenceEvent
			switch o.kind {
			case "resync":
				p.resync()
			case "present":
				got = p.present(o.k)
			case "gone":
				got = p.gone(o.k)
			case "end":
				got = p.end()
			}
			if len(got) != len(o.want) {
				t.Fatalf("%s: op %d (%s): events %v, want %v", tc.name, i, o.kind, got, o.want)
			}
			for j := range got {
				if got[j] != o.want[j] {
					t.Fatalf("%s: op %d: event %d = %v, want %v", tc.name, i, j, got[j], o.want[j])
				}
			}
		}
		if n := len(p.list()); n != tc.peers {
			t.Errorf("%s: %d peers, want %d", tc.name, n, tc.peers)
		}
	}
}
