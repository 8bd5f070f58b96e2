package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// WebSocketMaxMessage is the largest WebSocket message either side of the
// WebSocket transport accepts; a larger one closes that connection (status 1009,
// "message too big"). The relay protocol (pkg/relay) writes at most one 64 KiB
// buffer or one frame (64 KiB + a 5-byte header) per Write, and every Write is one
// message, so this leaves ample headroom while bounding what a peer can send.
const WebSocketMaxMessage = 128 << 10

// wsConn is a WebSocket carrying a byte stream as binary messages: every Write is
// one message; Read returns the bytes of consecutive messages as one stream.
//
// It wraps websocket.NetConn for three things: the read limit (NetConn removes
// the library's default); a peer that closes without a close frame, which reads
// as io.EOF like a TCP FIN (NetConn returns the library's wrapped error); and
// deadlines. When a deadline passes during a blocked Read
// or Write, NetConn closes the connection and the call fails with a
// "context canceled" error; wsConn reports it as a timeout (os.ErrDeadlineExceeded,
// a net.Error whose Timeout() is true), as a TCP connection would, so that callers
// tell an idle timeout from a closed connection. A deadline that passes during a
// call ends the connection, unlike TCP, and one that passed may still end it later;
// the relay protocol treats every timeout as fatal anyway.
type wsConn struct {
	net.Conn
	// Deadlines as Unix nanoseconds; 0 = none.
	readDeadline, writeDeadline atomic.Int64
}

// newWSConn returns ws as a net.Conn carrying binary messages of at most
// WebSocketMaxMessage bytes. Its lifetime is ws's: Close closes it.
func newWSConn(ws *websocket.Conn) *wsConn {
	nc := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
	ws.SetReadLimit(WebSocketMaxMessage) // after NetConn, which sets no limit
	return &wsConn{Conn: nc}
}

func (c *wsConn) Read(p []byte) (int, error) {
	if expired(&c.readDeadline) { // NetConn notices a deadline only when its timer fires
		return 0, errReadTimeout
	}
	n, err := c.Conn.Read(p)
	switch {
	case err == nil:
	case expired(&c.readDeadline):
		err = errReadTimeout
	case errors.Is(err, websocket.ErrMessageTooBig): // the library's text is off by one
		err = fmt.Errorf("%w: a message exceeded the %d-byte limit", websocket.ErrMessageTooBig, WebSocketMaxMessage)
	case errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF):
		// The peer closed between messages without a close frame (NetConn
		// already says io.EOF for a normal close frame): a TCP FIN, so io.EOF.
		err = io.EOF
	}
	return n, err
}

func (c *wsConn) Write(p []byte) (int, error) {
	if expired(&c.writeDeadline) {
		return 0, errWriteTimeout
	}
	n, err := c.Conn.Write(p)
	if err != nil && expired(&c.writeDeadline) {
		err = errWriteTimeout
	}
	return n, err
}

// The errors of Read and Write after their deadline passed.
var (
	errReadTimeout  = fmt.Errorf("websocket read: %w", os.ErrDeadlineExceeded)
	errWriteTimeout = fmt.Errorf("websocket write: %w", os.ErrDeadlineExceeded)
)

func (c *wsConn) SetDeadline(t time.Time) error {
	c.readDeadline.Store(unixNano(t))
	c.writeDeadline.Store(unixNano(t))
	return c.Conn.SetDeadline(t)
}

func (c *wsConn) SetReadDeadline(t time.Time) error {
	c.readDeadline.Store(unixNano(t))
	return c.Conn.SetReadDeadline(t)
}

func (c *wsConn) SetWriteDeadline(t time.Time) error {
	c.writeDeadline.Store(unixNano(t))
	return c.Conn.SetWriteDeadline(t)
}

// expired reports whether the deadline in d is set and has passed.
func expired(d *atomic.Int64) bool {
	dl := d.Load()
	return dl != 0 && time.Now().UnixNano() >= dl
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
