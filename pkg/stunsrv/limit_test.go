package stunsrv

import (
	"net"
	"testing"
	"time"
)

func TestGlobalLimiter(t *testing.T) {
	g := globalLimiter{rate: 2}
	t0 := time.Unix(1000, 0)
	for i, tc := range []struct {
		at   time.Duration
		want bool
	}{
		{0, true}, {0, true}, {500 * time.Millisecond, false},
		{time.Second, true}, {time.Second, true}, {1500 * time.Millisecond, false},
	} {
		if got := g.allow(t0.Add(tc.at)); got != tc.want {
			t.Fatalf("step %d: allow = %v, want %v", i, got, tc.want)
		}
	}
}

// TestGlobalRate: the global bound holds across source addresses that each
// stay far below their own limit.
func TestGlobalRate(t *testing.T) {
	frozen := time.Now() // one window, whatever the machine's speed
	s, conns := start(t, Config{MaxRate: 2, RatePerIP: 1000}, func(s *Server) { s.now = func() time.Time { return frozen } })
	srv := conns[0].LocalAddr()
	var clients []*net.UDPConn
	for _, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
		if err != nil {
			t.Skipf("cannot bind %s: %v", ip, err)
		}
		t.Cleanup(func() { c.Close() })
		clients = append(clients, c)
	}
	const sent = 12
	for i := range sent {
		c := clients[i%len(clients)]
		before := s.Stats()
		req := bindingRequest(t)
		if _, err := c.WriteTo(req.Raw, srv); err != nil {
			t.Fatal(err)
		}
		waitStats(t, s, func(st Stats) bool { return st.Answered+st.RateLimited > before.Answered+before.RateLimited })
	}
	if st := s.Stats(); st.Answered != 2 || st.RateLimited != sent-2 {
		t.Fatalf("stats %+v: want 2 of %d answered, the rest limited", st, sent)
	}
}
