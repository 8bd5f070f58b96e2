package control

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/control/client"
)

// shortTimeouts are timeouts a test can wait out.
func shortTimeouts() timeouts {
	return timeouts{header: 200 * time.Millisecond, read: 300 * time.Millisecond, idle: 300 * time.Millisecond}
}

// slowConn connects to the control socket and sends partial, without ever
// finishing the request.
func slowConn(t *testing.T, path, partial string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, partial); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitClosed reads c until the server closes it and returns what it sent. The
// 10 s deadline only bounds a failing test.
func waitClosed(t *testing.T, what string, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "connection reset") {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%s: still connected after 10 s", what)
		}
		t.Fatalf("%s: %v", what, err)
	}
	return string(b)
}

const (
	halfHeader = "GET /v1/status HTTP/1.1\r\nHost: meshnode\r\nUser-Agent: slo"
	halfBody   = "POST /v1/mappings HTTP/1.1\r\nHost: meshnode\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"target\":"
	fullGet    = "GET /v1/status HTTP/1.1\r\nHost: meshnode\r\n\r\n"
)

// TestSlowClientsDisconnected: clients that send half a header or half a body,
// or hold an idle connection, are disconnected after the timeouts, and other
// clients are served meanwhile.
func TestSlowClientsDisconnected(t *testing.T) {
	c, path := serveWith(t, &stub{}, shortTimeouts())
	var halves []net.Conn
	for range 20 {
		halves = append(halves, slowConn(t, path, halfHeader))
	}
	body := slowConn(t, path, halfBody)
	idle := slowConn(t, path, fullGet)
	// The idle one got its answer and stays open; the others got nothing yet.
	idle.SetReadDeadline(time.Now().Add(10 * time.Second))
	first := make([]byte, 12)
	if _, err := io.ReadFull(idle, first); err != nil || string(first) != "HTTP/1.1 200" {
		t.Fatalf("idle connection's answer: %q %v", first, err)
	}
	for i := range 5 { // others are served while the slow ones hang
		if st, err := c.Status(context.Background()); err != nil || st.Name != "n1" {
			t.Fatalf("status %d while slow clients hang: %+v %v", i, st, err)
		}
	}
	for i, h := range halves {
		if got := waitClosed(t, "half a header", h); got != "" {
			t.Fatalf("half header %d: answered %q", i, got)
		}
	}
	if got := waitClosed(t, "half a body", body); got != "" && !strings.Contains(got, "408 Request Timeout") {
		t.Fatalf("half body: answered %q", got)
	}
	waitClosed(t, "idle keep-alive", idle)
	if _, err := c.Status(context.Background()); err != nil {
		t.Fatalf("status after: %v", err)
	}
}

// TestLongRequestsOutliveReadTimeout: the events stream and a ping that run
// longer than the read timeout are not cut by it.
func TestLongRequestsOutliveReadTimeout(t *testing.T) {
	b := &stub{events: make(chan api.Event, 1), subscribed: make(chan struct{}, 1),
		pingStarted: make(chan struct{}, 1), pingRelease: make(chan struct{})}
	c, path := serveWith(t, b, shortTimeouts())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	got := make(chan api.Event, 1)
	streamErr := make(chan error, 1)
	go func() {
		streamErr <- c.Events(ctx, func(ev api.Event) error { got <- ev; return errors.New("enough") })
	}()
	type pingRes struct {
		res api.PingResult
		err error
	}
	pinged := make(chan pingRes, 1)
	go func() {
		res, err := c.Ping(ctx, api.PingRequest{Peer: "b", Count: 1, IntervalMS: 10, TimeoutMS: 10})
		pinged <- pingRes{res, err}
	}()
	<-b.subscribed
	<-b.pingStarted
	// A request started after both and cut by the read timeout proves that the
	// timeout has passed for both.
	waitClosed(t, "half a body", slowConn(t, path, halfBody))

	b.events <- api.Event{Kind: api.EventPath, Name: "b", Path: api.PathDirect}
	select {
	case ev := <-got:
		if ev.Path != api.PathDirect {
			t.Fatalf("event %+v", ev)
		}
	case err := <-streamErr:
		t.Fatalf("event stream ended: %v", err)
	}
	close(b.pingRelease)
	if p := <-pinged; p.err != nil || p.res.Path != api.PathDirect {
		t.Fatalf("ping longer than the read timeout: %+v %v", p.res, p.err)
	}
}

// TestClientIdleBelowServer: the client closes idle connections before the
// server does, so a request never goes out on a connection being closed.
func TestClientIdleBelowServer(t *testing.T) {
	if client.IdleConnTimeout >= defaultTimeouts().idle {
		t.Fatalf("client idle timeout %v is not below the server's %v", client.IdleConnTimeout, defaultTimeouts().idle)
	}
}
