package overlay

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/relay"
)

// In-process nodes over a real relay server on loopback: for link behaviour that
// the process-level tests (internal/e2e) cannot reach quickly.

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

func startRelay(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		relay.NewServer(relay.ServerConfig{Logger: testLogger(t)}).Serve(ctx, ln)
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// runNode runs a node until the test ends or stop is called.
func runNode(t testing.TB, rdv, name string, key identity.PrivateKey, services ...Service) (n *Node, stop func()) {
	t.Helper()
	n, err := New(Config{Group: "g", Secret: "a-long-enough-secret", Rendezvous: rdv, Name: name, Key: key,
		Services: services, Logger: testLogger(t).With("node", name),
		ICEInterfaces: []string{"lo"}}) // direct paths over loopback only
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return n, stop
}

func echoListener(t testing.TB) string {
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
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// echoOnce sends msg through addr and expects it back.
func echoOnce(t *testing.T, addr, msg string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != msg {
		t.Fatalf("echo through %s: %q, %v", addr, got, err)
	}
}

func linkOf(n *Node, peer identity.PublicKey) *link {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.links[peer]
}

func genOf(l *link) *generation {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen
}

func mapTo(t testing.TB, n *Node, target string) string {
	t.Helper()
	mi, err := n.AddMapping(context.Background(), api.MappingRequest{Target: target})
	if err != nil {
		t.Fatal(err)
	}
	return mi.Listen
}

// TestGenerationRebuilt: when one side's smux session dies, that side starts a new
// epoch and both sides replace their generation; new connections work.
func TestGenerationRebuilt(t *testing.T) {
	hub := newMemHub()
	ka, kb := newTestKey(t), newTestKey(t)
	a, _ := runMemNode(t, hub, "a", ka, Service{ID: 7, Proto: "tcp", Target: echoListener(t)})
	b, _ := runMemNode(t, hub, "b", kb)
	listen := mapTo(t, b, "7")
	echoOnce(t, listen, "first")

	la, lb := linkOf(a, kb.Public()), linkOf(b, ka.Public())
	oldA, oldB := genOf(la), genOf(lb)
	oldA.mux.Close() // a's side dies (as after a keepalive timeout)
	waitFor(t, "both sides on a new generation", func() bool {
		ga, gb := genOf(la), genOf(lb)
		return ga != nil && gb != nil && ga != oldA && gb != oldB && ga.local == gb.remote && ga.remote == gb.local
	})
	if genOf(lb).remote == oldB.remote {
		t.Fatal("b kept a's old epoch")
	}
	echoOnce(t, listen, "second")
}

// TestPeerRestart: a node restarts with the same key; its peer replaces the
// generation (new epoch from the hello) and mappings work again.
func TestPeerRestart(t *testing.T) {
	hub := newMemHub()
	ka, kb := newTestKey(t), newTestKey(t)
	echo := echoListener(t)
	_, stopA := runMemNode(t, hub, "a", ka, Service{ID: 7, Proto: "tcp", Target: echo})
	b, _ := runMemNode(t, hub, "b", kb)
	listen := mapTo(t, b, "7")
	echoOnce(t, listen, "before")
	lb := linkOf(b, ka.Public())
	old := genOf(lb)

	stopA() // restart a: a second instance with the same key
	runMemNode(t, hub, "a", ka, Service{ID: 7, Proto: "tcp", Target: echo})
	waitFor(t, "b on a's new generation", func() bool {
		g := genOf(lb)
		return g != nil && g != old && g.remote != old.remote
	})
	echoOnce(t, listen, "after")
}

func newTestKey(t testing.TB) identity.PrivateKey {
	t.Helper()
	k, err := identity.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
