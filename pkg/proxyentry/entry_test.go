package proxyentry

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/things-go/go-socks5/statute"
	"golang.org/x/net/proxy"
)

// The tests run the entries on loopback in front of real TCP and UDP servers;
// the Dialer stands in for the mesh (the e2e tests run it through nodes).

// netDialer reaches each Target at a local address.
type netDialer struct {
	tcp, udp map[string]string // Target.Spec() -> host:port
	dials    atomic.Int64
}

func (d *netDialer) DialTCP(ctx context.Context, t Target) (net.Conn, error) {
	d.dials.Add(1)
	addr, ok := d.tcp[t.Spec()]
	if !ok {
		if _, udp := d.udp[t.Spec()]; udp {
			return nil, fmt.Errorf("service %s is UDP: %w", t, ErrWrongProto)
		}
		return nil, fmt.Errorf("service %s: %w", t, ErrNoSuchService)
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return c, nil
}

func (d *netDialer) DialUDP(ctx context.Context, t Target) (DatagramConn, error) {
	addr, ok := d.udp[t.Spec()]
	if !ok {
		return nil, fmt.Errorf("service %s: %w", t, ErrNoSuchService)
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, "udp", addr)
	if err != nil {
		return nil, err
	}
	return netDatagram{c}, nil
}

type fixture struct {
	srv      *Server
	d        *netDialer
	echo     string // a TCP echo server
	closedTo string // an address where nothing listens
	web      *httptest.Server
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// start runs an entry with cfg (listening on loopback ports unless set) in
// front of an echo server (700.mesh), a web server (web.home.mesh), a UDP
// echo server (dns.home.mesh) and a dead address (dead.home.mesh).
func start(t *testing.T, cfg Config) *fixture {
	t.Helper()
	f := &fixture{web: httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from web: %s %s", r.Method, r.URL.Path)
	}))}
	t.Cleanup(f.web.Close)
	f.echo = echoServer(t)
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	f.closedTo = dead.Addr().String()
	dead.Close()
	f.d = &netDialer{
		tcp: map[string]string{"700": f.echo, "web@home": f.web.Listener.Addr().String(), "dead@home": f.closedTo, "127.0.0.1:8888@home": f.echo},
		udp: map[string]string{"dns@home": udpEcho(t)},
	}
	if cfg.SOCKS5 == "" {
		cfg.SOCKS5 = "127.0.0.1:0"
	}
	if cfg.HTTPProxy == "" {
		cfg.HTTPProxy = "127.0.0.1:0"
	}
	cfg.Logger = testLogger(t)
	srv, err := Listen(cfg, f.d)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

func echoServer(t *testing.T) string {
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
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func udpEcho(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("echo:"), buf[:n]...), from)
		}
	}()
	return pc.LocalAddr().String()
}

func (f *fixture) socks(t *testing.T, auth *proxy.Auth) proxy.ContextDialer {
	d, err := proxy.SOCKS5("tcp", f.srv.SOCKS5Addr().String(), auth, proxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	return d.(proxy.ContextDialer)
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSOCKS5Connect(t *testing.T) {
	f := start(t, Config{})
	sd := f.socks(t, nil)
	c := &http.Client{Transport: &http.Transport{DialContext: sd.DialContext}}
	if code, body := get(t, c, "http://web.home.mesh/x"); code != 200 || body != "hello from web: GET /x" {
		t.Fatalf("through SOCKS5: %d %q", code, body)
	}

	// A byte stream both ways: everything written comes back intact.
	conn, err := sd.DialContext(context.Background(), "tcp", "700.mesh:1")
	if err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte("0123456789"), 100000)
	go conn.Write(msg)
	got := make([]byte, len(msg))
	_, err = io.ReadFull(conn, got)
	conn.Close()
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo through SOCKS5: %d of %d bytes, %v", len(got), len(msg), err)
	}

	for _, tc := range []struct{ addr, want string }{
		{"nope.home.mesh:80", "host unreachable"},
		{"web.mesh:80", "host unreachable"},   // not a valid mesh name
		{"example.com:80", "not allowed"},     // not the mesh: no fallthrough
		{"127.0.0.1:80", "not allowed"},       // an address is not the mesh either
		{"dead.home.mesh:80", "refused"},      // the service's target refuses
		{"dns.home.mesh:53", "not supported"}, // a UDP service over CONNECT
	} {
		if _, err := sd.DialContext(context.Background(), "tcp", tc.addr); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CONNECT %s: %v, want an error with %q", tc.addr, err, tc.want)
		}
	}
}

func TestSOCKS5Auth(t *testing.T) {
	f := start(t, Config{Username: "alice", Password: "s3cret"})
	for _, tc := range []struct {
		auth *proxy.Auth
		ok   bool
	}{
		{&proxy.Auth{User: "alice", Password: "s3cret"}, true},
		{&proxy.Auth{User: "alice", Password: "wrong"}, false},
		{&proxy.Auth{User: "bob", Password: "s3cret"}, false},
		{nil, false},
	} {
		c, err := f.socks(t, tc.auth).DialContext(context.Background(), "tcp", "700.mesh:22")
		if (err == nil) != tc.ok {
			t.Errorf("auth %+v: %v, want ok=%v", tc.auth, err, tc.ok)
		}
		if c != nil {
			c.Close()
		}
	}
}

// TestCurl: the real curl through both entries, the way the README shows it.
func TestCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	f := start(t, Config{})
	for _, args := range [][]string{
		{"--socks5-hostname", f.srv.SOCKS5Addr().String(), "http://web.home.mesh/socks"},
		{"-x", "http://" + f.srv.HTTPAddr().String(), "http://web.home.mesh/http"},
		{"-x", "http://" + f.srv.HTTPAddr().String(), "-p", "http://web.home.mesh/tunnel"}, // CONNECT
	} {
		out, err := exec.Command(curl, append([]string{"-sS", "--max-time", "20"}, args...)...).CombinedOutput()
		want := "hello from web: GET /" + args[len(args)-1][len("http://web.home.mesh/"):]
		if err != nil || string(out) != want {
			t.Errorf("curl %v: %q, %v; want %q", args, out, err, want)
		}
	}
	out, err := exec.Command(curl, "-sS", "--max-time", "20", "--socks5-hostname", f.srv.SOCKS5Addr().String(), "http://nope.home.mesh/").CombinedOutput()
	// curl names SOCKS reply 4 (host unreachable) by its number.
	if err == nil || !strings.Contains(string(out), "(4)") {
		t.Errorf("curl to an unknown name: %q, %v; want a SOCKS host-unreachable error", out, err)
	}
}

func TestHTTPProxy(t *testing.T) {
	f := start(t, Config{})
	pu, _ := url.Parse("http://" + f.srv.HTTPAddr().String())
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
	if code, body := get(t, c, "http://web.home.mesh/a/b"); code != 200 || body != "hello from web: GET /a/b" {
		t.Fatalf("plain http through the proxy: %d %q", code, body)
	}
	for _, tc := range []struct {
		url  string
		code int
		want string
	}{
		{"http://nope.home.mesh/", http.StatusBadGateway, "no such service"},
		{"http://example.com/", http.StatusForbidden, "this proxy reaches only the mesh"},
		{"http://dead.home.mesh/", http.StatusBadGateway, "connection refused"},
	} {
		if code, body := get(t, c, tc.url); code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s through the proxy: %d %q; want %d with %q", tc.url, code, body, tc.code, tc.want)
		}
	}
	// Not a proxy request.
	if code, body := get(t, http.DefaultClient, "http://"+f.srv.HTTPAddr().String()+"/"); code != http.StatusBadRequest || !strings.Contains(body, "this is a proxy") {
		t.Errorf("a direct request: %d %q", code, body)
	}

	// CONNECT, by hand: the answer, then a spliced byte stream; bytes the
	// client sends right behind its request are not lost.
	conn, err := net.Dial("tcp", f.srv.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "CONNECT 700.mesh:22 HTTP/1.1\r\nHost: 700.mesh:22\r\n\r\nearly bytes|")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	conn.Write([]byte("late bytes"))
	got := make([]byte, len("early bytes|late bytes"))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "early bytes|late bytes" {
		t.Fatalf("through CONNECT: %q, %v", got, err)
	}
	for _, tc := range []struct {
		target string
		code   int
	}{{"nope.home.mesh:22", http.StatusBadGateway}, {"example.com:443", http.StatusForbidden}, {"700.mesh", http.StatusBadRequest}} {
		c2, err := net.Dial("tcp", f.srv.HTTPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c2, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", tc.target, tc.target)
		resp, err := http.ReadResponse(bufio.NewReader(c2), nil)
		c2.Close()
		if err != nil || resp.StatusCode != tc.code {
			t.Errorf("CONNECT %s: %v %v, want %d", tc.target, resp, err, tc.code)
		}
	}
}

func TestHTTPProxyAuth(t *testing.T) {
	f := start(t, Config{Username: "alice", Password: "s3cret"})
	for _, tc := range []struct {
		user *url.Userinfo
		code int
	}{
		{url.UserPassword("alice", "s3cret"), 200},
		{url.UserPassword("alice", "nope"), http.StatusProxyAuthRequired},
		{nil, http.StatusProxyAuthRequired},
	} {
		pu := &url.URL{Scheme: "http", Host: f.srv.HTTPAddr().String(), User: tc.user}
		c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
		if code, _ := get(t, c, "http://web.home.mesh/"); code != tc.code {
			t.Errorf("user %v: %d, want %d", tc.user, code, tc.code)
		}
	}
}

func TestFallthrough(t *testing.T) {
	f := start(t, Config{Fallthrough: true})
	// A host outside .mesh is dialed directly; .mesh names still go to the mesh.
	conn, err := f.socks(t, nil).DialContext(context.Background(), "tcp", f.echo)
	if err != nil {
		t.Fatalf("fallthrough to %s: %v", f.echo, err)
	}
	conn.Write([]byte("direct"))
	got := make([]byte, 6)
	io.ReadFull(conn, got)
	conn.Close()
	if string(got) != "direct" {
		t.Fatalf("fallthrough echo: %q", got)
	}
	if _, err := f.socks(t, nil).DialContext(context.Background(), "tcp", f.closedTo); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("fallthrough to a closed port: %v, want refused", err)
	}
}

// socksUDP runs a SOCKS5 UDP association by hand (no library client speaks
// it): it returns the relay's address and the control connection.
func socksUDP(t *testing.T, entry string) (*net.UDPAddr, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", entry)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte{5, 1, 0})
	var m [2]byte
	if _, err := io.ReadFull(c, m[:]); err != nil || m != [2]byte{5, 0} {
		t.Fatalf("method reply %x %v", m, err)
	}
	c.Write([]byte{5, 3, 0, 1, 0, 0, 0, 0, 0, 0}) // UDP ASSOCIATE, client address unknown
	rep, err := statute.ParseReply(c)
	if err != nil || rep.Response != statute.RepSuccess {
		t.Fatalf("UDP ASSOCIATE: %+v %v", rep, err)
	}
	return &net.UDPAddr{IP: rep.BndAddr.IP, Port: rep.BndAddr.Port}, c
}

func udpMsg(host string, port int, data string) []byte {
	b := []byte{0, 0, 0, 3, byte(len(host))}
	b = append(b, host...)
	b = binary.BigEndian.AppendUint16(b, uint16(port))
	return append(b, data...)
}

func TestSOCKS5UDP(t *testing.T) {
	f := start(t, Config{})
	relay, ctl := socksUDP(t, f.srv.SOCKS5Addr().String())
	defer ctl.Close()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	buf := make([]byte, 2048)
	// The first datagrams may go while the flow dials: retry until answered.
	var got []byte
	for i := 0; i < 50 && got == nil; i++ {
		pc.WriteToUDP(udpMsg("dns.home.mesh", 53, fmt.Sprintf("q%d", i)), relay)
		pc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, _, err := pc.ReadFromUDP(buf); err == nil {
			got = buf[:n]
		}
	}
	if got == nil {
		t.Fatal("no answer through the UDP association")
	}
	d, err := statute.ParseDatagram(got)
	if err != nil || d.DstAddr.FQDN != "dns.home.mesh" || d.DstAddr.Port != 53 || !strings.HasPrefix(string(d.Data), "echo:q") {
		t.Fatalf("answer: %+v %q, %v; want from dns.home.mesh:53", d.DstAddr, d.Data, err)
	}
	// A datagram for an unknown name is dropped; the association goes on.
	pc.WriteToUDP(udpMsg("nope.home.mesh", 53, "x"), relay)
	pc.WriteToUDP(udpMsg("dns.home.mesh", 53, "again"), relay)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, _, err := pc.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("after a bad destination: %v", err)
		}
		if d, _ := statute.ParseDatagram(buf[:n]); string(d.Data) == "echo:again" {
			break
		}
	}
	// Another source address may not use the client's relay port.
	other, _ := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer other.Close()
	other.WriteToUDP(udpMsg("dns.home.mesh", 53, "stranger"), relay)
	other.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, _, err := other.ReadFromUDP(buf); err == nil {
		t.Error("a stranger's datagram was relayed")
	}
	// Closing the control connection ends the association.
	ctl.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pc.WriteToUDP(udpMsg("dns.home.mesh", 53, "late"), relay)
		pc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, _, err := pc.ReadFromUDP(buf); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the association outlived its control connection")
		}
	}
}

// TestMaxConns: a connection over the limit is refused at once, the open one
// keeps working, and a slot freed by a close serves the next one.
func TestMaxConns(t *testing.T) {
	f := start(t, Config{MaxConns: 1})
	sd := f.socks(t, nil)
	first, err := sd.DialContext(context.Background(), "tcp", "700.mesh:1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sd.DialContext(context.Background(), "tcp", "700.mesh:1"); err == nil {
		t.Fatal("a second connection was served while the first held the only slot")
	}
	if f.srv.Refused() != 1 {
		t.Errorf("Refused() = %d, want 1", f.srv.Refused())
	}
	echo(t, first, "still here") // the open connection is not cut
	first.Close()
	for i := 0; ; i++ {
		c, err := sd.DialContext(context.Background(), "tcp", "700.mesh:1")
		if err == nil {
			echo(t, c, "third")
			c.Close()
			break
		}
		if i == 100 {
			t.Fatalf("no slot after the first connection closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{SOCKS5: "0.0.0.0:1080"}, "reachable from other machines"},
		{Config{HTTPProxy: ":8080"}, "reachable from other machines"},
		{Config{SOCKS5: "127.0.0.1"}, "missing port"},
		{Config{SOCKS5: "127.0.0.1:0", Username: "a"}, "needs a password"},
		{Config{SOCKS5: "127.0.0.1:0", MaxConns: -1}, "negative"},
		{Config{SOCKS5: "127.0.0.1:0", Username: strings.Repeat("u", 256), Password: "p"}, "at most 255 bytes"},
	} {
		if _, err := Listen(tc.cfg, &netDialer{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Listen(%+v): %v, want %q", tc.cfg, err, tc.want)
		}
	}
	s, err := Listen(Config{SOCKS5: "0.0.0.0:0", Username: "a", Password: "b"}, &netDialer{})
	if err != nil {
		t.Fatalf("non-loopback with credentials: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Serve(ctx)
}

// TestStopClosesConnections: Serve returns after its context ends, with the
// spliced connections closed.
func TestStopClosesConnections(t *testing.T) {
	d := &netDialer{tcp: map[string]string{"700": echoServer(t)}}
	s, err := Listen(Config{SOCKS5: "127.0.0.1:0", Logger: testLogger(t)}, d)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx); close(done) }()
	sd, _ := proxy.SOCKS5("tcp", s.SOCKS5Addr().String(), nil, proxy.Direct)
	c, err := sd.Dial("tcp", "700.mesh:1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a spliced connection after stop: %v, want it closed", err)
	}
}

// echo sends msg on c and wants it back.
func echo(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	got := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo of %q: %q, %v", msg, got, err)
	}
	c.SetReadDeadline(time.Time{})
}
