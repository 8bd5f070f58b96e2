package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/relay"
	"github.com/meshnode/meshnode/pkg/transport"
)

// syncBuf is a goroutine-safe log sink.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listeningRE = regexp.MustCompile(`msg="rendezvous listening" addr=(\S+)`)

// listeningAddr waits for the "rendezvous listening" line in out and returns its
// addr attribute (text or JSON format).
func listeningAddr(t *testing.T, out func() string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(out(), "\n") {
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				return m[1]
			}
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "rendezvous listening" {
				return rec.Addr
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no listening line; output:\n%s", out())
	return ""
}

// startInProcess runs the command in this process until the test ends.
func startInProcess(t *testing.T, args ...string) (addr string, logs *syncBuf, stop func() int) {
	t.Helper()
	logs = &syncBuf{}
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- run(ctx, append([]string{"rendezvous"}, args...), io.Discard, logs) }()
	var once sync.Once
	var exit int
	stop = func() int {
		once.Do(func() {
			cancel()
			exit = <-code
		})
		return exit
	}
	t.Cleanup(func() { stop() })
	return listeningAddr(t, logs.String), logs, stop
}

// relayPair connects two nodes of one group through addr and checks that a
// datagram gets across.
func relayPair(t *testing.T, addr string, tr transport.Transport) {
	t.Helper()
	relayBetween(t, endpoint{addr, tr}, endpoint{addr, tr})
}

// endpoint is how a node reaches the rendezvous.
type endpoint struct {
	addr string
	tr   transport.Transport
}

// relayBetween connects a node through from and one through to, in one group,
// and checks that a datagram gets from the first to the second.
func relayBetween(t *testing.T, from, to endpoint) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	got := make(chan string, 1)
	met := make(chan struct{}, 1)
	start := func(ep endpoint, key identity.PrivateKey, onPacket func(identity.PublicKey, []byte, bool), onPresence func(relay.PresenceEvent)) *relay.Client {
		c, err := relay.NewClient(relay.ClientConfig{
			Addr: ep.addr, Transport: ep.tr, Group: homeGroup(), Key: key,
			OnPacket: onPacket, OnPresence: onPresence, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); c.Run(ctx) }()
		return c
	}
	// Other members of the group (earlier pairs still leaving, a test's own
	// nodes) are ignored: a waits for b by its key.
	bKey, _ := identity.GeneratePrivateKey()
	aKey, _ := identity.GeneratePrivateKey()
	dst := bKey.Public()
	start(to, bKey, func(_ identity.PublicKey, p []byte, _ bool) {
		select {
		case got <- string(p):
		default:
		}
	}, nil)
	a := start(from, aKey, nil, func(ev relay.PresenceEvent) {
		if ev.Kind == relay.PeerJoined && ev.Key == dst {
			select {
			case met <- struct{}{}:
			default:
			}
		}
	})
	select {
	case <-met:
	case <-time.After(10 * time.Second):
		t.Fatal("nodes did not meet")
	}
	if err := a.Send(dst, []byte("through the rendezvous")); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p != "through the rendezvous" {
			t.Fatalf("got %q", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("datagram not relayed")
	}
}

func TestRunRelaysAndStops(t *testing.T) {
	addr, logs, stop := startInProcess(t, "--listen", "127.0.0.1:0", "--max-conns", "50")
	relayPair(t, addr, transport.TCP())
	if code := stop(); code != 0 {
		t.Fatalf("exit code %d; log:\n%s", code, logs)
	}
	out := logs.String()
	if n := strings.Count(out, `msg="rendezvous listening"`); n != 1 {
		t.Fatalf("%d listening lines", n)
	}
	for _, want := range []string{"level=INFO", `msg="node joined"`, `msg="node left"`, `msg="rendezvous stopped"`, "relayed_frames=1", "max_conns=50"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestEnvAndJSON(t *testing.T) {
	t.Setenv("RENDEZVOUS_LISTEN", "127.0.0.1:0")
	t.Setenv("RENDEZVOUS_LOG_FORMAT", "json")
	t.Setenv("RENDEZVOUS_WS_LISTEN", "127.0.0.1:0")
	addr, logs, stop := startInProcess(t, "--log-level", "debug")
	relayPair(t, addr, transport.TCP())
	relayPair(t, jsonWSAddr(t, logs.String()), transport.WebSocket(transport.WebSocketConfig{}))
	if code := stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	joins := 0
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		if rec["msg"] == "node joined" {
			joins++
		}
	}
	if joins != 4 {
		t.Fatalf("%d join lines:\n%s", joins, logs)
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := writeCert(t, dir)
	addr, logs, stop := startInProcess(t, "--listen", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile)
	relayPair(t, addr, transport.TLS(&tls.Config{RootCAs: pool}))

	// A plain TCP client is refused, and both sides say why.
	clientLog := &syncBuf{}
	key, _ := identity.GeneratePrivateKey()
	c, err := relay.NewClient(relay.ClientConfig{Addr: addr, Group: homeGroup(), Key: key,
		Logger: slog.New(slog.NewTextHandler(clientLog, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(clientLog.String(), "a TLS-only rendezvous does this to a plain TCP client") ||
		!strings.Contains(logs.String(), "first record does not look like a TLS handshake") {
		if time.Now().After(deadline) {
			t.Fatalf("client log:\n%s\nserver log:\n%s", clientLog, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if code := stop(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func TestBadFlags(t *testing.T) {
	dir := t.TempDir()
	badKey := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(badKey, []byte("mnra1_0123456789abcdefghij\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	shortKey := filepath.Join(dir, "short.key")
	if err := os.WriteFile(shortKey, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := busy.Addr().String()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nope"}, "flag provided but not defined: -nope"},
		{[]string{"--max-conns", "many"}, `invalid value "many" for flag -max-conns`},
		{[]string{"--max-conns", "0"}, "--max-conns must be at least 1, got 0"},
		{[]string{"--idle-timeout", "-1s"}, "--idle-timeout must be positive, got -1s"},
		{[]string{"--idle-timeout", "soon"}, `invalid value "soon" for flag -idle-timeout`},
		{[]string{"--log-level", "loud"}, `invalid --log-level "loud": want debug, info, warn or error`},
		{[]string{"--log-format", "xml"}, `invalid --log-format "xml": want text or json`},
		{[]string{"--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--listen", ""}, "--listen is empty"},
		{[]string{"--listen", "127.0.0.1:99999"}, "--listen 127.0.0.1:99999:"},
		{[]string{"--listen", "127.0.0.1:0", "--tls-cert", filepath.Join(dir, "no.pem"), "--tls-key", filepath.Join(dir, "no.key")}, "load --tls-cert"},
		{[]string{"serve"}, `unexpected argument "serve"`},
		{[]string{"--stun", "3478"}, `--stun "3478": want host:port such as :3478`},
		{[]string{"--stun2", "nohost"}, `--stun2 "nohost": want host:port`},
		{[]string{"--ws-listen", "8080"}, `--ws-listen "8080": want host:port such as :443, or "" for no WebSocket endpoint`},
		{[]string{"--ws-path", "relay"}, `--ws-path "relay": want an absolute URL path such as /meshnode/v1/relay`},
		{[]string{"--ws-path", "/a?b"}, `--ws-path "/a?b": want an absolute URL path`},
		{[]string{"--listen", "127.0.0.1:0", "--ws-listen", "127.0.0.1:99999"}, "--ws-listen 127.0.0.1:99999:"},
		{[]string{"--metrics", "nohost"}, `--metrics "nohost": want host:port, :port or a port`},
		{[]string{"--metrics", ":99999"}, `--metrics ":99999": port "99999" is not a number from 0 to 65535`},
		{[]string{"--admin", "127.0.0.1:0"}, "--admin needs admin-key-file"},
		{[]string{"--listen", "127.0.0.1:0", "--stun", "", "--admin", "127.0.0.1:0", "--admin-key-file", badKey}, "is readable by other users (mode 0644); chmod 600 it"},
		{[]string{"--listen", "127.0.0.1:0", "--stun", "", "--admin", "127.0.0.1:0", "--admin-key-file", shortKey}, "the key is 5 characters, too short"},
		{[]string{"--listen", "127.0.0.1:0", "--stun", "", "--admin", "127.0.0.1:0", "--admin-key-file", filepath.Join(dir, "nodir", "k")}, "--admin-key-file " + filepath.Join(dir, "nodir", "k") + ": create:"},
		{[]string{"--listen", "127.0.0.1:0", "--stun", "", "--metrics", taken}, "--metrics " + taken + ":"},
	} {
		var stderr bytes.Buffer
		code := run(context.Background(), append([]string{"rendezvous"}, tc.args...), io.Discard, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want non-zero and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// TestBinary builds the real command, starts it on 127.0.0.1:0, relays through it
// and stops it with SIGTERM.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "rendezvous")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--ws-listen", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	logs := &syncBuf{}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.Write(append(sc.Bytes(), '\n'))
		}
	}()
	addr := listeningAddr(t, logs.String)
	relayPair(t, addr, transport.TCP())
	wsAddr := listeningWS(t, logs.String())
	relayBetween(t, endpoint{wsAddr, transport.WebSocket(transport.WebSocketConfig{})}, endpoint{addr, transport.TCP()})

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-copied
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v; log:\n%s", err, logs)
	}
	if !strings.Contains(logs.String(), `msg="rendezvous stopped"`) {
		t.Fatalf("no stop line:\n%s", logs)
	}
	for _, a := range []string{addr, wsAddr} {
		if _, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			t.Fatalf("still listening on %s after exit", a)
		}
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key to dir.
func writeCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "rendezvous test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(leaf)
	return certFile, keyFile, pool
}

// homeGroup derives the test group once (identity.DeriveGroup is deliberately slow).
var homeGroup = sync.OnceValue(func() identity.Group {
	g, err := identity.DeriveGroup("home", "test-secret-of-home")
	if err != nil {
		panic(err)
	}
	return g
})
