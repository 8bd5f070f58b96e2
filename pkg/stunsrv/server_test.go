package stunsrv

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun"
)

// start serves STUN on two loopback sockets until the test ends; set changes
// the server before it serves.
func start(t *testing.T, cfg Config, set ...func(*Server)) (*Server, []*net.UDPConn) {
	t.Helper()
	s := New(cfg)
	for _, f := range set {
		f(s)
	}
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
		for _, fp := range []bool{false, true} {
			var extra []stun.Setter
			if fp {
				extra = append(extra, stun.Fingerprint)
			}
			req := bindingRequest(t, extra...)
			resp := roundTrip(t, c, srv.LocalAddr(), req.Raw, 5*time.Second)
			if resp == nil {
				t.Fatalf("port %d: no answer", i)
			}
			checkAnswer(t, req, resp, c.LocalAddr().String())
		}
	}
	// The counter moves once the answer is sent, maybe after it arrived.
	st := waitStats(t, s, func(st Stats) bool { return st.Answered == 4 })
	if st.Malformed+st.Ignored+st.RateLimited+st.SendErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// waitStats waits until s's counters satisfy ok (10 s bound a failing test).
func waitStats(t *testing.T, s *Server, ok func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := s.Stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
}

// checkAnswer checks that resp answers req from the client at addr: success,
// same transaction, the client's own address, FINGERPRINT exactly when the
// request had one, and within the amplification rule.
func checkAnswer(t *testing.T, req, resp *stun.Message, addr string) {
	t.Helper()
	if resp.Type != stun.BindingSuccess || resp.TransactionID != req.TransactionID {
		t.Fatalf("answer %v tid %x, want success for %x", resp.Type, resp.TransactionID, req.TransactionID)
	}
	if req.Contains(stun.AttrFingerprint) != resp.Contains(stun.AttrFingerprint) {
		t.Fatalf("request has FINGERPRINT %v, answer %v", req.Contains(stun.AttrFingerprint), resp.Contains(stun.AttrFingerprint))
	}
	if resp.Contains(stun.AttrFingerprint) {
		if err := stun.Fingerprint.Check(resp); err != nil {
			t.Fatalf("fingerprint: %v", err)
		}
	}
	var xa stun.XORMappedAddress
	if err := xa.GetFrom(resp); err != nil {
		t.Fatal(err)
	}
	if got := xa.String(); got != addr {
		t.Fatalf("XOR-MAPPED-ADDRESS %s, want the client's own %s", got, addr)
	}
	if len(resp.Attributes) != 1+btoi(resp.Contains(stun.AttrFingerprint)) {
		t.Fatalf("answer carries %v, want XOR-MAPPED-ADDRESS (and FINGERPRINT) only", resp.Attributes)
	}
	v6 := xa.IP.To4() == nil
	if !withinRule(len(req.Raw), len(resp.Raw), v6) {
		t.Fatalf("answer of %d bytes to a request of %d (IPv6 %v) breaks the amplification rule", len(resp.Raw), len(req.Raw), v6)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestSizes pins the byte counts doc.go states: answers to pion's bare
// request and to meshnode's netcheck request (with FINGERPRINT), IPv4 and
// IPv6, payload and on the wire.
func TestSizes(t *testing.T) {
	bare := bindingRequest(t)                     // what pion's ICE agent sends
	withFP := bindingRequest(t, stun.Fingerprint) // what pkg/ice's netcheck sends
	for _, tc := range []struct {
		req        *stun.Message
		src        string
		reqN, resp int
	}{
		{bare, "192.0.2.1:4000", 20, 32},
		{withFP, "192.0.2.1:4000", 28, 40},
		{bare, "[2001:db8::1]:4000", 20, 44},
		{withFP, "[2001:db8::1]:4000", 28, 52},
	} {
		src := netip.MustParseAddrPort(tc.src)
		req, v := parseRequest(tc.req.Raw)
		if v != answer || len(tc.req.Raw) != tc.reqN {
			t.Fatalf("request of %d bytes: %v", len(tc.req.Raw), v)
		}
		resp := appendResponse(nil, req, src)
		if len(resp) != tc.resp || responseSize(req, src) != tc.resp {
			t.Fatalf("%s, request %d bytes: answer %d bytes (responseSize %d), want %d", tc.src, tc.reqN, len(resp), responseSize(req, src), tc.resp)
		}
		o := wireOverhead4
		if src.Addr().Is6() {
			o = wireOverhead6
		}
		t.Logf("%-20s request %2d B (%3d on the wire) -> answer %2d B (%3d): x%.2f payload, x%.2f wire",
			tc.src, tc.reqN, tc.reqN+o, tc.resp, tc.resp+o, float64(tc.resp)/float64(tc.reqN), float64(tc.resp+o)/float64(tc.reqN+o))
		if !withinRule(tc.reqN, tc.resp, src.Addr().Is6()) {
			t.Fatalf("%s: breaks the rule", tc.src)
		}
		m := &stun.Message{Raw: resp}
		if err := m.Decode(); err != nil {
			t.Fatal(err)
		}
		checkAnswer(t, tc.req, m, tc.src)
	}
	if maxResponse != 52 {
		t.Fatalf("maxResponse %d", maxResponse)
	}
}

// TestIPv6 answers over IPv6 loopback, where there is one.
func TestIPv6(t *testing.T) {
	pc, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	s := New(Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pc) }()
	defer func() { cancel(); <-done }()
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, extra := range [][]stun.Setter{nil, {stun.Fingerprint}} {
		req := bindingRequest(t, extra...)
		resp := roundTrip(t, c, pc.LocalAddr(), req.Raw, 5*time.Second)
		if resp == nil {
			t.Fatal("no answer over IPv6")
		}
		checkAnswer(t, req, resp, c.LocalAddr().String())
	}
}

// TestMalformedNotAnswered: none of the inputs gets an answer, each is
// counted as what it is, and the server goes on answering. Each input is
// followed by a good request: the server handles a socket's datagrams in
// order, so when the first answer back is the good one's, the bad one got
// none.
func TestMalformedNotAnswered(t *testing.T) {
	s, conns := start(t, Config{})
	c := client(t)
	srv := conns[0].LocalAddr()
	var wantMalformed, wantIgnored uint64
	for _, tc := range badInputs(t) {
		good := bindingRequest(t)
		if _, err := c.WriteTo(tc.raw, srv); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		resp := roundTrip(t, c, srv, good.Raw, 5*time.Second)
		if resp == nil {
			t.Fatalf("%s: no answer to the good request after it", tc.name)
		}
		if resp.TransactionID != good.TransactionID {
			t.Fatalf("%s: answered (%v)", tc.name, resp.Type)
		}
		if tc.v == malformed {
			wantMalformed++
		} else {
			wantIgnored++
		}
		if st := s.Stats(); st.Malformed != wantMalformed || st.Ignored != wantIgnored || st.RateLimited != 0 {
			t.Fatalf("%s: stats %+v, want malformed %d ignored %d", tc.name, st, wantMalformed, wantIgnored)
		}
	}
}

// TestParseRequest: the same inputs, at the parser, and requests it answers.
func TestParseRequest(t *testing.T) {
	for _, tc := range badInputs(t) {
		if _, v := parseRequest(tc.raw); v != tc.v {
			t.Errorf("%s: verdict %v, want %v", tc.name, v, tc.v)
		}
	}
	for _, tc := range goodInputs(t) {
		req, v := parseRequest(tc.raw)
		if v != answer {
			t.Errorf("%s: verdict %v, want an answer", tc.name, v)
			continue
		}
		if req.fingerprint != tc.fp || !bytes.Equal(req.tid[:], tc.raw[8:20]) {
			t.Errorf("%s: %+v", tc.name, req)
		}
	}
}

type input struct {
	name string
	raw  []byte
	v    verdict // bad inputs: malformed or ignored
	fp   bool    // good inputs: carries FINGERPRINT
}

// goodInputs are Binding requests the server answers.
func goodInputs(t *testing.T) []input {
	t.Helper()
	ice := bindingRequest(t, stun.NewUsername("abcd:efgh"), stun.NewSoftware("pion"), iceControlling(1),
		stun.NewShortTermIntegrity("password"), stun.Fingerprint)
	return []input{
		{name: "bare (pion's)", raw: bindingRequest(t).Raw},
		{name: "with FINGERPRINT (netcheck's)", raw: bindingRequest(t, stun.Fingerprint).Raw, fp: true},
		{name: "with SOFTWARE", raw: bindingRequest(t, stun.NewSoftware("x")).Raw},
		{name: "an ICE check", raw: ice.Raw, fp: true},
	}
}

// iceControlling is an ICE-CONTROLLING attribute (comprehension-optional).
func iceControlling(tie uint64) stun.Setter {
	return stun.RawAttribute{Type: 0x802A, Value: binary.BigEndian.AppendUint64(nil, tie)}
}

// badInputs are datagrams the server must not answer, with what they are.
func badInputs(t *testing.T) []input {
	t.Helper()
	good := bindingRequest(t).Raw
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	withAttr := func(typ uint16, val []byte, more ...stun.Setter) []byte {
		return bindingRequest(t, append([]stun.Setter{stun.RawAttribute{Type: stun.AttrType(typ), Value: val}}, more...)...).Raw
	}
	badFP := bindingRequest(t, stun.Fingerprint).Raw
	badFP[len(badFP)-1] ^= 1
	fpNotLast := bindingRequest(t, stun.Fingerprint).Raw
	fpNotLast = append(fpNotLast, 0x80, 0x22, 0, 0) // SOFTWARE, empty, after FINGERPRINT
	binary.BigEndian.PutUint16(fpNotLast[2:4], uint16(len(fpNotLast)-20))
	fpShort := withAttr(0x8028, []byte{1, 2})
	msgType := func(m stun.Method, c stun.MessageClass) []byte {
		return mut(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[0:2], stun.NewType(m, c).Value())
			return b
		})
	}
	return []input{
		{name: "empty", raw: []byte{}, v: malformed},
		{name: "19 bytes", raw: good[:19], v: malformed},
		{name: "text", raw: []byte("this is not a STUN message at all, but long enough"), v: malformed},
		{name: "top bits set (a sealed packet)", raw: mut(func(b []byte) []byte { b[0] |= 0x80; return b }), v: malformed},
		{name: "wrong magic cookie (RFC 3489)", raw: mut(func(b []byte) []byte { b[4] ^= 0xff; return b }), v: malformed},
		{name: "length beyond the datagram", raw: mut(func(b []byte) []byte { b[3] = 40; return b }), v: malformed},
		{name: "bytes beyond the length", raw: mut(func(b []byte) []byte { return append(b, 0, 0, 0, 0) }), v: malformed},
		{name: "length not a multiple of 4", raw: mut(func(b []byte) []byte { b[3] = 2; return append(b, 0, 0) }), v: malformed},
		{name: "attribute overruns the message", raw: mut(func(b []byte) []byte {
			b[3] = 8
			return append(b, 0x80, 0x22, 0, 9, 'a', 'b', 'c', 'd')
		}), v: malformed},
		{name: "attribute header cut", raw: mut(func(b []byte) []byte { b[3] = 4; return append(b, 0x80, 0x22) }), v: malformed},
		{name: "bad FINGERPRINT", raw: badFP, v: malformed},
		{name: "FINGERPRINT not last", raw: fpNotLast, v: malformed},
		{name: "FINGERPRINT of 2 bytes", raw: fpShort, v: malformed},
		{name: "too large", raw: withAttr(0x8022, make([]byte, maxRequest)), v: malformed},
		{name: "success response", raw: msgType(stun.MethodBinding, stun.ClassSuccessResponse), v: ignored},
		{name: "error response", raw: msgType(stun.MethodBinding, stun.ClassErrorResponse), v: ignored},
		{name: "indication", raw: msgType(stun.MethodBinding, stun.ClassIndication), v: ignored},
		{name: "Allocate request (TURN)", raw: msgType(stun.MethodAllocate, stun.ClassRequest), v: ignored},
		{name: "CHANGE-REQUEST (RFC 5780)", raw: withAttr(0x0003, []byte{0, 0, 0, 6}), v: ignored},
		{name: "unknown comprehension-required attribute", raw: withAttr(0x7777, []byte{1, 2, 3, 4}, stun.Fingerprint), v: ignored},
	}
}

func TestRateLimit(t *testing.T) {
	frozen := time.Now() // one window, whatever the machine's speed
	s, conns := start(t, Config{RatePerIP: 3}, func(s *Server) { s.now = func() time.Time { return frozen } })
	c := client(t)
	srv := conns[0].LocalAddr()
	for i := range 6 {
		if _, err := c.WriteTo(bindingRequest(t).Raw, srv); err != nil {
			t.Fatal(err)
		}
		waitStats(t, s, func(st Stats) bool { return st.Answered+st.RateLimited == uint64(i+1) })
	}
	if st := s.Stats(); st.Answered != 3 || st.RateLimited != 3 {
		t.Fatalf("stats %+v, want 3 answered and 3 limited", st)
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
