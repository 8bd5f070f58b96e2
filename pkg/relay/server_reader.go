package relay

import (
	"bufio"
	"net"
	"sync"
)

// Read buffer sizes of a server connection: a quiet connection keeps a small
// buffer (idle memory is what limits how many nodes a rendezvous holds); a busy
// one borrows a large one from the server's pool, so a stream of datagrams costs
// one read syscall per ~45 of them instead of per ~3.
const (
	smallReadBuf = 4 << 10
	bigReadBuf   = 64 << 10
)

// fillReader records whether the last Read filled all the space it was given: a
// sign that more data was waiting in the socket.
type fillReader struct {
	nc   net.Conn
	full bool
}

func (f *fillReader) Read(p []byte) (int, error) {
	n, err := f.nc.Read(p)
	f.full = n == len(p)
	return n, err
}

// connReader is a server connection's buffered reader. It switches between its
// own small buffer and a borrowed big one, only when nothing is buffered, so no
// data is ever lost in the switch.
type connReader struct {
	fr    fillReader
	small *bufio.Reader
	big   *bufio.Reader // borrowed from pool while busy
	pool  *sync.Pool
}

func newConnReader(nc net.Conn, pool *sync.Pool) *connReader {
	cr := &connReader{fr: fillReader{nc: nc}, pool: pool}
	cr.small = bufio.NewReaderSize(&cr.fr, smallReadBuf)
	return cr
}

// reader returns the reader to use for the next frame, switching buffers when
// the connection got busy or quiet.
func (cr *connReader) reader() *bufio.Reader {
	if cr.big == nil {
		if cr.fr.full && cr.small.Buffered() == 0 {
			cr.big = cr.pool.Get().(*bufio.Reader)
			cr.big.Reset(&cr.fr)
			return cr.big
		}
		return cr.small
	}
	if !cr.fr.full && cr.big.Buffered() == 0 {
		cr.release()
		return cr.small
	}
	return cr.big
}

// release returns a borrowed buffer (when nothing is buffered in it).
func (cr *connReader) release() {
	if cr.big != nil {
		cr.big.Reset(nil)
		cr.pool.Put(cr.big)
		cr.big = nil
	}
}
