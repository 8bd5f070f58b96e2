package overlay

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// halfCloser is a connection whose write side can be closed on its own, so one
// direction of a spliced connection can end (EOF) while the other keeps going.
// Implementations: *net.TCPConn, *chunkConn (a stream) and *serviceStream.
type halfCloser interface {
	io.ReadWriteCloser
	CloseWrite() error
}

// copyBufs hold one chunk with its header (see chunkConn).
var copyBufs = sync.Pool{New: func() any { b := make([]byte, maxChunk+4); return &b }}

// splice copies a->b and b->a until both directions end. A clean end of one
// direction (EOF: a TCP FIN, a stream's end-of-data marker) becomes a half-close
// of the other side. Anything else in either direction — a reset, a stream
// aborted by the other side, a link that went down, a local close — aborts both
// sides: a TCP connection gets a reset (RST), a stream is closed without its
// end-of-data marker. So a cut-off connection is never passed on as a clean end
// that looks complete. It returns the bytes moved each way and the first error.
func splice(a, b halfCloser) (aToB, bToA int64, err error) {
	return spliceCounted(a, b, nil, nil)
}

// spliceCounted is splice that also adds the bytes to ab (a->b) and ba (b->a)
// as they move (nil: not counted), so a scrape sees a long transfer progress:
// one atomic add per read of up to a chunk.
func spliceCounted(a, b halfCloser, ab, ba *atomic.Uint64) (aToB, bToA int64, err error) {
	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		first      error
		finished   bool
		aEOF, bEOF atomic.Bool // a's (b's) read side ended cleanly
	)
	fail := func(e error) {
		mu.Lock()
		if first == nil && !finished {
			first = e
		}
		mu.Unlock()
		abort(a)
		abort(b)
	}
	// pipe copies src to dst; srcEOF records its clean end, otherEOF is the
	// other direction's.
	pipe := func(dst, src halfCloser, n *int64, srcEOF, otherEOF *atomic.Bool, ctr *atomic.Uint64) {
		defer wg.Done()
		var c int64
		var e error
		var r io.Reader = src
		if ctr != nil {
			r = countingReader{src, ctr}
		}
		if rf, ok := dst.(io.ReaderFrom); ok && !isTCP(dst) {
			c, e = rf.ReadFrom(r) // a chunkConn: reads straight into its chunk buffer
		} else {
			buf := copyBufs.Get().(*[]byte)
			c, e = io.CopyBuffer(onlyWriter{dst}, onlyReader{r}, *buf)
			copyBufs.Put(buf)
		}
		*n = c
		if e != nil {
			fail(e)
			return
		}
		srcEOF.Store(true)
		dst.CloseWrite()
		if w, ok := src.(interface{ waitClosed() error }); ok {
			// A stream that ended cleanly stays open until both directions are
			// done; if the other side closes it while we still send, it aborted.
			go func() {
				if err := w.waitClosed(); err != nil && !otherEOF.Load() {
					fail(err)
				}
			}()
		}
	}
	wg.Add(2)
	go pipe(b, a, &aToB, &aEOF, &bEOF, ab)
	pipe(a, b, &bToA, &bEOF, &aEOF, ba)
	wg.Wait()
	mu.Lock()
	finished = true
	err = first
	mu.Unlock()
	a.Close()
	b.Close()
	return aToB, bToA, err
}

// abort ends c as a cut-off connection: a TCP connection is reset (RST) rather
// than closed with a FIN, so its peer gets an error instead of a clean end; a
// stream is closed without its end-of-data marker, which the other side reads
// as errAborted.
func abort(c io.Closer) {
	if tc, ok := c.(interface{ SetLinger(int) error }); ok { // *net.TCPConn, *limitedConn
		tc.SetLinger(0)
	}
	c.Close()
}

func isTCP(c halfCloser) bool {
	switch c.(type) {
	case *net.TCPConn, *limitedConn:
		return true
	}
	return false
}

// onlyReader and onlyWriter hide WriteTo/ReadFrom so io.CopyBuffer uses our pooled
// buffer instead of each side allocating its own per connection (net.TCPConn's
// generic ReadFrom fallback, for one).
type onlyReader struct{ io.Reader }

type onlyWriter struct{ io.Writer }

// countingReader adds what it reads to n.
type countingReader struct {
	r io.Reader
	n *atomic.Uint64
}

func (c countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	if k > 0 {
		c.n.Add(uint64(k))
	}
	return k, err
}

// isCutOff reports whether err, from splice, means the mesh cut the connection
// off (the link went down, or the far side aborted the stream) rather than the
// local side ending it.
func isCutOff(err error) bool {
	return errors.Is(err, errLinkDown) || errors.Is(err, errAborted)
}
