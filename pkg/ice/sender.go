package ice

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// sender is a Session's outbound datagram queue and the goroutine that drains
// it. Path.Send copies a datagram into the queue and returns; the flusher sends
// whatever has queued up meanwhile in one sendmmsg call, runs of equal-size
// datagrams as one GSO buffer each (mmsg.go). Under load the queue fills while
// the flusher is in its syscall, so one call carries a burst; when idle, a lone
// datagram goes out at once (the cost is one goroutine wake-up).
//
// The queue is bounded (sendQueueBytes): a datagram that does not fit is
// dropped and counted, as a full socket buffer would. The flusher waits for
// the socket when its buffer is full rather than dropping: the queue then
// fills and the drops happen here, once, where they are counted.
type sender struct {
	d *demux

	mu      sync.Mutex
	queue   []gsoBuf // waiting to be sent
	queued  int      // bytes in queue
	running bool     // the flusher goroutine runs
	closed  bool

	gsoOff atomic.Bool // the kernel or the route refused GSO: one datagram per buffer

	// The flusher's (one at a time) sendmmsg arguments, kept so that sending
	// does not allocate.
	batch []gsoBuf
	hs    [maxBatch]unix.Mmsghdr
	iovs  [maxBatch]unix.Iovec
	ctl   [maxBatch]gsoControl
}

// gsoBuf is one message of a sendmmsg call: datagrams of seg bytes back to
// back, the last possibly shorter (then the buffer is closed for appends).
type gsoBuf struct {
	b      []byte
	seg    int
	closed bool
	pooled *[]byte // where b came from (gsoBufs)
}

const (
	// sendQueueBytes bounds what waits for the flusher (~750 full datagrams).
	sendQueueBytes = 4 << 20
	// maxBatch is the most messages one sendmmsg call carries.
	maxBatch = 64
)

var errQueueFull = errors.New("send queue full")

func newSender(d *demux) *sender { return &sender{d: d} }

// enqueue copies b into the queue and makes sure the flusher will send it.
func (s *sender) enqueue(b []byte) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	if s.queued+len(b) > sendQueueBytes {
		s.mu.Unlock()
		return errQueueFull
	}
	s.queued += len(b)
	if n := len(s.queue); n > 0 && s.fits(&s.queue[n-1], len(b)) {
		last := &s.queue[n-1]
		last.b = append(last.b, b...)
		last.closed = len(b) < last.seg
	} else {
		p := gsoBufs.Get().(*[]byte)
		s.queue = append(s.queue, gsoBuf{b: append((*p)[:0], b...), seg: len(b), pooled: p})
	}
	start := !s.running
	s.running = true
	s.mu.Unlock()
	if start {
		go s.flush() // else the running flusher takes it in its next round
	}
	return nil
}

// fits reports whether a datagram of n bytes may join g as a GSO segment.
func (s *sender) fits(g *gsoBuf, n int) bool {
	return !s.gsoOff.Load() && !g.closed && n <= g.seg && len(g.b)+n <= gsoMaxBytes && len(g.b)/g.seg < gsoMaxSegments
}

// gsoBufs holds free GSO buffers, shared by every Path: a busy one takes
// dozens per burst, an idle one none.
var gsoBufs = sync.Pool{New: func() any { b := make([]byte, 0, gsoMaxBytes); return &b }}

// flush runs while there is something to send; it exits when the queue is
// empty (enqueue starts it again), so an idle Path holds no goroutine.
func (s *sender) flush() {
	for {
		s.mu.Lock()
		if len(s.queue) == 0 || s.closed {
			s.running = false
			s.mu.Unlock()
			return
		}
		batch := s.queue
		s.queue, s.batch = s.batch[:0], nil
		s.queued = 0
		s.mu.Unlock()
		for rest := batch; len(rest) > 0; {
			n := min(len(rest), maxBatch)
			s.send(rest[:n])
			rest = rest[n:]
		}
		s.mu.Lock()
		s.batch = batch[:0] // the next round's queue
		s.mu.Unlock()
	}
}

// send writes bufs to the current route in as few sendmmsg calls as the
// kernel takes, and recycles them.
func (s *sender) send(bufs []gsoBuf) {
	d := s.d
	hs, iovs, ctl := s.hs[:len(bufs)], s.iovs[:len(bufs)], s.ctl[:len(bufs)]
	defer s.recycle(bufs)
	r := d.route.Load()
	if r == nil {
		d.sendDrops.Add(uint64(countDatagrams(bufs)))
		return
	}
	for i := range bufs {
		g := &bufs[i]
		iovs[i].Base = &g.b[0]
		iovs[i].SetLen(len(g.b))
		h := &hs[i].Hdr
		*h = unix.Msghdr{}
		h.Name = &r.raw.buf[0]
		h.Namelen = r.raw.len
		h.Iov = &iovs[i]
		h.Iovlen = 1
		if len(g.b) > g.seg {
			ctl[i].set(g.seg)
			h.Control = &ctl[i][0]
			h.SetControllen(len(ctl[i]))
		}
	}
	done := 0
	for done < len(bufs) {
		var n int
		var errno unix.Errno
		err := r.sock.raw.Write(func(fd uintptr) bool {
			n, errno = sendmmsg(fd, hs[done:len(bufs)])
			return errno != unix.EAGAIN // wait until the socket takes more
		})
		if err != nil { // the socket closed: the Path is dead
			d.sendDrops.Add(uint64(countDatagrams(bufs[done:])))
			return
		}
		switch {
		case errno == 0 && n > 0:
			for _, g := range bufs[done : done+n] {
				d.pktsOut.Add(uint64(g.count()))
				d.bytesOut.Add(uint64(len(g.b)))
			}
			done += n
		case (errno == unix.EIO || errno == unix.EINVAL) && !s.gsoOff.Load() && len(bufs[done].b) > bufs[done].seg:
			// No GSO here (an old kernel, a device without checksum
			// offload): send this message's datagrams one by one from
			// now on.
			s.gsoOff.Store(true)
			s.sendEach(r, bufs[done])
			done++
		default:
			// EPERM (a firewall), ENOBUFS, EMSGSIZE...: this message is lost,
			// as a datagram on a lossy network; KCP repairs it.
			d.sendDrops.Add(uint64(bufs[done].count()))
			done++
		}
	}
}

// sendEach sends a GSO buffer's datagrams one by one (after GSO failed).
func (s *sender) sendEach(r *route, g gsoBuf) {
	for off := 0; off < len(g.b); off += g.seg {
		b := g.b[off:min(off+g.seg, len(g.b))]
		if err := r.sock.send(b, r.sa); err != nil {
			s.d.sendDrops.Add(1)
			continue
		}
		s.d.pktsOut.Add(1)
		s.d.bytesOut.Add(uint64(len(b)))
	}
}

func (s *sender) recycle(bufs []gsoBuf) {
	for i := range bufs {
		*bufs[i].pooled = bufs[i].b[:0]
		gsoBufs.Put(bufs[i].pooled)
		bufs[i] = gsoBuf{}
	}
}

// close drops what is queued; later enqueues fail.
func (s *sender) close() {
	s.mu.Lock()
	s.closed = true
	s.queue = nil
	s.mu.Unlock()
}

// count is the number of datagrams in g.
func (g *gsoBuf) count() int { return (len(g.b) + g.seg - 1) / g.seg }

func countDatagrams(bufs []gsoBuf) int {
	n := 0
	for i := range bufs {
		n += bufs[i].count()
	}
	return n
}
