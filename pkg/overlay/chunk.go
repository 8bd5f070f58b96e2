package overlay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// chunkConn carries one spliced connection's bytes over a smux stream as chunks:
//
//	u32 length | length bytes     (length 1..maxChunk)
//	u32 0                         end of data: the sender half-closed
//
// Why not smux's own half-close: in smux v1.5.56 a stream whose write side is
// closed drops its unread receive buffer the moment the peer's FIN arrives
// (tryHalfCloseCleanup -> recycleTokens), so a client that half-closes first
// loses the tail of the answer. With our own end marker we never half-close a smux
// stream; we close it only when both directions are done.
//
// How a stream ends is therefore always known, and only one way is clean:
//
//   - the marker: the sender half-closed (io.EOF, clean);
//   - the stream ends without the marker: the other side aborted it (errAborted);
//   - the stream's link generation went down (the peer died or went silent, it
//     restarted, the link was closed): errLinkDown, naming the peer and why.
//
// smux cannot tell the last two apart by itself (a stream of a closed session
// reads io.EOF or io.ErrClosedPipe, like a closed stream), so a chunkConn knows
// its generation and asks it.
type chunkConn struct {
	st     io.ReadWriteCloser // a *smux.Stream
	g      *generation        // the stream's link generation; nil: unknown (tests)
	closed atomic.Bool        // we closed it: errors after that are our own doing

	// read side (one reader)
	left int
	eof  bool

	wmu sync.Mutex // chunks are written whole
}

// maxChunk keeps a chunk plus its header within one smux frame.
const maxChunk = smuxFrameSize - 4

// errAborted reports a stream that ended without an end-of-data marker.
var errAborted = errors.New("the other side aborted the connection")

// errLinkDown matches (errors.Is) every linkDownError.
var errLinkDown = errors.New("link down")

// linkDownError reports a stream cut off because its link generation went down.
type linkDownError struct {
	peer string // "peer NAME (ID)"
	why  string
}

func (e *linkDownError) Error() string   { return "the link to " + e.peer + " went down: " + e.why }
func (e *linkDownError) Is(t error) bool { return t == errLinkDown }

func newChunkConn(st io.ReadWriteCloser) *chunkConn { return &chunkConn{st: st} }

// newStreamConn is newChunkConn for a stream of generation g.
func newStreamConn(st io.ReadWriteCloser, g *generation) *chunkConn {
	return &chunkConn{st: st, g: g}
}

// endErr names why an operation on the stream failed: we closed it
// (net.ErrClosed), its generation went down (errLinkDown), or the other side
// closed it without the end-of-data marker (errAborted). Other errors (a
// deadline) pass unchanged.
func (c *chunkConn) endErr(err error) error {
	switch {
	case c.closed.Load():
		return net.ErrClosed
	case c.g != nil && c.g.mux.IsClosed():
		return c.g.downErr()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.ErrClosedPipe):
		return errAborted
	}
	return err
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if c.left == 0 {
		if c.eof {
			return 0, io.EOF
		}
		var h [4]byte
		if _, err := io.ReadFull(c.st, h[:]); err != nil {
			return 0, c.endErr(err)
		}
		n := binary.BigEndian.Uint32(h[:])
		if n == 0 {
			c.eof = true
			return 0, io.EOF
		}
		if n > maxChunk {
			return 0, fmt.Errorf("chunk of %d bytes exceeds %d: %w", n, maxChunk, errMalformed)
		}
		c.left = int(n)
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.st.Read(p)
	c.left -= n
	if err != nil {
		if n > 0 {
			return n, nil // the error comes again on the next Read
		}
		return 0, c.endErr(err)
	}
	return n, nil
}

// waitClosed waits, after Read returned the end-of-data marker, until the stream
// closes, and says whether the other side aborted it. The other side closes a
// stream when both directions are done, so a close while we are still sending
// means it gave up on our data (errAborted); without this, our writes would
// stall on smux's window forever. It returns nil when we closed the stream.
func (c *chunkConn) waitClosed() error {
	var b [1]byte
	_, err := c.st.Read(b[:])
	if err == nil {
		return fmt.Errorf("data after the end-of-data marker: %w", errMalformed)
	}
	if c.closed.Load() {
		return nil
	}
	return c.endErr(err)
}

// Write sends p as chunks (a copy per chunk; the splice path uses ReadFrom).
func (c *chunkConn) Write(p []byte) (int, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	written := 0
	for len(p) > 0 {
		n := min(len(p), len(buf)-4)
		binary.BigEndian.PutUint32(buf, uint32(n))
		copy(buf[4:], p[:n])
		if err := c.writeChunk(buf[:4+n]); err != nil {
			return written, err
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

func (c *chunkConn) writeChunk(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.st.Write(b); err != nil {
		return c.endErr(err)
	}
	return nil
}

// ReadFrom copies r into the stream, reading straight into a chunk buffer.
func (c *chunkConn) ReadFrom(r io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var total int64
	for {
		n, rerr := r.Read(buf[4:])
		if n > 0 {
			binary.BigEndian.PutUint32(buf, uint32(n))
			if err := c.writeChunk(buf[:4+n]); err != nil {
				return total, err
			}
			total += int64(n)
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				return total, nil
			}
			return total, rerr
		}
	}
}

// CloseWrite sends the end-of-data marker; the stream stays open for reading.
func (c *chunkConn) CloseWrite() error {
	return c.writeChunk([]byte{0, 0, 0, 0})
}

// Close closes the stream. Without a prior CloseWrite the peer sees an abort.
func (c *chunkConn) Close() error {
	c.closed.Store(true)
	return c.st.Close()
}
