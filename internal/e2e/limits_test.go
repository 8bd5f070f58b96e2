package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"golang.org/x/net/proxy"

	"github.com/meshnode/meshnode/internal/meshproc"
	"github.com/meshnode/meshnode/pkg/control/api"
)

// blast is a TCP service that sends zeros as fast as its client takes them.
func blast(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestServiceRate: a service limited to 1 MB/s delivers 1 MB/s (within 10%)
// over 10 s to a client that could take far more.
func TestServiceRate(t *testing.T) {
	r := startRendezvous(t, "")
	startNode(t, r, nodeOpts{Name: "home", Serve: []string{"700=" + blast(t) + ",name=blast,rate=1MB"}})
	office := startNode(t, r, nodeOpts{Name: "office"})
	c, err := net.Dial("tcp", mapService(t, office, "700"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, buf[:1]); err != nil {
		t.Fatal(err)
	}
	const window = 10 * time.Second
	start := time.Now()
	var got int64
	for time.Since(start) < window {
		n, err := c.Read(buf)
		got += int64(n)
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
	}
	rate := float64(got) / time.Since(start).Seconds()
	t.Logf("rate=1MB: %.0f bytes/s over %v", rate, window)
	if rate < 0.9e6 || rate > 1.1e6 {
		t.Errorf("a service limited to 1 MB/s delivered %.3f MB/s", rate/1e6)
	}
}

// TestMaxConns: with max-conns 2 the third connection is refused at once
// (a reset, logged), the two open ones keep working, and a slot freed by a
// close serves the next one. On a service and on a mapping.
func TestMaxConns(t *testing.T) {
	echo := startEcho(t)
	r := startRendezvous(t, "")
	home := startNode(t, r, nodeOpts{Name: "home", Serve: []string{"700=" + echo.addr() + ",max-conns=2", "701=" + echo.addr()}})
	office := startNode(t, r, nodeOpts{Name: "office"})
	ctx := context.Background()
	limited, err := office.Ctl.AddMapping(ctx, api.MappingRequest{Target: "701", Limits: &api.Limits{MaxConns: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if limited.Limits == nil || limited.Limits.MaxConns != 2 {
		t.Fatalf("mapping's limits %+v", limited.Limits)
	}
	for _, tc := range []struct {
		what, addr string
		log        *regexp.Regexp
		p          *meshproc.Proc
	}{
		{"service 700", mapService(t, office, "700"), regexp.MustCompile(`service connection limit reached.*serveid=700 max_conns=2`), home.Proc},
		{"mapping of 701", limited.Listen, regexp.MustCompile(`connection limit \(max-conns 2\) reached`), office.Proc},
	} {
		t.Run(tc.what, func(t *testing.T) {
			var open []net.Conn
			for i := range 2 {
				c, err := net.Dial("tcp", tc.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				echoOnce(t, c, fmt.Sprintf("conn %d", i))
				open = append(open, c)
			}
			if err := tryEcho(tc.addr, "third"); err == nil {
				t.Fatal("a third connection was served with max-conns 2")
			}
			waitLog(t, tc.p, tc.log, 10*time.Second)
			for i, c := range open {
				echoOnce(t, c, fmt.Sprintf("still %d", i)) // never cut by the limit
			}
			open[0].Close()
			waitUntil(t, 10*time.Second, func() error { return tryEcho(tc.addr, "after a close") })
		})
	}
}

// TestIdleTimeout: a mapping's idle-timeout closes a connection that moved
// nothing for that long, and one that keeps talking stays.
func TestIdleTimeout(t *testing.T) {
	echo := startEcho(t)
	r := startRendezvous(t, "")
	startNode(t, r, nodeOpts{Name: "home", Serve: []string{"700=" + echo.addr()}})
	office := startNode(t, r, nodeOpts{Name: "office"})
	mi, err := office.Ctl.AddMapping(context.Background(), api.MappingRequest{Target: "700", Limits: &api.Limits{IdleTimeout: "2s"}})
	if err != nil {
		t.Fatal(err)
	}
	quiet, err := net.Dial("tcp", mi.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	busy, err := net.Dial("tcp", mi.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	echoOnce(t, quiet, "hello")
	echoOnce(t, busy, "hello")
	closed := make(chan error, 1)
	go func() {
		quiet.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, err := quiet.Read(make([]byte, 1))
		closed <- err
	}()
	for i := 0; ; i++ {
		select {
		case err := <-closed:
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the idle connection was not closed within 30 s")
			}
			waitLog(t, office.Proc, regexp.MustCompile(`mapped connection closed: idle`), 10*time.Second)
			echoOnce(t, busy, "still talking") // the busy one outlived the quiet one
			return
		case <-time.After(500 * time.Millisecond):
			echoOnce(t, busy, fmt.Sprintf("tick %d", i))
		}
	}
}

// echoOnce sends msg on c and wants it back.
func echoOnce(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if err := echoOn(c, msg); err != nil {
		t.Fatal(err)
	}
}

func echoOn(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(15 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte(msg)); err != nil {
		return fmt.Errorf("write %q: %w", msg, err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		return fmt.Errorf("echo of %q: %q, %v", msg, got, err)
	}
	return nil
}

// tryEcho dials addr and echoes msg once.
func tryEcho(addr, msg string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return echoOn(c, msg)
}

// proxyProtoServer accepts PROXY protocol connections (go-proxyproto, an
// independent implementation) and answers each with what its header said:
// "from SRC node NODE\n" (NODE from the v2 TLV 0xE0, "-" without one).
func proxyProtoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pl := &proxyproto.Listener{Listener: ln, ConnPolicy: func(proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) { return proxyproto.REQUIRE, nil }}
	t.Cleanup(func() { pl.Close() })
	go func() {
		for {
			c, err := pl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				node := "-"
				pc := c.(*proxyproto.Conn)
				src := pc.RemoteAddr().String() // reads the header
				if h := pc.ProxyHeader(); h != nil {
					if tlvs, err := h.TLVs(); err == nil {
						for _, tlv := range tlvs {
							if tlv.Type == 0xE0 {
								node = string(tlv.Value)
							}
						}
					}
				} else {
					src = "no header"
				}
				fmt.Fprintf(c, "from %s node %s\n", src, node)
			}()
		}
	}()
	return ln.Addr().String()
}

// TestProxyProtocol: a service with proxy-protocol v1 or v2 gives its target
// the real client's address on the mapping node (and v2 that node's ID).
func TestProxyProtocol(t *testing.T) {
	srv := proxyProtoServer(t)
	r := startRendezvous(t, "")
	startNode(t, r, nodeOpts{Name: "home", Serve: []string{"700=" + srv + ",proxy-protocol=v1", "701=" + srv + ",proxy-protocol=v2"}})
	socks := freeAddr(t)
	office := startNode(t, r, nodeOpts{Name: "office", Extra: []string{"--socks5", socks}})
	st, err := office.Ctl.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ serveid, node string }{{"700", "-"}, {"701", st.ID}} {
		c, err := net.Dial("tcp", mapService(t, office, tc.serveid))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(15 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		want := fmt.Sprintf("from %s node %s\n", c.LocalAddr(), tc.node)
		if err != nil || line != want {
			t.Errorf("serveid %s: the target heard %q (%v), want %q", tc.serveid, line, err, want)
		}
	}
	// Through the SOCKS5 entry: the application's own address.
	sd, err := proxy.SOCKS5("tcp", socks, nil, proxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sd.Dial("tcp", "701.mesh:1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if want := fmt.Sprintf("from %s node %s\n", c.LocalAddr(), st.ID); err != nil || line != want {
		t.Errorf("through the SOCKS5 entry the target heard %q (%v), want %q", line, err, want)
	}
}
