package relay

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/transport"
)

// wsFront serves srv over WebSocket on its own loopback HTTP server, as
// cmd/rendezvous does: every upgraded request goes to srv.ServeConn, whose result
// is sent to the returned channel. It returns the endpoint's host:port.
func wsFront(t *testing.T, srv *testServer) (addr string, served chan error) {
	t.Helper()
	served = make(chan error, 16)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, err := transport.AcceptWebSocket(w, r)
		if err != nil {
			return
		}
		served <- srv.ServeConn(context.Background(), nc)
	}))
	t.Cleanup(hs.Close)
	return hs.Listener.Addr().String(), served
}

func wsClient(c *ClientConfig) { c.Transport = transport.WebSocket(transport.WebSocketConfig{}) }

// TestServeConnWebSocket: a node over WebSocket and one over TCP, in one group of
// one server, see each other and exchange datagrams; the server logs the
// WebSocket node's real address and counts both.
func TestServeConnWebSocket(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, ServerConfig{STUNPorts: []uint16{3478}}, "")
	wsAddr, served := wsFront(t, srv)

	tcp := startClient(t, srv.addr, "home", "tcp", nil)
	tcp.waitState(t, true)
	ws := startClient(t, "ws://"+wsAddr+transport.WebSocketPath, "home", "ws", wsClient)
	ws.waitState(t, true)
	tcp.waitEvent(t, PeerJoined, ws.pub)
	ws.waitEvent(t, PeerJoined, tcp.pub)

	big := payload(MaxDatagramLen, 3) // the largest frame crosses the WebSocket both ways
	for _, p := range [][]byte{[]byte("over websocket"), big} {
		ws.sendRetry(t, tcp.pub, p)
		if got := tcp.waitPacket(t); got.src != ws.pub || string(got.payload) != string(p) {
			t.Fatalf("tcp got %d bytes from %s", len(got.payload), got.src.Short())
		}
		tcp.sendRetry(t, ws.pub, p)
		if got := ws.waitPacket(t); got.src != tcp.pub || string(got.payload) != string(p) {
			t.Fatalf("ws got %d bytes from %s", len(got.payload), got.src.Short())
		}
	}
	// (The counter is bumped just after the frame is queued: wait for it.)
	waitFor(t, "4 relayed frames", func() bool { return srv.Stats().FramesRelayed == 4 })
	if st := srv.Stats(); st.Conns != 2 || st.Groups != 1 {
		t.Fatalf("stats %+v", st)
	}
	srv.log.waitLog(t, `msg="node joined"`, short(ws.pub), "remote=127.0.0.1:")
	if st := ws.Status(); st.Transport != "websocket" || !st.Connected {
		t.Fatalf("ws status %+v", st)
	}
	// STUN runs on the host of the URL the node dialed.
	waitFor(t, "ServerInfo", func() bool { return len(ws.STUNServers()) > 0 })
	if got := ws.STUNServers(); !slices.Equal(got, []string{"127.0.0.1:3478"}) {
		t.Fatalf("STUNServers over WebSocket = %v", got)
	}

	// Shutdown reaches WebSocket nodes as it does TCP ones; the node's
	// reconnection is refused by ServeConn.
	srv.stop()
	ws.log.waitLog(t, "lost rendezvous connection", "rendezvous closed the connection: server shutting down")
	var servedOK, refused bool
	timeout := time.After(5 * time.Second)
	for !servedOK || !refused {
		select {
		case err := <-served:
			switch {
			case err == nil:
				servedOK = true
			case errors.Is(err, ErrServerClosed):
				refused = true
			default:
				t.Fatalf("ServeConn = %v", err)
			}
		case <-timeout:
			t.Fatalf("ServeConn results: served %v, refused after shutdown %v", servedOK, refused)
		}
	}
	ws.log.waitLog(t, "rendezvous connection failed")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(context.Background(), ln); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("second Serve = %v", err)
	}
	ws.stop()
}

// TestServeConnLimits: MaxConns and the idle timeout apply to connections handed
// to ServeConn, and cancelling its ctx closes the connection like a shutdown.
func TestServeConnLimits(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, ServerConfig{MaxConns: 2, IdleTimeout: 200 * time.Millisecond}, "")
	wsAddr, _ := wsFront(t, srv)

	// A silent WebSocket node is dropped for idleness, and the reason says so
	// (not "connection closed"): deadlines on a WebSocket read as timeouts.
	silent := joinRawWS(t, wsAddr, "home")
	silent.expectClosed(t)
	srv.log.waitLog(t, `msg="node left"`, short(silent.pub), "idle timeout: nothing received for 200ms")

	one := startClient(t, srv.addr, "home", "one", func(c *ClientConfig) { c.PingInterval = 50 * time.Millisecond })
	one.waitState(t, true)
	two := startClient(t, wsAddr, "home", "two", func(c *ClientConfig) {
		wsClient(c)
		c.PingInterval = 50 * time.Millisecond
	})
	two.waitState(t, true)
	three := startClient(t, wsAddr, "home", "three", wsClient)
	three.log.waitLog(t, "rendezvous connection failed", `err="the rendezvous refused this node: server full (2 connections); try again later"`)
	three.stop()

	// ServeConn's ctx.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	two.stop()
	waitFor(t, "a free slot", func() bool { return srv.Stats().Conns == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		done <- srv.ServeConn(ctx, nc)
	}()
	rc := joinRaw(t, ln.Addr().String(), "home", identity.PrivateKey{})
	cancel()
	if msg := rc.expectClosed(t); msg != "server shutting down" {
		t.Fatalf("Error on ctx cancel = %q", msg)
	}
	if err := <-done; err != nil {
		t.Fatalf("ServeConn = %v", err)
	}
}

// joinRawWS is joinRaw over the WebSocket transport.
func joinRawWS(t *testing.T, addr, group string) *rawConn {
	t.Helper()
	nc, err := transport.WebSocket(transport.WebSocketConfig{}).Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	rc := &rawConn{Conn: nc, br: bufio.NewReaderSize(nc, headerLen+MaxFrameLen)}
	if err := rc.handshake(t, ClientConfig{Addr: addr, Group: testGroup(t, group)}); err != nil {
		t.Fatalf("raw handshake over WebSocket: %v", err)
	}
	rc.SetDeadline(time.Time{})
	return rc
}

// TestWebSocketMessageFitsFrames: every Write the relay makes (one buffer or one
// frame) fits one WebSocket message the other side accepts.
func TestWebSocketMessageFitsFrames(t *testing.T) {
	for _, n := range []int{headerLen + MaxFrameLen, serverWriteBufSize, clientWriteBufSize} {
		if n > transport.WebSocketMaxMessage {
			t.Errorf("a %d-byte write exceeds transport.WebSocketMaxMessage (%d)", n, transport.WebSocketMaxMessage)
		}
	}
}

func TestAddrHost(t *testing.T) {
	for _, tc := range []struct {
		addr, host, shown, err string
	}{
		{addr: "127.0.0.1:7749", host: "127.0.0.1", shown: "127.0.0.1:7749"},
		{addr: "[::1]:7749", host: "::1", shown: "[::1]:7749"},
		{addr: "ws://vps.example.net:80/meshnode/v1/relay", host: "vps.example.net", shown: "ws://vps.example.net:80/meshnode/v1/relay"},
		{addr: "wss://[2001:db8::1]/r", host: "2001:db8::1", shown: "wss://[2001:db8::1]/r"},
		{addr: "wss://user:hunter2@vps.example.net/r", host: "vps.example.net", shown: "wss://user:xxxxx@vps.example.net/r"},
		{addr: "example.com", err: "want host:port, or a ws:// or wss:// URL for the websocket transport"},
		{addr: "ws:///path", err: "want host:port or a URL with a host"},
		{addr: "ws://[::1/x", err: "want host:port or a URL with a host"},
		{addr: "https://vps.example.net/r", host: "vps.example.net", shown: "https://vps.example.net/r"}, // a plugin transport's own URL
	} {
		host, err := addrHost(tc.addr)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: err = %v, want %q", tc.addr, err, tc.err)
			}
			continue
		}
		if err != nil || host != tc.host || displayAddr(tc.addr) != tc.shown {
			t.Errorf("%q: host %q (%v), shown %q; want %q, %q", tc.addr, host, err, displayAddr(tc.addr), tc.host, tc.shown)
		}
	}

	// NewClient takes URLs, and a password in one never reaches the log.
	lb := &logBuf{}
	c, err := NewClient(ClientConfig{Addr: "wss://user:hunter2@127.0.0.1:1/r", Key: newKey(t), Group: testGroup(t, "home"), Logger: lb.logger()})
	if err != nil {
		t.Fatal(err)
	}
	c.log.Info("probe")
	if st := c.Status(); st.Addr != "wss://user:xxxxx@127.0.0.1:1/r" || !containsAll(lb.String(), "rendezvous=wss://user:xxxxx@127.0.0.1:1/r") {
		t.Fatalf("status addr %q, log %q", st.Addr, lb.String())
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// TestWebSocketOversizedMessage: a WebSocket message above the limit ends that
// node's connection, even when it holds valid frames; the others carry on.
func TestWebSocketOversizedMessage(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, ServerConfig{}, "")
	wsAddr, _ := wsFront(t, srv)
	keeper := startClient(t, wsAddr, "home", "keeper", wsClient)
	keeper.waitState(t, true)
	other := startClient(t, srv.addr, "home", "other", nil)
	keeper.waitEvent(t, PeerJoined, other.pub)

	rc := joinRawWS(t, wsAddr, "home")
	var msg []byte // valid Send frames (to nobody), in one message above the limit
	for len(msg) <= transport.WebSocketMaxMessage {
		msg = append(msg, sendFrame(newKey(t).Public(), payload(MaxDatagramLen, 1))...)
	}
	rc.write(t, msg)
	rc.expectClosed(t)
	srv.log.waitLog(t, `msg="node left"`, short(rc.pub), "message too big: a message exceeded the 131072-byte limit")

	keeper.sendRetry(t, other.pub, []byte("still here"))
	if p := other.waitPacket(t); string(p.payload) != "still here" {
		t.Fatalf("got %q", p.payload)
	}
	if st := keeper.Status(); !st.Connected || st.Connects != 1 {
		t.Fatalf("the other WebSocket node was disturbed: %+v", st)
	}
}
