package relay

import "sync"

// frameBuf is one encoded frame owned by whoever holds the pointer: a reader that
// builds it, then the queue it is pushed to, then the writer that sends it and
// puts it back.
type frameBuf struct {
	b []byte
	// src is the sender of a datagram queued on a server (its connection's id),
	// for the receiver queue's fair share; 0 otherwise.
	src uint64
	// budgeted: the frame's bytes count against the server's queue budget.
	budgeted bool
}

// bufClasses are the capacities of pooled frame buffers: control frames, typical
// datagrams (KCP's ~1350 bytes plus headers), larger ones, and the largest frame.
var bufClasses = [...]int{128, 2048, 16 << 10, headerLen + MaxFrameLen}

// bufPool hands out frame buffers by size class, so the data path does not
// allocate per frame.
type bufPool struct {
	classes [len(bufClasses)]sync.Pool
}

// get returns a buffer with len(fb.b) == n. n must not exceed headerLen+MaxFrameLen.
func (p *bufPool) get(n int) *frameBuf {
	for i, size := range bufClasses {
		if n <= size {
			if fb, ok := p.classes[i].Get().(*frameBuf); ok {
				fb.b = fb.b[:n]
				return fb
			}
			return &frameBuf{b: make([]byte, n, size)}
		}
	}
	panic("relay: frame buffer request above the frame limit")
}

// put returns fb to its class. fb must not be used afterwards.
func (p *bufPool) put(fb *frameBuf) {
	c := cap(fb.b)
	fb.src, fb.budgeted = 0, false
	for i, size := range bufClasses {
		if c == size {
			fb.b = fb.b[:0]
			p.classes[i].Put(fb)
			return
		}
	}
}
