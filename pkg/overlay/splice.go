package overlay

import (
	"errors"
	"io"
	"net"
	"sync"
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

// splice copies a->b and b->a until both directions end, propagating EOF as a
// half-close. An error in either direction closes both. It returns the bytes moved
// each way and the first error that was not a clean end.
func splice(a, b halfCloser) (aToB, bToA int64, err error) {
	var wg sync.WaitGroup
	var errOnce sync.Once
	fail := func(e error) {
		errOnce.Do(func() { err = e })
		a.Close()
		b.Close()
	}
	pipe := func(dst, src halfCloser, n *int64) {
		defer wg.Done()
		var c int64
		var e error
		if rf, ok := dst.(io.ReaderFrom); ok {
			c, e = rf.ReadFrom(src) // a chunkConn: reads straight into its chunk buffer
		} else {
			buf := copyBufs.Get().(*[]byte)
			c, e = io.CopyBuffer(onlyWriter{dst}, onlyReader{src}, *buf)
			copyBufs.Put(buf)
		}
		*n = c
		if e != nil && !isClosedErr(e) {
			fail(e)
			return
		}
		if e != nil {
			fail(nil)
			return
		}
		dst.CloseWrite()
	}
	wg.Add(2)
	go pipe(b, a, &aToB)
	pipe(a, b, &bToA)
	wg.Wait()
	a.Close()
	b.Close()
	return aToB, bToA, err
}

// onlyReader and onlyWriter hide WriteTo/ReadFrom so io.CopyBuffer uses our pooled
// buffer instead of each side allocating its own per connection (net.TCPConn's
// generic ReadFrom fallback, for one).
type onlyReader struct{ io.Reader }

type onlyWriter struct{ io.Writer }

func isClosedErr(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe)
}
