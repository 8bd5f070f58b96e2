package relay

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"time"
)

// errFinished is returned by connWriter.run after a finishing queue was flushed.
var errFinished = errors.New("send queue finished")

// connWriter is the writer goroutine of one connection: it takes batches from the
// queue, copies them into a bufio.Writer and flushes when the queue is empty, so a
// burst of small frames costs few syscalls while a lone frame goes out at once.
type connWriter struct {
	nc      net.Conn
	q       *sendQueue
	timeout time.Duration // a flush blocked this long fails the connection

	// Exactly one of bw (kept for the connection's life) or bwPool (borrowed while
	// there is something to write, so idle connections hold no buffer) is set.
	bw     *bufio.Writer
	bwPool *sync.Pool

	// onWritten is called with each frame before it is released (for counters).
	onWritten func(fb *frameBuf)
}

// run writes until the queue closes (nil), a finishing queue is flushed
// (errFinished), done is closed (nil) or a write fails (the error).
func (w *connWriter) run(done <-chan struct{}) error {
	var batch []*frameBuf
	var deadlineSet time.Time
	defer w.releaseWriter()
	for {
		var closed, finishing bool
		batch, closed, finishing = w.q.take(batch)
		if closed {
			w.release(batch)
			return nil
		}
		if len(batch) == 0 {
			if finishing {
				if w.bw != nil {
					w.nc.SetWriteDeadline(time.Now().Add(w.timeout))
					if err := w.bw.Flush(); err != nil {
						return err
					}
				}
				return errFinished
			}
			// Going idle: give back what only a busy connection needs.
			if w.bwPool != nil && w.bw != nil && w.bw.Buffered() == 0 {
				w.releaseWriter()
			}
			if w.q.shrinkIdle && cap(batch) > maxIdleQueueCap {
				batch = nil
			}
			w.q.shrink()
			select {
			case <-w.q.wake:
				continue
			case <-done:
				return nil
			}
		}
		if w.bw == nil {
			w.bw = w.bwPool.Get().(*bufio.Writer)
			w.bw.Reset(w.nc)
		}
		if now := time.Now(); now.Sub(deadlineSet) > w.timeout/8 {
			w.nc.SetWriteDeadline(now.Add(w.timeout))
			deadlineSet = now
		}
		var err error
		for i, fb := range batch {
			if err == nil {
				_, err = w.bw.Write(fb.b)
				if err == nil && w.onWritten != nil {
					w.onWritten(fb)
				}
			}
			w.q.written(fb)
			w.q.pool.put(fb)
			batch[i] = nil
		}
		if err == nil && w.q.empty() {
			err = w.bw.Flush()
		}
		if err != nil {
			return err
		}
	}
}

func (w *connWriter) release(batch []*frameBuf) {
	for i, fb := range batch {
		w.q.written(fb)
		w.q.pool.put(fb)
		batch[i] = nil
	}
}

// releaseWriter gives a borrowed bufio.Writer back to its pool.
func (w *connWriter) releaseWriter() {
	if w.bwPool == nil || w.bw == nil {
		return
	}
	w.bw.Reset(nil)
	w.bwPool.Put(w.bw)
	w.bw = nil
}
