package relay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/transport"
)

// checkGoroutines fails the test if goroutines started during it are still running
// once every other cleanup has run. Call it first in a test.
func checkGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines still running after the test (%d before):\n%s", n, before, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// logBuf collects log output for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitLog waits until the log holds a line containing every one of parts.
func (l *logBuf) waitLog(t *testing.T, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, line := range strings.Split(l.String(), "\n") {
			ok := true
			for _, p := range parts {
				if !strings.Contains(line, p) {
					ok = false
					break
				}
			}
			if ok {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q; log:\n%s", parts, l.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type testServer struct {
	*Server
	addr string
	log  *logBuf
	stop func() // stops the server and waits for Serve to return
}

// startServer runs a server on a loopback port (addr "" = any free port).
func startServer(t testing.TB, cfg ServerConfig, addr string) *testServer {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	lb := &logBuf{}
	if cfg.Logger == nil {
		cfg.Logger = lb.logger()
	}
	if cfg.RefusalLogEvery == 0 {
		cfg.RefusalLogEvery = -1 // tests look for each refusal's line
	}
	s := NewServer(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve returned %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &testServer{Server: s, addr: ln.Addr().String(), log: lb, stop: stop}
}

type packet struct {
	src     identity.PublicKey
	payload []byte
}

// testClient is a Client running in the background whose callbacks feed channels.
type testClient struct {
	*Client
	key     identity.PrivateKey
	pub     identity.PublicKey
	log     *logBuf
	packets chan packet
	events  chan PresenceEvent
	states  chan ConnState
	stop    func()
}

// groups caches derived groups: DeriveGroup is deliberately slow.
var groups = struct {
	sync.Mutex
	m map[string]identity.Group
}{m: map[string]identity.Group{}}

// testGroup returns the group name with the test secret.
func testGroup(t testing.TB, name string) identity.Group {
	t.Helper()
	return testGroupSecret(t, name, "test-secret-of-"+name)
}

// testGroupSecret returns the group name with secret.
func testGroupSecret(t testing.TB, name, secret string) identity.Group {
	t.Helper()
	groups.Lock()
	defer groups.Unlock()
	if g, ok := groups.m[name+"\x00"+secret]; ok {
		return g
	}
	g, err := identity.DeriveGroup(name, secret)
	if err != nil {
		t.Fatal(err)
	}
	groups.m[name+"\x00"+secret] = g
	return g
}

func newKey(t testing.TB) identity.PrivateKey {
	t.Helper()
	k, err := identity.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// startClient runs a client of group in the background; edit adjusts its config.
func startClient(t *testing.T, addr, group, name string, edit func(*ClientConfig)) *testClient {
	t.Helper()
	tc := &testClient{
		key:     newKey(t),
		log:     &logBuf{},
		packets: make(chan packet, 10000),
		events:  make(chan PresenceEvent, 1000),
		states:  make(chan ConnState, 1000),
	}
	cfg := ClientConfig{
		Addr:       addr,
		Group:      testGroup(t, group),
		Logger:     tc.log.logger(),
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond,
		OnPacket: func(src identity.PublicKey, p []byte, _ bool) {
			select {
			case tc.packets <- packet{src, bytes.Clone(p)}:
			default:
				t.Errorf("client %s: packet channel full", name)
			}
		},
		OnPresence: func(ev PresenceEvent) { tc.events <- ev },
		OnState:    func(st ConnState) { tc.states <- st },
	}
	if edit != nil {
		edit(&cfg)
	}
	if cfg.Key.IsZero() {
		cfg.Key = tc.key
	}
	tc.key = cfg.Key
	tc.pub = cfg.Key.Public()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tc.Client = c
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	tc.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("client %s: Run returned %v", name, err)
			}
		})
	}
	t.Cleanup(tc.stop)
	return tc
}

func (tc *testClient) waitState(t *testing.T, connected bool) ConnState {
	t.Helper()
	select {
	case st := <-tc.states:
		if st.Connected != connected {
			t.Fatalf("state %+v, want connected=%v", st, connected)
		}
		return st
	case <-time.After(5 * time.Second):
		t.Fatalf("no state change to connected=%v; log:\n%s", connected, tc.log.String())
	}
	return ConnState{}
}

func (tc *testClient) waitEvent(t *testing.T, kind PresenceKind, k identity.PublicKey) PresenceEvent {
	t.Helper()
	select {
	case ev := <-tc.events:
		if ev.Kind != kind || ev.Key != k {
			t.Fatalf("event %v %s, want %v %s", ev.Kind, ev.Key.Short(), kind, k.Short())
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatalf("no %v event for %s", kind, k.Short())
	}
	return PresenceEvent{}
}

// waitJoined waits for k to join, skipping other events.
func (tc *testClient) waitJoined(t *testing.T, k identity.PublicKey) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-tc.events:
			if ev.Kind == PeerJoined && ev.Key == k {
				return
			}
		case <-timeout:
			t.Fatalf("%s did not join", k.Short())
		}
	}
}

// noEvents fails if presence events are pending.
func (tc *testClient) noEvents(t *testing.T) {
	t.Helper()
	select {
	case ev := <-tc.events:
		t.Fatalf("unexpected event %v %s", ev.Kind, ev.Key.Short())
	default:
	}
}

func (tc *testClient) waitPacket(t *testing.T) packet {
	t.Helper()
	select {
	case p := <-tc.packets:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("no packet")
	}
	return packet{}
}

// sendRetry sends, retrying while the client is not yet connected.
func (tc *testClient) sendRetry(t *testing.T, dst identity.PublicKey, p []byte) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := tc.Send(dst, p)
		if err == nil {
			return
		}
		if time.Now().After(deadline) || !errors.Is(err, ErrNotConnected) {
			t.Fatalf("Send: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rawConn is a hand-driven client connection, for tests that misbehave on purpose
// or must not reconnect.
type rawConn struct {
	net.Conn
	br  *bufio.Reader
	key identity.PrivateKey
	pub identity.PublicKey
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := transport.TCP().Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{Conn: nc, br: bufio.NewReaderSize(nc, headerLen+MaxFrameLen)}
}

// joinRaw dials and completes the handshake with a fresh key (or key, if set).
func joinRaw(t *testing.T, addr, group string, key identity.PrivateKey) *rawConn {
	t.Helper()
	rc := dialRaw(t, addr)
	if err := rc.handshake(t, ClientConfig{Group: testGroup(t, group), Key: key}); err != nil {
		t.Fatalf("raw handshake: %v", err)
	}
	return rc
}

// handshake runs the client handshake on rc with cfg (Addr and a missing Key are
// filled in).
func (rc *rawConn) handshake(t *testing.T, cfg ClientConfig) error {
	t.Helper()
	if cfg.Key.IsZero() {
		cfg.Key = newKey(t)
	}
	if cfg.Addr == "" {
		cfg.Addr = rc.RemoteAddr().String()
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rc.key, rc.pub = cfg.Key, cfg.Key.Public()
	rc.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = c.handshake(rc, rc.br)
	return err
}

// next reads the next frame (copying its payload).
func (rc *rawConn) next(t *testing.T) (frameType, []byte) {
	t.Helper()
	rc.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, body, err := readFrame(rc.br, MaxFrameLen)
	if err != nil {
		t.Fatalf("raw read: %v", err)
	}
	return typ, bytes.Clone(body)
}

// expectClosed reads until the server closes the connection and returns the
// Error message received on the way, if any.
func (rc *rawConn) expectClosed(t *testing.T) string {
	t.Helper()
	rc.SetReadDeadline(time.Now().Add(5 * time.Second))
	msg := ""
	for {
		typ, body, err := readFrame(rc.br, MaxFrameLen)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("server did not close the connection")
			}
			rc.Close()
			return msg
		}
		if typ == frameError && len(body) > 1 {
			msg = string(body[1:])
		}
	}
}

func (rc *rawConn) write(t *testing.T, b []byte) {
	t.Helper()
	if _, err := rc.Write(b); err != nil {
		t.Fatalf("raw write: %v", err)
	}
}

func sendFrame(dst identity.PublicKey, p []byte) []byte {
	b := make([]byte, headerLen+keyLen+len(p))
	putDatagram(b, frameSend, &dst, p)
	return b
}

func payload(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = seed + byte(i*7)
	}
	return p
}

func short(k identity.PublicKey) string { return fmt.Sprintf("node=%s", k.Short()) }
