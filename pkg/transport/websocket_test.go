package transport

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsEchoServer serves AcceptWebSocket on WebSocketPath and echoes every
// connection; a connection's read error goes to errs. tlsOn makes it wss.
func wsEchoServer(t *testing.T, tlsOn bool) (srv *httptest.Server, errs chan error) {
	t.Helper()
	errs = make(chan error, 16)
	mux := http.NewServeMux()
	mux.HandleFunc(WebSocketPath, func(w http.ResponseWriter, r *http.Request) {
		nc, err := AcceptWebSocket(w, r)
		if err != nil {
			return
		}
		defer nc.Close()
		_, err = io.Copy(nc, nc)
		errs <- err
	})
	srv = httptest.NewUnstartedServer(mux)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused certificates are expected
	if tlsOn {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close) // waits for the handlers: close client conns first
	return srv, errs
}

// hostPort is the host:port of an httptest server.
func hostPort(srv *httptest.Server) string { return srv.Listener.Addr().String() }

func dialWS(t *testing.T, tr Transport, addr string) net.Conn {
	t.Helper()
	c, err := tr.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestWebSocket(t *testing.T) {
	srv, _ := wsEchoServer(t, false)
	tr := WebSocket(WebSocketConfig{})
	if tr.Name() != "websocket" {
		t.Fatalf("Name = %q", tr.Name())
	}
	for _, addr := range []string{hostPort(srv), "ws://" + hostPort(srv) + WebSocketPath, "ws://" + hostPort(srv)} {
		c := dialWS(t, tr, addr)
		roundTrip(t, c)
		// A Write larger than the relay ever makes, but within the limit, is one
		// message and gets across.
		big := bytes.Repeat([]byte("x"), WebSocketMaxMessage)
		go c.Write(big)
		got := make([]byte, len(big))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, big) {
			t.Fatalf("%s: big echo: %v", addr, err)
		}
		c.Close()
	}
}

// writeCA writes srv's certificate as a PEM CA file.
func writeCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestWebSocketTLS(t *testing.T) {
	srv, _ := wsEchoServer(t, true)
	ca := writeCA(t, srv)
	url := "wss://" + hostPort(srv) + WebSocketPath

	c := dialWS(t, WebSocket(WebSocketConfig{CAFile: ca}), url)
	roundTrip(t, c)
	c.Close()
	// httptest's certificate names example.com besides 127.0.0.1.
	c = dialWS(t, WebSocket(WebSocketConfig{CAFile: ca, ServerName: "example.com"}), url)
	roundTrip(t, c)
	c.Close()

	notPEM := filepath.Join(t.TempDir(), "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o644)
	for _, tc := range []struct {
		name string
		cfg  WebSocketConfig
		want string
	}{
		{"system roots only", WebSocketConfig{}, "certificate signed by unknown authority"},
		{"wrong server name", WebSocketConfig{CAFile: ca, ServerName: "wrong.example"}, "not wrong.example"},
		{"missing CA file", WebSocketConfig{CAFile: filepath.Join(t.TempDir(), "none.pem")}, "CA file: open "},
		{"CA file without PEM", WebSocketConfig{CAFile: notPEM}, "CA file " + notPEM + ": no PEM certificate in it"},
	} {
		_, err := WebSocket(tc.cfg).Dial(context.Background(), url)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "websocket dial "+url+": ") {
			t.Errorf("%s: err = %v, want %q after the URL", tc.name, err, tc.want)
		}
	}
	// A bad CA file does not matter for ws://.
	plain, _ := wsEchoServer(t, false)
	c = dialWS(t, WebSocket(WebSocketConfig{CAFile: notPEM}), hostPort(plain))
	roundTrip(t, c)
	c.Close()
}

func TestWebSocketDialErrors(t *testing.T) {
	srv, _ := wsEchoServer(t, false)
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "https://elsewhere.example/relay", http.StatusMovedPermanently)
			return
		}
		io.WriteString(w, "just a web page\nsecond line")
	}))
	defer ok.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	closed.Close()
	hangUp, err := net.Listen("tcp", "127.0.0.1:0") // like the relay's TCP port refusing HTTP
	if err != nil {
		t.Fatal(err)
	}
	defer hangUp.Close()
	go func() {
		for {
			c, err := hangUp.Accept()
			if err != nil {
				return
			}
			io.ReadFull(c, make([]byte, 4))
			c.Close()
		}
	}()

	for _, tc := range []struct {
		name, addr string
		want       []string
	}{
		{"wrong path", "ws://" + hostPort(srv) + "/nope",
			[]string{"websocket dial ws://" + hostPort(srv) + "/nope: the server answered HTTP 404 Not Found instead of upgrading to a WebSocket", "404 page not found", "wrong path?"}},
		{"plain web server", hostPort(ok),
			[]string{"websocket dial ws://" + hostPort(ok) + WebSocketPath + ": the server answered HTTP 200 OK instead of upgrading", `"just a web page"`}},
		{"redirect", "ws://" + hostPort(ok) + "/moved",
			[]string{"answered HTTP 301 Moved Permanently instead of upgrading", `a redirect to "https://elsewhere.example/relay"; redirects are not followed`}},
		{"refused", refused,
			[]string{"websocket dial ws://" + refused + WebSocketPath + ": dial tcp " + refused + ": connect: connection refused"}},
		{"not HTTP", hangUp.Addr().String(),
			[]string{"websocket dial ws://" + hangUp.Addr().String() + WebSocketPath + ": the server closed the connection without an HTTP answer"}},
		{"bad address", "example.com", []string{`websocket transport: address "example.com": want host:port`}},
		{"secrets redacted", "ws://user:hunter2@" + refused + "/p?token=s3cret",
			[]string{"websocket dial ws://user:xxxxx@" + refused + "/p?xxxxx: dial tcp"}},
	} {
		_, err := WebSocket(WebSocketConfig{}).Dial(context.Background(), tc.addr)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: err = %v\nwant %q", tc.name, err, w)
			}
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error shows a secret: %v", tc.name, err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := WebSocket(WebSocketConfig{}).Dial(ctx, hostPort(srv)); !errors.Is(err, context.Canceled) {
		t.Fatalf("dial with cancelled ctx: err = %v, want context.Canceled", err)
	}
}

// TestAcceptWebSocketRefuses: requests that are not upgrades get an HTTP error
// that says what the endpoint is.
func TestAcceptWebSocketRefuses(t *testing.T) {
	srv, _ := wsEchoServer(t, false)
	base := "http://" + hostPort(srv) + WebSocketPath
	for _, tc := range []struct {
		name, method string
		header       map[string]string
		status       int
		body         string
	}{
		{"plain GET", "GET", nil, http.StatusUpgradeRequired, "upgrade required: this is a meshnode relay WebSocket endpoint"},
		{"POST", "POST", nil, http.StatusMethodNotAllowed, "method POST not allowed"},
		{"upgrade to something else", "GET", map[string]string{"Connection": "Upgrade", "Upgrade": "h2c"}, http.StatusUpgradeRequired, "upgrade required"},
		{"upgrade without a key", "GET", map[string]string{"Connection": "keep-alive, Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}, http.StatusBadRequest, "Sec-WebSocket-Key"},
	} {
		req, _ := http.NewRequest(tc.method, base, nil)
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) {
			t.Errorf("%s: %d %q, want %d with %q", tc.name, resp.StatusCode, body, tc.status, tc.body)
		}
	}
}

// TestWebSocketMessageLimit: a message above WebSocketMaxMessage ends that
// connection (status 1009) and no other.
func TestWebSocketMessageLimit(t *testing.T) {
	srv, errs := wsEchoServer(t, false)
	good := dialWS(t, WebSocket(WebSocketConfig{}), hostPort(srv))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+hostPort(srv)+WebSocketPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageBinary, make([]byte, WebSocketMaxMessage+1)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, websocket.ErrMessageTooBig) || !strings.Contains(err.Error(), "a message exceeded the 131072-byte limit") {
			t.Fatalf("server read error = %v, want the read limit", err)
		}
	case <-ctx.Done():
		t.Fatal("oversized message did not end the connection")
	}
	for { // the echo server may send back what it read before the limit hit
		if _, _, err := ws.Read(ctx); err != nil {
			if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
				t.Fatalf("client sees %v, want close status 1009", err)
			}
			break
		}
	}
	roundTrip(t, good)
}

// TestWebSocketDeadlines: a passed deadline fails Read and Write with a timeout,
// as on TCP, whether it passes before the call or while it blocks.
func TestWebSocketDeadlines(t *testing.T) {
	srv, _ := wsEchoServer(t, false)
	for _, tc := range []struct {
		name string
		set  func(c net.Conn)
	}{
		{"read deadline passed before", func(c net.Conn) { c.SetReadDeadline(time.Now().Add(-time.Second)) }},
		{"read deadline passes while blocked", func(c net.Conn) { c.SetReadDeadline(time.Now().Add(20 * time.Millisecond)) }},
		{"deadline passes while blocked", func(c net.Conn) { c.SetDeadline(time.Now().Add(20 * time.Millisecond)) }},
	} {
		c := dialWS(t, WebSocket(WebSocketConfig{}), hostPort(srv))
		tc.set(c)
		_, err := c.Read(make([]byte, 1)) // the echo server sends nothing unasked
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: Read err = %v, want a timeout", tc.name, err)
		}
		c.Close()
	}

	c := dialWS(t, WebSocket(WebSocketConfig{}), hostPort(srv))
	c.SetWriteDeadline(time.Now().Add(-time.Second))
	_, err := c.Write([]byte("late"))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("Write after its deadline: err = %v, want a timeout", err)
	}
}

// TestWebSocketClose: closing one side is EOF on the other.
func TestWebSocketClose(t *testing.T) {
	accepted := make(chan net.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, err := AcceptWebSocket(w, r)
		if err != nil {
			return
		}
		accepted <- nc
		io.Copy(io.Discard, nc)
	}))
	defer srv.Close()
	c := dialWS(t, WebSocket(WebSocketConfig{}), "ws://"+hostPort(srv)+"/any")
	nc := <-accepted
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		t.Fatalf("server sees the client as %v, want its TCP address", nc.RemoteAddr())
	}
	if _, err := nc.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if string(got) != "bye" || err != nil {
		t.Fatalf("client read %q, %v; want bye then EOF", got, err)
	}
	c.Close()
}
