package overlay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
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
// stream; we close it only when both directions are done. A bonus: a stream that
// ends without the marker was aborted, and the other side learns that as an error
// instead of a clean EOF.
type chunkConn struct {
	st io.ReadWriteCloser // a *smux.Stream

	// read side (one reader)
	left int
	eof  bool

	wmu sync.Mutex // chunks are written whole
}

// maxChunk keeps a chunk plus its header within one smux frame.
const maxChunk = smuxFrameSize - 4

// errAborted reports a stream that ended without an end-of-data marker.
var errAborted = errors.New("the other side aborted the connection")

func newChunkConn(st io.ReadWriteCloser) *chunkConn { return &chunkConn{st: st} }

func (c *chunkConn) Read(p []byte) (int, error) {
	if c.left == 0 {
		if c.eof {
			return 0, io.EOF
		}
		var h [4]byte
		if _, err := io.ReadFull(c.st, h[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return 0, errAborted
			}
			return 0, err
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
	if errors.Is(err, io.EOF) {
		if n > 0 {
			err = nil
		} else {
			err = errAborted
		}
	}
	return n, err
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
	_, err := c.st.Write(b)
	return err
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
func (c *chunkConn) Close() error { return c.st.Close() }
