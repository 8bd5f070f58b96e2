package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Servers are the targets the benchmark reaches, directly (baseline) or through a
// mapping: a sink that acknowledges how many bytes it received, and an echo.
type Servers struct {
	Sink, Echo net.Listener
	wg         sync.WaitGroup
}

// StartServers listens on loopback.
func StartServers() (*Servers, error) {
	sink, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		sink.Close()
		return nil, err
	}
	return ServeOn(sink, echo), nil
}

// ServeOn runs the sink and the echo on listeners the caller opened (e.g.
// inside a lab node); Close closes them.
func ServeOn(sink, echo net.Listener) *Servers {
	s := &Servers{Sink: sink, Echo: echo}
	s.serve(s.Sink, func(c net.Conn) {
		n, _ := io.Copy(io.Discard, c)
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(n))
		c.Write(b[:])
	})
	s.serve(s.Echo, func(c net.Conn) { io.Copy(c, c) })
	return s
}

func (s *Servers) serve(ln net.Listener, h func(net.Conn)) {
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

// Close stops the servers.
func (s *Servers) Close() {
	s.Sink.Close()
	s.Echo.Close()
	s.wg.Wait()
}

var chunk = func() []byte {
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}()

// Throughput sends n bytes to a sink at addr and returns MB/s, timed from the
// first byte to the sink's acknowledgement of all n.
func Throughput(addr string, n int64) (float64, error) { return ParallelThroughput(addr, 1, n) }

// ParallelThroughput opens streams connections to a sink at addr, then sends
// each bytes on every one at once and returns the aggregate MB/s, timed from
// the first byte to the last acknowledgement.
func ParallelThroughput(addr string, streams int, each int64) (float64, error) {
	conns := make([]net.Conn, 0, streams)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range streams {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return 0, err
		}
		c.SetDeadline(time.Now().Add(10 * time.Minute))
		conns = append(conns, c)
	}
	return aggregate(streams, each, func(i int) error { return sendToSink(conns[i], each) })
}

// ThroughputOn is Throughput on a connection the caller opened to a sink.
func ThroughputOn(c net.Conn, n int64) (float64, error) {
	return aggregate(1, n, func(int) error { return sendToSink(c, n) })
}

// aggregate runs send(0..k-1) at once, each moving each bytes, and returns
// the MB/s of all of them together over the time until the last returned.
func aggregate(k int, each int64, send func(i int) error) (float64, error) {
	errs := make(chan error, k)
	start := time.Now()
	for i := range k {
		go func() { errs <- send(i) }()
	}
	var err error
	for range k {
		err = errors.Join(err, <-errs)
	}
	if err != nil {
		return 0, err
	}
	return float64(k) * float64(each) / 1e6 / time.Since(start).Seconds(), nil
}

// sendToSink writes n bytes to c, half-closes it and checks the sink's
// acknowledgement.
func sendToSink(c net.Conn, n int64) error {
	if err := writeChunks(c, n); err != nil {
		return err
	}
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		return fmt.Errorf("%T cannot half-close", c)
	}
	if err := cw.CloseWrite(); err != nil {
		return fmt.Errorf("close write: %w", err)
	}
	return readAck(c, n, "sink")
}

// writeChunks writes n bytes of the test pattern to w.
func writeChunks(w io.Writer, n int64) error {
	for left := n; left > 0; {
		k := min(left, int64(len(chunk)))
		if _, err := w.Write(chunk[:k]); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		left -= k
	}
	return nil
}

// readAck reads a receiver's 8-byte count of the bytes it got and checks it is n.
func readAck(r io.Reader, n int64, who string) error {
	var ack [8]byte
	if _, err := io.ReadFull(r, ack[:]); err != nil {
		return fmt.Errorf("%s ack: %w", who, err)
	}
	if got := int64(binary.BigEndian.Uint64(ack[:])); got != n {
		return fmt.Errorf("%s got %d bytes of %d", who, got, n)
	}
	return nil
}

// PingPong does rounds 64-byte round trips on one connection to an echo at addr
// and returns each round trip's time in ms.
func PingPong(addr string, rounds int) (Series, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	return PingPongOn(c, rounds)
}

// PingPongOn is PingPong on a connection the caller opened to an echo.
func PingPongOn(c net.Conn, rounds int) (Series, error) {
	msg, back := make([]byte, 64), make([]byte, 64)
	// Warm up the connection (and the link's stream) first.
	for range 10 {
		if err := roundTrip(c, msg, back); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	out := make(Series, 0, rounds)
	for i := range rounds {
		msg[0] = byte(i)
		start := time.Now()
		if err := roundTrip(c, msg, back); err != nil {
			return nil, err
		}
		out = append(out, ms(time.Since(start)))
		if back[0] != byte(i) {
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

// ConnectFirstByte opens rounds new connections to an echo at addr and returns, for
// each, the ms from dial to the first echoed byte.
func ConnectFirstByte(addr string, rounds int) (Series, error) {
	out := make(Series, 0, rounds)
	b := []byte{42}
	for range rounds {
		start := time.Now()
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return nil, err
		}
		c.SetDeadline(time.Now().Add(time.Minute))
		if _, err := c.Write(b); err != nil {
			c.Close()
			return nil, err
		}
		if _, err := io.ReadFull(c, b); err != nil {
			c.Close()
			return nil, err
		}
		out = append(out, ms(time.Since(start)))
		c.Close()
	}
	return out, nil
}

// ManyConnections opens n connections to an echo at addr at once, has each echo
// size bytes while all are open, and returns how many failed.
func ManyConnections(addr string, n, size int) (failed int, took time.Duration) {
	start := time.Now()
	conns := make([]net.Conn, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 30*time.Second)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
			c.SetDeadline(time.Now().Add(2 * time.Minute))
			msg := make([]byte, size)
			msg[0] = byte(i)
			back := make([]byte, size)
			if err := roundTrip(c, msg, back); err != nil {
				errs <- err
				return
			}
			if back[0] != byte(i) {
				errs <- errors.New("echo from another connection")
			}
		}()
	}
	wg.Wait()
	took = time.Since(start)
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	close(errs)
	for range errs {
		failed++
	}
	return failed, took
}
