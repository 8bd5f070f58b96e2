package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/meshnode/meshnode/internal/meshproc"
)

// Faults users meet: a serving node, a client's node or the rendezvous dies in
// the middle of a transfer. A cut-off transfer must reach the other end as an
// error (a TCP reset), never as a clean end that looks complete.

const faultSize = 64 << 20

// sourceServer is a TCP service that sends every client faultSize pattern bytes,
// at most rate bytes per second (so a transfer is in flight when a test
// interferes), then closes. It records how each connection ended.
type sourceServer struct {
	ln   net.Listener
	rate int
	ends chan error // one per connection: nil (all sent) or the write error
}

func startSource(t *testing.T, rate int) *sourceServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sourceServer{ln: ln, rate: rate, ends: make(chan error, 16)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s.ends <- s.send(c)
			}()
		}
	}()
	return s
}

func (s *sourceServer) addr() string { return s.ln.Addr().String() }

func (s *sourceServer) send(c net.Conn) error {
	src := pattern(99, faultSize)
	buf := make([]byte, 64<<10)
	tick := time.Duration(len(buf)) * time.Second / time.Duration(s.rate)
	next := time.Now()
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			c.SetWriteDeadline(time.Now().Add(2 * time.Minute))
			if _, err := c.Write(buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		next = next.Add(tick)
		time.Sleep(time.Until(next))
	}
}

// download reads a source's pattern through addr, checking every byte as it
// arrives. It counts the intact bytes as it goes, so a test can act mid-transfer.
type download struct {
	got  atomic.Int64
	done chan struct{}
	err  error // after done: nil (all bytes, then EOF), or how it ended
	at   time.Time
}

func startDownload(t *testing.T, addr string) *download {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	d := &download{done: make(chan struct{})}
	go func() {
		defer close(d.done)
		defer c.Close()
		d.err = d.run(c)
		d.at = time.Now()
	}()
	return d
}

func (d *download) run(c net.Conn) error {
	c.SetReadDeadline(time.Now().Add(3 * time.Minute))
	want := pattern(99, faultSize)
	buf, wbuf := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := io.ReadFull(want, wbuf[:n]); werr != nil {
				return fmt.Errorf("%d bytes beyond the %d sent", n, faultSize)
			}
			if !bytes.Equal(buf[:n], wbuf[:n]) {
				return fmt.Errorf("bytes differ from the sent ones after %d intact", d.got.Load())
			}
			d.got.Add(int64(n))
		}
		if err == io.EOF {
			if got := d.got.Load(); got != faultSize {
				return fmt.Errorf("clean EOF after %d of %d bytes: a cut-off transfer looks complete", got, faultSize)
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// waitBytes waits until at least n bytes arrived.
func (d *download) waitBytes(t *testing.T, n int64, timeout time.Duration) {
	t.Helper()
	waitUntil(t, timeout, func() error {
		select {
		case <-d.done:
			return fmt.Errorf("download ended after %d bytes: %v", d.got.Load(), d.err)
		default:
		}
		if got := d.got.Load(); got < n {
			return fmt.Errorf("%d of %d bytes", got, n)
		}
		return nil
	})
}

// wait waits for the end of the download.
func (d *download) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case <-d.done:
		return d.err
	case <-time.After(timeout):
		t.Fatalf("download still running after %v (%d bytes)", timeout, d.got.Load())
		return nil
	}
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// logCount waits a moment for late lines, then counts (and shows) the lines
// of p matching re.
func logCount(t *testing.T, p *meshproc.Proc, re *regexp.Regexp) int {
	t.Helper()
	time.Sleep(500 * time.Millisecond)
	lines := re.FindAllString(p.Out.String(), -1)
	for _, l := range lines {
		t.Logf("%s: %s", p.Name, l)
	}
	return len(lines)
}

// TestServingNodeKilled: kill -9 the serving node in the middle of a 64 MiB
// download through a mapping, on a relayed and on a direct link (and stop it
// cleanly, on a relayed one). The client gets a reset within a bound, every byte
// it got is intact, and its node logs one warning.
func TestServingNodeKilled(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
		path  string
		stop  bool // SIGTERM (a clean stop) instead of SIGKILL
	}{
		{"relay", []string{"--relay-only"}, "relay", false},
		{"direct", nil, "direct", false},
		{"relay-sigterm", []string{"--relay-only"}, "relay", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRendezvous(t, "")
			src := startSource(t, 16<<20)
			a := startNode(t, r, nodeOpts{Name: "alpha", Serve: []string{"700=" + src.addr() + ",name=src"}, Extra: tc.extra})
			b := startNode(t, r, nodeOpts{Name: "beta", Extra: tc.extra})
			listen := mapService(t, b, "700")
			waitPath(t, b, "alpha", tc.path, 30*time.Second)

			d := startDownload(t, listen)
			d.waitBytes(t, 8<<20, time.Minute)
			killed := time.Now()
			if tc.stop {
				go a.Stop(10 * time.Second)
			} else {
				a.Kill() // SIGKILL
			}
			err := d.wait(t, 90*time.Second)
			got := d.got.Load()
			t.Logf("%s link: client's read ended %v after the kill with %v; %d of %d bytes delivered, all intact",
				tc.path, d.at.Sub(killed).Round(100*time.Millisecond), err, got, faultSize)
			if !isReset(err) {
				t.Fatalf("client's read after the serving node died: %v, want a connection reset", err)
			}
			if got >= faultSize {
				t.Fatalf("all %d bytes arrived although the serving node died", got)
			}
			cut := regexp.MustCompile(`level=WARN msg="mapped connection cut off"[^\n]*peer alpha \(\w+\) went down: (it said goodbye, then )?nothing heard from it`)
			if n := logCount(t, b.Proc, cut); n != 1 {
				t.Errorf("beta logged %d cut-off warnings, want 1", n)
			}
		})
	}
}

// TestClientNodeKilled: kill -9 the node of a mapped client in the middle of a
// download; the serving node resets its connection to the target (the target's
// write fails) and logs one warning.
func TestClientNodeKilled(t *testing.T) {
	r := startRendezvous(t, "")
	src := startSource(t, 16<<20)
	a := startNode(t, r, nodeOpts{Name: "alpha", Serve: []string{"700=" + src.addr() + ",name=src"}, Extra: []string{"--relay-only"}})
	b := startNode(t, r, nodeOpts{Name: "beta", Extra: []string{"--relay-only"}})
	listen := mapService(t, b, "700")
	d := startDownload(t, listen)
	d.waitBytes(t, 8<<20, time.Minute)
	b.Kill()
	killed := time.Now()
	var err error
	select {
	case err = <-src.ends:
	case <-time.After(90 * time.Second):
		t.Fatal("the target's connection is still open 90s after the client's node died")
	}
	t.Logf("target's connection ended %v after the kill: %v", time.Since(killed).Round(100*time.Millisecond), err)
	if !isReset(err) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("target's connection after the client's node died: %v, want a reset", err)
	}
	cut := regexp.MustCompile(`level=WARN msg="served connection cut off"[^\n]*name=beta[^\n]*peer beta \(\w+\) went down: nothing heard from it`)
	if n := logCount(t, a.Proc, cut); n != 1 {
		t.Errorf("alpha logged %d cut-off warnings, want 1", n)
	}
}
