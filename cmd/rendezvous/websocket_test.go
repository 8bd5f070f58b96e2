package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/relay"
	"github.com/meshnode/meshnode/pkg/transport"
)

var wsRE = regexp.MustCompile(`msg="rendezvous listening" addr=\S+ ws=(\S+)`)

// listeningWS returns the ws attribute of the text "rendezvous listening" line.
func listeningWS(t *testing.T, out string) string {
	t.Helper()
	m := wsRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("listening line lacks ws=ADDR:\n%s", out)
	}
	return m[1]
}

// jsonWSAddr returns the ws attribute of the JSON "rendezvous listening" line.
func jsonWSAddr(t *testing.T, out string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		var rec struct{ Msg, WS string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "rendezvous listening" && rec.WS != "" && rec.WS != "off" {
			return rec.WS
		}
	}
	t.Fatalf("no ws address in:\n%s", out)
	return ""
}

// TestWebSocketEndpoint: nodes over WebSocket and over TCP share one relay;
// requests that are not the endpoint's upgrade get clear HTTP errors, one debug
// line each, and do not disturb connected nodes.
func TestWebSocketEndpoint(t *testing.T) {
	addr, logs, stop := startInProcess(t, "--listen", "127.0.0.1:0", "--ws-listen", "127.0.0.1:0", "--stun", "", "--log-level", "debug")
	wsAddr := listeningWS(t, logs.String())
	ws := transport.WebSocket(transport.WebSocketConfig{})

	// A WebSocket node that stays connected throughout.
	keeper, stopKeeper := runClient(t, wsAddr, ws)
	defer stopKeeper()

	relayBetween(t, endpoint{wsAddr, ws}, endpoint{addr, transport.TCP()})
	relayBetween(t, endpoint{addr, transport.TCP()}, endpoint{"ws://" + wsAddr + transport.WebSocketPath, ws})

	for _, tc := range []struct {
		name, path string
		status     int
		body, log  string
	}{
		{"wrong path", "/nope?token=s3cret", http.StatusNotFound,
			"404 not found: no meshnode relay WebSocket endpoint at this path", `status=404 reason="wrong path"`},
		{"plain GET", transport.WebSocketPath, http.StatusUpgradeRequired,
			"upgrade required: this is a meshnode relay WebSocket endpoint", `status=426 reason="plain HTTP request without a WebSocket upgrade"`},
	} {
		resp, err := http.Get("http://" + wsAddr + tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) {
			t.Errorf("%s: %d %q; want %d with %q", tc.name, resp.StatusCode, body, tc.status, tc.body)
		}
		path, _, _ := strings.Cut(tc.path, "?")
		waitLogLine(t, logs, "level=DEBUG", `msg="websocket request refused"`, "path="+path, tc.log)
	}
	if strings.Contains(logs.String(), "s3cret") {
		t.Errorf("the log shows a query string:\n%s", logs)
	}
	// A node that dials the wrong path is told so.
	_, err := ws.Dial(context.Background(), "ws://"+wsAddr+"/other")
	if err == nil || !strings.Contains(err.Error(), "HTTP 404 Not Found") || !strings.Contains(err.Error(), "no meshnode relay WebSocket endpoint at this path") {
		t.Errorf("dial on the wrong path: %v", err)
	}

	relayBetween(t, endpoint{wsAddr, ws}, endpoint{wsAddr, ws}) // still serving
	if st := keeper.Status(); !st.Connected || st.Connects != 1 {
		t.Fatalf("the connected WebSocket node was disturbed: %+v", st)
	}
	stopKeeper()
	if code := stop(); code != 0 {
		t.Fatalf("exit code %d; log:\n%s", code, logs)
	}
	if n := strings.Count(logs.String(), `msg="node joined"`); n != 7 {
		t.Fatalf("%d join lines, want 7:\n%s", n, logs)
	}
}

// TestWebSocketTLS: with --tls-cert the WebSocket endpoint is HTTPS (wss://),
// with the same certificate as the relay port.
func TestWebSocketTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := writeCert(t, dir)
	_, logs, stop := startInProcess(t, "--listen", "127.0.0.1:0", "--ws-listen", "127.0.0.1:0", "--stun", "",
		"--ws-path", "/custom", "--tls-cert", certFile, "--tls-key", keyFile)
	wsAddr := listeningWS(t, logs.String())
	if !strings.Contains(logs.String(), "tls=true") {
		t.Fatalf("no tls=true:\n%s", logs)
	}
	url := "wss://" + wsAddr + "/custom"
	relayBetween(t, endpoint{url, transport.WebSocket(transport.WebSocketConfig{CAFile: certFile})}, endpoint{url, transport.WebSocket(transport.WebSocketConfig{CAFile: certFile})})

	// Plain ws:// to an HTTPS endpoint fails clearly; so does an untrusted certificate.
	_, err := transport.WebSocket(transport.WebSocketConfig{}).Dial(context.Background(), "ws://"+wsAddr+"/custom")
	if err == nil || !strings.Contains(err.Error(), "HTTP 400 Bad Request") {
		t.Errorf("ws:// to wss endpoint: %v", err)
	}
	_, err = transport.WebSocket(transport.WebSocketConfig{}).Dial(context.Background(), url)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// runClient runs a relay client of group "home" through addr until stop.
func runClient(t *testing.T, addr string, tr transport.Transport) (c *relay.Client, stop func()) {
	t.Helper()
	key, _ := identity.GeneratePrivateKey()
	connected := make(chan struct{}, 1)
	c, err := relay.NewClient(relay.ClientConfig{Addr: addr, Transport: tr, Group: homeGroup(), Key: key,
		OnState: func(st relay.ConnState) {
			if st.Connected {
				select {
				case connected <- struct{}{}:
				default:
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("client did not connect")
	}
	return c, stop
}

// waitLogLine waits for a line of logs that contains every one of parts.
func waitLogLine(t *testing.T, logs *syncBuf, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(logs.String(), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no log line with %q:\n%s", parts, logs)
}

// TestWebSocketConnectionsBounded: connections to the WebSocket endpoint count
// against --max-conns (plus a small headroom) whether or not they upgrade, so
// idle HTTP clients cannot pile up; one more is served once one goes away.
func TestWebSocketConnectionsBounded(t *testing.T) {
	_, logs, stop := startInProcess(t, "--listen", "127.0.0.1:0", "--ws-listen", "127.0.0.1:0", "--stun", "", "--max-conns", "1")
	defer stop()
	wsAddr := listeningWS(t, logs.String())
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range 1 + wsConnHeadroom {
		c, err := net.Dial("tcp", wsAddr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	extra, err := net.Dial("tcp", wsAddr) // the kernel accepts it; the server must not
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	io.WriteString(extra, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
	extra.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := extra.Read(make([]byte, 1)); n > 0 || !os.IsTimeout(err) {
		t.Fatalf("a connection over the limit was served: %d bytes, %v", n, err)
	}
	idle[0].Close() // one goes away: the waiting one is served
	extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(extra), nil)
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("after one left: %v %v", resp, err)
	}
}
