package overlay

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/ice"
)

// TestRouteSwitchKeepsStream: a stream keeps flowing, byte-exact, while its
// link goes relay -> direct -> relay (the direct path killed) -> direct again,
// and each change is an event.
func TestRouteSwitchKeepsStream(t *testing.T) {
	rdv := startRelay(t)
	ka, kb := newTestKey(t), newTestKey(t)
	runNode(t, rdv, "a", ka, Service{ID: 7, Proto: "tcp", Target: echoListener(t)})
	b, _ := runNode(t, rdv, "b", kb)
	events, cancel, ok := b.Subscribe()
	if !ok {
		t.Fatal("subscribe refused")
	}
	defer cancel()
	listen := mapTo(t, b, "7")

	c, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	// The writer paces itself until told to stop; the reader checks every byte.
	stop := make(chan struct{})
	sent := make(chan []byte, 1)
	go func() {
		rng := rand.NewChaCha8([32]byte{3})
		var all []byte
		chunk := make([]byte, 16<<10)
		for {
			select {
			case <-stop:
				c.(*net.TCPConn).CloseWrite()
				sent <- all
				return
			case <-time.After(2 * time.Millisecond):
			}
			rng.Read(chunk)
			if _, err := c.Write(chunk); err != nil {
				sent <- nil
				return
			}
			all = append(all, chunk...)
		}
	}()
	got := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(c); got <- b }()

	lb := linkOf(b, ka.Public())
	waitPathEvent(t, events, api.PathDirect)
	p := lb.route.direct.Load()
	if p == nil {
		t.Fatal("direct event but no direct path")
	}
	time.Sleep(100 * time.Millisecond) // data on the direct path
	p.Close()                          // the path dies under the stream
	waitPathEvent(t, events, api.PathRelay)
	time.Sleep(100 * time.Millisecond)       // data on the relay
	waitPathEvent(t, events, api.PathDirect) // ICE retried
	time.Sleep(100 * time.Millisecond)
	close(stop)
	want, have := <-sent, <-got
	if want == nil {
		t.Fatal("write failed")
	}
	if !bytes.Equal(want, have) {
		t.Fatalf("echoed %d bytes differ from the %d sent", len(have), len(want))
	}
	t.Logf("%d KiB echoed intact across three route changes", len(want)>>10)
}

func waitPathEvent(t *testing.T, events <-chan api.Event, path api.Path) api.Event {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Kind == api.EventPath && ev.Path == path {
				return ev
			}
		case <-timeout:
			t.Fatalf("no path=%s event", path)
		}
	}
}

func TestRelayReason(t *testing.T) {
	known := func(udp, sym bool) natInfo { return natInfo{Known: true, UDP: udp, Symmetric: sym} }
	for _, tc := range []struct {
		local, peer natInfo
		err         error
		want        string
	}{
		{natInfo{RelayOnly: true}, natInfo{}, nil, "forced: --relay-only on this node"},
		{natInfo{}, natInfo{RelayOnly: true}, nil, "forced: --relay-only on the peer"},
		{known(false, false), known(true, false), nil, "no UDP from this node"},
		{known(true, false), known(false, false), nil, "no UDP from the peer"},
		{known(true, true), known(true, true), nil, "symmetric NAT on both sides"},
		{known(true, true), known(true, false), nil, "ICE in progress"},
		{known(true, true), known(true, false), ice.ErrNoPath, "symmetric NAT on this side"},
		{known(true, false), known(true, true), ice.ErrNoPath, "symmetric NAT on the peer's side"},
		{natInfo{}, natInfo{}, errors.New("boom"), "ICE failed: boom"},
		{natInfo{}, natInfo{}, nil, "ICE in progress"},
	} {
		if got := relayReason(tc.local, tc.peer, tc.err); !strings.HasPrefix(got, tc.want) {
			t.Errorf("relayReason(%+v, %+v, %v) = %q, want %q", tc.local, tc.peer, tc.err, got, tc.want)
		}
	}
}

func TestParseNATInfo(t *testing.T) {
	ni := natInfo{Known: true, UDP: true, Symmetric: true}
	got, err := parseNATInfo(ni.marshal())
	if err != nil || got != ni {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, bad := range [][]byte{nil, []byte("{"), []byte(`{"udp":"yes"}`), bytes.Repeat([]byte(" "), maxNATInfo+1)} {
		if _, err := parseNATInfo(bad); !errors.Is(err, errMalformed) {
			t.Errorf("parseNATInfo(%.20q): %v", bad, err)
		}
	}
}

func FuzzParseNATInfo(f *testing.F) {
	f.Add(natInfo{Known: true, UDP: true}.marshal())
	f.Add([]byte(`{"known":true,"udp":false,"symmetric":true,"relay_only":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ni, err := parseNATInfo(b)
		if err != nil {
			return
		}
		if got, err := parseNATInfo(ni.marshal()); err != nil || got != ni {
			t.Fatalf("re-parse of %+v: %+v %v", ni, got, err)
		}
	})
}
