package overlay

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/xtaci/smux"
)

// smuxPair returns two ends of one smux stream over a loopback TCP connection.
func smuxPair(t *testing.T) (opener, acceptor *smux.Stream) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc := <-accepted
	cs, err := smux.Client(cc, smuxConfig())
	if err != nil {
		t.Fatal(err)
	}
	ss, err := smux.Server(sc, smuxConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close(); ss.Close() })
	o, err := cs.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	o.Write([]byte{0}) // smux announces a stream with its first frame
	a, err := ss.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(a, make([]byte, 1))
	return o, a
}

// TestChunkHalfCloseKeepsTail is the case smux's own half-close gets wrong: one
// side finishes writing first, the other answers afterwards and closes; every byte
// of the answer must arrive.
func TestChunkHalfCloseKeepsTail(t *testing.T) {
	o, a := smuxPair(t)
	co, ca := newChunkConn(o), newChunkConn(a)
	if _, err := co.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	if err := co.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	req, err := io.ReadAll(ca)
	if err != nil || string(req) != "request" {
		t.Fatalf("request %q %v", req, err)
	}
	answer := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB, more than a window
	go func() {
		ca.ReadFrom(bytes.NewReader(answer))
		ca.CloseWrite()
		ca.Close()
	}()
	time.Sleep(50 * time.Millisecond) // let the FIN race the reader, as in the bug
	got, err := io.ReadAll(co)
	if err != nil || !bytes.Equal(got, answer) {
		t.Fatalf("answer: %d of %d bytes, err %v", len(got), len(answer), err)
	}
}

func TestChunkAbortIsAnError(t *testing.T) {
	o, a := smuxPair(t)
	co, ca := newChunkConn(o), newChunkConn(a)
	co.Write([]byte("partial"))
	co.Close() // no end-of-data marker
	buf := make([]byte, 100)
	n, err := io.ReadFull(ca, buf[:7])
	if n != 7 || err != nil {
		t.Fatalf("data before the abort: %d %v", n, err)
	}
	if _, err := ca.Read(buf); !errors.Is(err, errAborted) {
		t.Fatalf("read after an abort: %v, want errAborted", err)
	}
}

func TestChunkRejectsOversizedChunk(t *testing.T) {
	o, a := smuxPair(t)
	o.Write([]byte{0xff, 0xff, 0xff, 0xff})
	if _, err := newChunkConn(a).Read(make([]byte, 10)); !errors.Is(err, errMalformed) {
		t.Fatalf("oversized chunk: %v", err)
	}
}

// TestSpliceBothWays splices a TCP connection to a stream whose other end echoes,
// with a half-close from the TCP side: all bytes come back, then EOF.
func TestSpliceBothWays(t *testing.T) {
	o, a := smuxPair(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		splice(c.(*net.TCPConn), newChunkConn(o))
	}()
	go func() { // the far end: echo, then end
		ca := newChunkConn(a)
		io.Copy(ca, ca)
		ca.CloseWrite()
		ca.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := bytes.Repeat([]byte("x"), 3<<20)
	go func() {
		c.Write(msg)
		c.(*net.TCPConn).CloseWrite()
	}()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo: %d of %d bytes, %v", len(got), len(msg), err)
	}
}

// TestSpliceAbortPropagates: the far end aborts; the TCP side is reset, not
// closed with a FIN that would look like a clean end, nor left hanging.
func TestSpliceAbortPropagates(t *testing.T) {
	o, a := smuxPair(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	errc := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_, _, err = splice(c.(*net.TCPConn), newChunkConn(o))
		errc <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	newChunkConn(a).Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("TCP side after the far end aborted: %v, want a connection reset", err)
	}
	if err := <-errc; !errors.Is(err, errAborted) {
		t.Fatalf("splice error %v, want errAborted", err)
	}
}

type rwc struct{ io.Reader }

func (rwc) Write(p []byte) (int, error) { return len(p), nil }
func (rwc) Close() error                { return nil }

// FuzzChunkRead: any byte stream read as chunks never panics, never yields more
// than it announced, and ends in EOF (marker), errAborted (no marker) or an error.
func FuzzChunkRead(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 5, 'a'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := newChunkConn(rwc{bytes.NewReader(b)})
		got, err := io.ReadAll(c)
		if len(got) > len(b) {
			t.Fatalf("read %d bytes from %d", len(got), len(b))
		}
		if err == nil {
			// A clean end needs the marker: the input ends with 4 zero bytes.
			if len(b) < 4 || !bytes.Equal(b[len(b)-4:], []byte{0, 0, 0, 0}) && !bytes.Contains(b, []byte{0, 0, 0, 0}) {
				t.Fatalf("clean EOF without an end marker in %x", b)
			}
		}
	})
}
