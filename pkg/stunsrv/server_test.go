package stunsrv

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun"
)

// start serves STUN on two loopback sockets until the test ends.
func start(t *testing.T, cfg Config) (*Server, []*net.UDPConn) {
	t.Helper()
	s := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	var conns []*net.UDPConn
	done := make(chan error, 2)
	for range 2 {
		pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, pc)
		go func() { done <- s.Serve(ctx, pc) }()
	}
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}
	})
	return s, conns
}

func client(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends raw to srv and returns the decoded answer, or nil after wait.
func roundTrip(t *testing.T, c *net.UDPConn, srv net.Addr, raw []byte, wait time.Duration) *stun.Message {
	t.Helper()
	if _, err := c.WriteTo(raw, srv); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 1500)
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		return nil
	}
	if from.String() != srv.String() {
		t.Fatalf("answer from %v, want %v", from, srv)
	}
	m := &stun.Message{Raw: buf[:n]}
	if err := m.Decode(); err != nil {
		t.Fatalf("undecodable answer: %v", err)
	}
	return m
}

func bindingRequest(t *testing.T, setters ...stun.Setter) *stun.Message {
	t.Helper()
	m, err := stun.Build(append([]stun.Setter{stun.BindingRequest, stun.TransactionID}, setters...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBindingBothPorts(t *testing.T) {
	s, conns := start(t, Config{})
	c := client(t)
	for i, srv := range conns {
		for _, extra := range [][]stun.Setter{nil, {stun.Fingerprint}} {
			req := bindingRequest(t, extra...)
			resp := roundTrip(t, c, srv.LocalAddr(), req.Raw, 5*time.Second)
			if resp == nil {
				t.Fatalf("port %d: no answer", i)
			}
			if resp.Type != stun.BindingSuccess || resp.TransactionID != req.TransactionID {
				t.Fatalf("port %d: answer %v tid %x, want success for %x", i, resp.Type, resp.TransactionID, req.TransactionID)
			}
			if err := stun.Fingerprint.Check(resp); err != nil {
				t.Fatalf("port %d: fingerprint: %v", i, err)
			}
			var xa stun.XORMappedAddress
			if err := xa.GetFrom(resp); err != nil {
				t.Fatal(err)
			}
			if got, want := xa.String(), c.LocalAddr().String(); got != want {
				t.Fatalf("port %d: XOR-MAPPED-ADDRESS %s, want the client's own %s", i, got, want)
			}
		}
	}
	if st := s.Stats(); st.Answered != 4 || st.Malformed+st.Ignored+st.RateLimited+st.SendErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestGarbageIgnored(t *testing.T) {
	s, conns := start(t, Config{})
	c := client(t)
	srv := conns[0].LocalAddr()
	good := bindingRequest(t)
	badFP := bindingRequest(t, stun.Fingerprint)
	badFP.Raw[len(badFP.Raw)-1] ^= 1
	indication, _ := stun.Build(stun.NewType(stun.MethodBinding, stun.ClassIndication), stun.TransactionID)
	success, _ := stun.Build(stun.BindingSuccess, stun.TransactionID)
	truncated := append([]byte(nil), good.Raw...)
	truncated[3] = 40 // claims attributes it does not carry
	sealedLike := append([]byte{0x81}, good.Raw[1:]...)
	for _, tc := range []struct {
		name               string
		raw                []byte
		malformed, ignored uint64
	}{
		{"empty", []byte{}, 1, 0},
		{"short", []byte{0, 1, 0, 0}, 2, 0},
		{"random", []byte("this is not a STUN message at all"), 3, 0},
		{"bad length", truncated, 4, 0},
		{"bad fingerprint", badFP.Raw, 5, 0},
		{"top bits set (a sealed packet)", sealedLike, 6, 0},
		{"indication", indication.Raw, 6, 1},
		{"success response", success.Raw, 6, 2},
	} {
		if resp := roundTrip(t, c, srv, tc.raw, 100*time.Millisecond); resp != nil {
			t.Fatalf("%s: answered (%v)", tc.name, resp.Type)
		}
		if st := s.Stats(); st.Malformed != tc.malformed || st.Ignored != tc.ignored {
			t.Fatalf("%s: stats %+v, want malformed %d ignored %d", tc.name, st, tc.malformed, tc.ignored)
		}
	}
	// Still serving.
	if roundTrip(t, c, srv, bindingRequest(t).Raw, 5*time.Second) == nil {
		t.Fatal("no answer after garbage")
	}
}

func TestRateLimit(t *testing.T) {
	s, conns := start(t, Config{RatePerIP: 3})
	c := client(t)
	srv := conns[0].LocalAddr()
	answered := 0
	for range 6 {
		if roundTrip(t, c, srv, bindingRequest(t).Raw, 200*time.Millisecond) != nil {
			answered++
		}
	}
	// All six fit in one or two windows: at least 3 and at most 6 answers, and
	// unless the run straddled a window, exactly 3.
	st := s.Stats()
	if answered < 3 || st.Answered != uint64(answered) || st.RateLimited != uint64(6-answered) {
		t.Fatalf("answered %d, stats %+v", answered, st)
	}
	if answered == 6 {
		t.Fatal("no request was rate-limited")
	}
}

func TestLimiter(t *testing.T) {
	l := limiter{rate: 2, max: 2}
	t0 := time.Unix(1000, 0)
	a, b, c := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	for i, tc := range []struct {
		ip   netip.Addr
		at   time.Duration
		want bool
	}{
		{a, 0, true}, {a, 0, true}, {a, 0, false}, // rate
		{b, 0, true}, {c, 0, false}, // table full
		{c, time.Second, true}, {a, time.Second, true}, // new window
	} {
		if got := l.allow(tc.ip, t0.Add(tc.at)); got != tc.want {
			t.Fatalf("step %d: allow(%v) = %v, want %v", i, tc.ip, got, tc.want)
		}
	}
}
