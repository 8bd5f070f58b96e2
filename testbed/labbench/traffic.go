package labbench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/meshnode/meshnode/internal/bench"
	"github.com/meshnode/meshnode/testbed/lab"
)

// The measurements of internal/bench (Throughput, PingPong and their sink and
// echo), with sockets inside lab nodes instead of the host's loopback.

// dialFunc opens one connection from inside a node.
type dialFunc func(ctx context.Context) (net.Conn, error)

func dialFrom(l *lab.Lab, node, addr string) dialFunc {
	return func(ctx context.Context) (net.Conn, error) { return l.Dial(ctx, node, "tcp4", addr) }
}

// servers are a sink (acknowledges how many bytes it got, as bench's does)
// and an echo, listening inside one node.
type servers struct {
	sink, echo net.Listener
	wg         sync.WaitGroup
}

func startServers(l *lab.Lab, node, host string) (*servers, error) {
	s := &servers{}
	var err error
	if s.sink, err = l.Listen(node, "tcp4", net.JoinHostPort(host, "0")); err != nil {
		return nil, err
	}
	if s.echo, err = l.Listen(node, "tcp4", net.JoinHostPort(host, "0")); err != nil {
		s.sink.Close()
		return nil, err
	}
	s.serve(s.sink, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(n))
		c.Write(b[:])
	})
	s.serve(s.echo, func(c net.Conn) { io.Copy(c, c) })
	return s, nil
}

func (s *servers) serve(ln net.Listener, h func(net.Conn)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); h(c) }()
		}
	}()
}

func (s *servers) close() {
	s.sink.Close()
	s.echo.Close()
	s.wg.Wait()
}

// port returns a listener's port as a string.
func port(ln net.Listener) string { return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port) }

// connect dials and ties the connection's life to ctx (and a hard deadline).
func connect(ctx context.Context, dial dialFunc, limit time.Duration) (net.Conn, func(), error) {
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	c, err := dial(dctx)
	cancel()
	if err != nil {
		return nil, nil, err
	}
	c.SetDeadline(time.Now().Add(limit))
	stop := context.AfterFunc(ctx, func() { c.Close() })
	return c, func() { stop(); c.Close() }, nil
}

var chunk = func() []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}()

// throughput sends n bytes to a sink and returns MB/s, timed from the first
// byte to the sink's acknowledgement of all n (as bench.Throughput).
func throughput(ctx context.Context, dial dialFunc, n int64) (float64, error) {
	c, done, err := connect(ctx, dial, 10*time.Minute)
	if err != nil {
		return 0, err
	}
	defer done()
	start := time.Now()
	for left := n; left > 0; {
		k := min(left, int64(len(chunk)))
		if _, err := c.Write(chunk[:k]); err != nil {
			return 0, fmt.Errorf("write: %w", err)
		}
		left -= k
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return 0, fmt.Errorf("close write: %w", err)
	}
	var ack [8]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil {
		return 0, fmt.Errorf("sink ack: %w", err)
	}
	if got := int64(binary.BigEndian.Uint64(ack[:])); got != n {
		return 0, fmt.Errorf("sink got %d bytes of %d", got, n)
	}
	return float64(n) / 1e6 / time.Since(start).Seconds(), nil
}

// pingPong does rounds 64-byte round trips on one connection to an echo,
// after 10 warm-up rounds, and returns each round trip's time in ms (as
// bench.PingPong).
func pingPong(ctx context.Context, dial dialFunc, rounds int) (bench.Series, error) {
	c, done, err := connect(ctx, dial, 10*time.Minute)
	if err != nil {
		return nil, err
	}
	defer done()
	msg, back := make([]byte, 64), make([]byte, 64)
	for range 10 {
		if err := roundTrip(c, msg, back); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	out := make(bench.Series, 0, rounds)
	for i := range rounds {
		binary.BigEndian.PutUint32(msg, uint32(i))
		start := time.Now()
		if err := roundTrip(c, msg, back); err != nil {
			return nil, fmt.Errorf("round trip %d: %w", i, err)
		}
		out = append(out, ms(time.Since(start)))
		if binary.BigEndian.Uint32(back) != uint32(i) {
			return nil, errors.New("echo returned the wrong bytes")
		}
	}
	return out, nil
}

func roundTrip(c net.Conn, msg, back []byte) error {
	if _, err := c.Write(msg); err != nil {
		return err
	}
	_, err := io.ReadFull(c, back)
	return err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// dialCC is dialFrom with the TCP congestion control set on the socket (the
// sender's choice decides a bulk transfer).
func dialCC(l *lab.Lab, node, addr, cc string) dialFunc {
	return func(ctx context.Context) (net.Conn, error) {
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptString(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, cc)
			}); err != nil {
				return err
			}
			if serr != nil {
				return fmt.Errorf("congestion control %s: %w", cc, serr)
			}
			return nil
		}}
		var c net.Conn
		err := l.Do(node, func() (err error) { c, err = d.DialContext(ctx, "tcp4", addr); return })
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", node, err)
		}
		return c, nil
	}
}
