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
	"github.com/meshnode/meshnode/pkg/control/api"
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
		path  api.Path
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

// TestRendezvousOutageMidTransfer kills the rendezvous during a 64 MiB relayed
// download and starts it again on the same address a few seconds later. While
// it is down, the relayed link shows as down, a new mapped connection over it
// is reset at once with the reason in the node's log (once) and status, and a
// direct link keeps moving data. When it is back, the relayed download resumes
// and completes byte-exact, or fails with an error: never a silent truncation.
func TestRendezvousOutageMidTransfer(t *testing.T) {
	r := startRendezvous(t, "")
	addr := r.Addr
	src := startSource(t, 8<<20)
	startNode(t, r, nodeOpts{Name: "alpha", Serve: []string{"700=" + src.addr() + ",name=src"}})
	b := startNode(t, r, nodeOpts{Name: "beta", Extra: []string{"--relay-only"}})
	g := startNode(t, r, nodeOpts{Name: "gamma"})
	relayed := mapService(t, b, "700")
	direct := mapService(t, g, "700")
	waitPath(t, b, "alpha", "relay", 30*time.Second)
	waitPath(t, g, "alpha", "direct", 30*time.Second)

	dr := startDownload(t, relayed)
	dd := startDownload(t, direct)
	dr.waitBytes(t, 4<<20, time.Minute)
	r.Kill()
	killed := time.Now()
	atKill, directAtKill := dr.got.Load(), dd.got.Load()

	// beta knows at once; wait until its retries fail the same way each time.
	waitUntil(t, 10*time.Second, func() error {
		st, err := b.Ctl.Status(t.Context())
		if err != nil || st.Rendezvous.Connected || !regexp.MustCompile(`refused`).MatchString(st.Rendezvous.LastError) {
			return fmt.Errorf("beta's rendezvous: %+v %v", st.Rendezvous, err)
		}
		return nil
	})
	out, err := cli(b, "peers")
	if err != nil || !regexp.MustCompile(`alpha .*down \(rendezvous unreachable\)\s+relay`).MatchString(out) {
		t.Errorf("beta's peers while the rendezvous is down: %v\n%s", err, out)
	}
	out, err = cli(b, "status")
	if err != nil || !regexp.MustCompile(`rdv +\S+: disconnected \(.*refused\), since \S+`).MatchString(out) ||
		!regexp.MustCompile(`peers +0 linked of 2 known`).MatchString(out) {
		t.Errorf("beta's status while the rendezvous is down: %v\n%s", err, out)
	}
	out, err = cli(g, "peers")
	if err != nil || !regexp.MustCompile(`alpha .* up\s+direct`).MatchString(out) {
		t.Errorf("gamma's peers while the rendezvous is down: %v\n%s", err, out)
	}

	// New connections over the relayed link fail at once, and say why once.
	var failTimes []time.Duration
	for range 2 {
		start := time.Now()
		n, err := tryMapped(relayed)
		failTimes = append(failTimes, time.Since(start))
		if n != 0 || !isReset(err) && !errors.Is(err, syscall.EPIPE) {
			t.Errorf("new mapped connection while the rendezvous is down: %d bytes, %v; want a reset", n, err)
		}
	}
	t.Logf("new relayed connections failed after %v", failTimes)
	for _, d := range failTimes {
		if d > 3*time.Second {
			t.Errorf("a new relayed connection took %v to fail, want about at once", d)
		}
	}
	why := regexp.MustCompile(`level=WARN msg="mapped connection failed"[^\n]*peer alpha \(\w+\) is reachable only through the rendezvous, which is unreachable since [^:]+:\d\d:\d\d\S*: [^\n]*refused`)
	if n := logCount(t, b.Proc, why); n != 1 {
		t.Errorf("beta logged the unreachable rendezvous %d times, want once", n)
	}
	ms, err := b.Ctl.Mappings(t.Context())
	if err != nil || len(ms) != 1 || !regexp.MustCompile(`reachable only through the rendezvous, which is unreachable`).MatchString(ms[0].LastError) {
		t.Errorf("beta's mapping while the rendezvous is down: %+v %v", ms, err)
	}

	// Back after a few seconds, on the same address.
	time.Sleep(time.Until(killed.Add(3 * time.Second)))
	directMoved := dd.got.Load() - directAtKill
	r2 := startRendezvous(t, addr)
	restarted := time.Now()
	stalled := dr.got.Load()
	resumedc := make(chan time.Time, 1)
	go func() { // the moment the relayed download moves again (or ends)
		for {
			select {
			case <-dr.done:
			default:
				if dr.got.Load() == stalled {
					time.Sleep(5 * time.Millisecond)
					continue
				}
			}
			resumedc <- time.Now()
			return
		}
	}()
	waitUntil(t, 30*time.Second, func() error {
		st, err := b.Ctl.Status(t.Context())
		if err != nil || !st.Rendezvous.Connected {
			return fmt.Errorf("beta's rendezvous: %+v %v", st.Rendezvous, err)
		}
		return nil
	})
	t.Logf("beta reconnected %v after the restart", time.Since(restarted).Round(100*time.Millisecond))
	t.Logf("relayed download: %d bytes at the kill, %d when the rendezvous came back %v later; the direct one moved %d bytes meanwhile",
		atKill, stalled, restarted.Sub(killed).Round(100*time.Millisecond), directMoved)
	if directMoved < 1<<20 {
		t.Errorf("the direct link moved %d bytes while the rendezvous was down, want it to keep going", directMoved)
	}
	var resumed time.Time
	select {
	case resumed = <-resumedc:
	case <-time.After(time.Minute):
		t.Fatalf("relayed download still stalled at %d bytes a minute after the rendezvous came back", stalled)
	}
	err = dr.wait(t, 2*time.Minute)
	got := dr.got.Load()
	t.Logf("relayed download moved again %v after the restart (%v after the kill); it ended with %v, %d of %d bytes intact",
		resumed.Sub(restarted).Round(100*time.Millisecond), resumed.Sub(killed).Round(100*time.Millisecond), err, got, faultSize)
	if err != nil && !isReset(err) {
		t.Fatalf("relayed download after the outage: %v (%d bytes), want all bytes or a reset", err, got)
	}
	if err := dd.wait(t, 2*time.Minute); err != nil {
		t.Fatalf("direct download: %v", err)
	}
	waitLog(t, r2.Proc, regexp.MustCompile(`(?s)joined.*joined.*joined`), 30*time.Second)
	waitUntil(t, 30*time.Second, func() error {
		ps, err := b.Ctl.Peers(t.Context())
		if err != nil || len(ps) != 2 {
			return fmt.Errorf("beta's peers: %+v %v", ps, err)
		}
		for _, p := range ps {
			if p.State != api.LinkStateUp {
				return fmt.Errorf("beta's peers: %+v", ps)
			}
		}
		return nil
	})
}

// tryMapped connects to a mapping, sends a little and reads until the
// connection ends; it returns the bytes read and how it ended.
func tryMapped(addr string) (int, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err // a reset may beat connect's return on loopback
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello")); err != nil {
		// The reset came before the write, which took its error (a read
		// after it sees a plain EOF).
		return 0, err
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := io.Copy(io.Discard, c)
	if err == nil {
		err = io.EOF
	}
	return int(n), err
}

// TestLongRendezvousOutage: the rendezvous dies for good during a relayed
// download. The transfer cannot resume, so both ends are cut off cleanly: the
// client and the service each get a reset (within a bound), never an end.
func TestLongRendezvousOutage(t *testing.T) {
	r := startRendezvous(t, "")
	src := startSource(t, 8<<20)
	a := startNode(t, r, nodeOpts{Name: "alpha", Serve: []string{"700=" + src.addr() + ",name=src"}, Extra: []string{"--relay-only"}})
	b := startNode(t, r, nodeOpts{Name: "beta", Extra: []string{"--relay-only"}})
	d := startDownload(t, mapService(t, b, "700"))
	d.waitBytes(t, 4<<20, time.Minute)
	r.Kill()
	killed := time.Now()
	err := d.wait(t, 90*time.Second)
	t.Logf("client's read ended %v after the rendezvous died: %v (%d of %d bytes, intact)",
		d.at.Sub(killed).Round(100*time.Millisecond), err, d.got.Load(), faultSize)
	if !isReset(err) {
		t.Fatalf("client's read during a long rendezvous outage: %v, want a reset", err)
	}
	select {
	case err := <-src.ends:
		if !isReset(err) && !errors.Is(err, syscall.EPIPE) {
			t.Errorf("the service's connection: %v, want a reset", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("the service's connection is still open")
	}
	cut := regexp.MustCompile(`level=WARN msg="mapped connection cut off"[^\n]*peer alpha \(\w+\) went down: nothing heard from it for \d+s; the rendezvous is unreachable`)
	if n := logCount(t, b.Proc, cut); n != 1 {
		t.Errorf("beta logged %d cut-off warnings, want 1", n)
	}
	if n := logCount(t, a.Proc, regexp.MustCompile(`level=WARN msg="served connection cut off"[^\n]*name=beta[^\n]*rendezvous is unreachable`)); n != 1 {
		t.Errorf("alpha logged %d cut-off warnings, want 1", n)
	}
}
