package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/testbed/labbench"
	"github.com/meshnode/meshnode/testbed/labtest"
)

// pathEvents collects b1's path events.
type pathEvents struct{ ch chan api.Event }

func (m *mesh) watchPaths(ctx context.Context, t *testing.T) *pathEvents {
	pe := &pathEvents{ch: make(chan api.Event, 64)}
	go func() {
		for ctx.Err() == nil { // reconnect: the node may not be listening yet
			err := m.ctlB.Events(ctx, func(ev api.Event) error {
				if ev.Kind == api.EventPath && ev.Name == "a1" {
					pe.ch <- ev
				}
				return nil
			})
			if ctx.Err() == nil {
				t.Logf("b1 events: %v; again", err)
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	return pe
}

// wait returns the time until the next path event says path.
func (pe *pathEvents) wait(ctx context.Context, path api.Path) (time.Duration, error) {
	start := time.Now()
	for {
		select {
		case ev := <-pe.ch:
			if ev.Path == path {
				return time.Since(start), nil
			}
		case <-ctx.Done():
			return 0, fmt.Errorf("no path=%s event: %w", path, ctx.Err())
		}
	}
}

// stream is one mapped connection moving paced random bytes through an echo
// until stopped; check says whether every byte came back in order.
type stream struct {
	c    net.Conn
	stop chan struct{}
	sent chan []byte
	got  chan []byte
}

func (m *mesh) startStream(ctx context.Context) (*stream, error) {
	mi, err := m.ctlB.AddMapping(ctx, api.MappingRequest{Target: "700"})
	if err != nil {
		return nil, fmt.Errorf("map 700: %w", err)
	}
	c, err := m.l.Dial(ctx, "b1", "tcp4", mi.Listen)
	if err != nil {
		return nil, err
	}
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	s := &stream{c: c, stop: make(chan struct{}), sent: make(chan []byte, 1), got: make(chan []byte, 1)}
	go func() {
		rng := rand.NewChaCha8([32]byte{5})
		var all []byte
		chunk := make([]byte, 8<<10)
		for {
			select {
			case <-s.stop:
				c.(*net.TCPConn).CloseWrite()
				s.sent <- all
				return
			case <-time.After(5 * time.Millisecond): // ~1.6 MB/s
			}
			rng.Read(chunk)
			if _, err := c.Write(chunk); err != nil {
				s.sent <- nil
				return
			}
			all = append(all, chunk...)
		}
	}()
	go func() { b, _ := io.ReadAll(c); s.got <- b }()
	return s, nil
}

func (s *stream) finish() (int, error) {
	defer s.c.Close()
	close(s.stop)
	sent, got := <-s.sent, <-s.got
	switch {
	case sent == nil:
		return 0, errors.New("the stream's write failed")
	case !bytes.Equal(sent, got):
		return 0, fmt.Errorf("echoed %d bytes differ from the %d sent", len(got), len(sent))
	}
	return len(sent), nil
}

// TestPathUpgradeAndFallback: behind two port-restricted NATs, a transfer that
// starts on the relay (UDP between the sites blocked) keeps running while the
// link moves to a direct path (block lifted), back to the relay (blocked
// again) and to direct once more; every byte arrives intact and in order.
func TestPathUpgradeAndFallback(t *testing.T) {
	labtest.RequireRoot(t)
	t.Parallel()
	l := up(t, map[string]string{"SITE_A_NAT": "portrestricted", "SITE_B_NAT": "portrestricted"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := labbench.BlockSitesUDP(ctx, l, true); err != nil {
		t.Fatal(err)
	}
	m, err := startMesh(ctx, t, l)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.peerOfB(ctx); err != nil {
		t.Fatal(err)
	}
	pe := m.watchPaths(ctx, t)
	s, err := m.startStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if p, err := m.peerOfB(ctx); err != nil || p.Path != pathRelay {
		t.Fatalf("with UDP blocked: %+v %v", p, err)
	}

	if err := labbench.BlockSitesUDP(ctx, l, false); err != nil {
		t.Fatal(err)
	}
	up1, err := pe.wait(ctx, pathDirect)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := labbench.BlockSitesUDP(ctx, l, true); err != nil {
		t.Fatal(err)
	}
	down, err := pe.wait(ctx, pathRelay)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := labbench.BlockSitesUDP(ctx, l, false); err != nil {
		t.Fatal(err)
	}
	up2, err := pe.wait(ctx, pathDirect)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	n, err := s.finish()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := m.peerOfB(ctx)
	t.Logf("%d KiB intact across relay->direct->relay->direct; direct %v after unblocking, relay %v after blocking, direct again %v after unblocking; now %s via %s",
		n>>10, up1.Round(time.Millisecond), down.Round(time.Millisecond), up2.Round(time.Millisecond), p.Path, p.Endpoint)
}
