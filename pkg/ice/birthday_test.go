package ice

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestBirthdayLoopback: the two sides of a birthday attempt on loopback find
// a pair (the easy side probes random ports until one of the hard side's
// sockets answers), data flows both ways on the Paths, and when one side
// closes, the other's consent checks declare its Path dead.
func TestBirthdayLoopback(t *testing.T) {
	checkGoroutines(t)
	cfg := Config{Logger: testLogger(), KeepaliveInterval: 200 * time.Millisecond, DisconnectedTimeout: time.Second}
	token, err := NewBirthdayToken()
	if err != nil {
		t.Fatal(err)
	}
	easyConn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	easyEP := easyConn.LocalAddr().(*net.UDPAddr).AddrPort()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	hardGot, easyGot := make(chan []byte, 16), make(chan []byte, 16)
	collect := func(ch chan []byte) func([]byte, bool) {
		return func(b []byte, _ bool) {
			select {
			case ch <- bytes.Clone(b):
			default:
			}
		}
	}
	ready := make(chan struct{})
	type result struct {
		p   *Path
		st  BirthdayStats
		err error
	}
	hardDone := make(chan result, 1)
	go func() {
		p, st, err := BirthdayHard(ctx, cfg, BirthdayConfig{Sockets: 512}, easyEP, token, func() { close(ready) }, collect(hardGot))
		hardDone <- result{p, st, err}
	}()
	select {
	case <-ready:
	case r := <-hardDone:
		t.Fatalf("hard side ended before ready: %v", r.err)
	}
	easy, est, err := BirthdayEasy(ctx, cfg, BirthdayConfig{Probes: 16384, Rate: 1000}, easyConn, netip.MustParseAddr("127.0.0.1"), token, collect(easyGot))
	if err != nil {
		t.Fatal(err)
	}
	defer easy.Close()
	hr := <-hardDone
	if hr.err != nil {
		t.Fatal(hr.err)
	}
	hard := hr.p
	defer hard.Close()
	t.Logf("easy: %d probes in %v; hard: %d sockets, %d packets, %v", est.Sent, est.Took, hr.st.Sockets, hr.st.Sent, hr.st.Took)
	if hr.st.Sockets != 512 || est.Sent < 1 || est.Sent > 16384 {
		t.Errorf("stats: hard %+v, easy %+v", hr.st, est)
	}
	if easy.Method() != MethodBirthday || hard.Method() != MethodBirthday {
		t.Errorf("methods %q, %q", easy.Method(), hard.Method())
	}
	er, _ := easy.Remote()
	hl, _ := hard.Local()
	if netip.MustParseAddrPort(er).Port() != netip.MustParseAddrPort(hl).Port() {
		t.Errorf("the easy side talks to %s, the hard side's socket is %s", er, hl)
	}

	// Data both ways (sealed datagrams start with the top bit set).
	for _, c := range []struct {
		from *Path
		to   chan []byte
	}{{easy, hardGot}, {hard, easyGot}} {
		msg := []byte{0x80, 'h', 'i'}
		if err := c.from.Send(msg); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-c.to:
			if !bytes.Equal(got, msg) {
				t.Fatalf("got % x, want % x", got, msg)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("datagram not delivered")
		}
	}
	// Consent: alive while both run, then the hard side's dies with the easy one.
	time.Sleep(3 * cfg.KeepaliveInterval)
	if err := hard.Err(); err != nil {
		t.Fatalf("hard path died while both ran: %v", err)
	}
	if rtt := easy.Stats().RTT; rtt <= 0 {
		t.Errorf("no consent round trip measured (rtt %v)", rtt)
	}
	easy.Close()
	select {
	case <-hard.Done():
		if !errors.Is(hard.Err(), ErrDisconnected) {
			t.Errorf("hard path died of %v, want ErrDisconnected", hard.Err())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("hard path still alive 10 s after the easy side closed")
	}
}

// TestBirthdayWrongToken: probes with another token get no answer; both
// sides give up and close their sockets.
func TestBirthdayWrongToken(t *testing.T) {
	checkGoroutines(t)
	cfg := Config{Logger: testLogger()}
	t1, _ := NewBirthdayToken()
	t2, _ := NewBirthdayToken()
	easyConn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	ready := make(chan struct{})
	hardErr := make(chan error, 1)
	go func() {
		_, _, err := BirthdayHard(ctx, cfg, BirthdayConfig{Sockets: 64}, easyConn.LocalAddr().(*net.UDPAddr).AddrPort(), t1, func() { close(ready) }, func([]byte, bool) {})
		hardErr <- err
	}()
	<-ready
	_, st, err := BirthdayEasy(ctx, cfg, BirthdayConfig{Probes: 300, Rate: 1000}, easyConn, netip.MustParseAddr("127.0.0.1"), t2, func([]byte, bool) {})
	if err == nil {
		t.Fatal("a wrong token found a pair")
	}
	if st.Sent != 300 {
		t.Errorf("sent %d probes, want 300", st.Sent)
	}
	if err := <-hardErr; err == nil {
		t.Fatal("the hard side answered a wrong token")
	}
}

func TestBirthdayConfig(t *testing.T) {
	for _, c := range []BirthdayConfig{{Sockets: 2000}, {Probes: -1}, {Rate: 5000}} {
		if _, err := c.withDefaults(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	c, err := BirthdayConfig{}.withDefaults()
	if err != nil || c.Sockets != 256 || c.Probes != 2048 || c.Rate != 200 {
		t.Errorf("defaults %+v, %v", c, err)
	}
}
