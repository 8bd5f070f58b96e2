package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshnode/meshnode/internal/meshproc"
)

// bins holds the binaries built once by TestMain.
var bins struct{ meshnode, rendezvous string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "meshnode-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.meshnode = filepath.Join(dir, "meshnode")
	bins.rendezvous = filepath.Join(dir, "rendezvous")
	// Plugins go where meshnode looks by default: plugins/ beside it.
	for bin, pkg := range map[string]string{bins.meshnode: "../../cmd/meshnode", bins.rendezvous: "../../cmd/rendezvous",
		filepath.Join(dir, "plugins", "meshnode-cipher-aesgcm"):       "../../plugins/aesgcm",
		filepath.Join(dir, "plugins", "meshnode-transport-websocket"): "../../plugins/websocket"} {
		args := []string{"build", "-o", bin}
		if os.Getenv("MESHNODE_E2E_RACE") != "" {
			args = append(args, "-race") // binaries report data races on stderr
		}
		cmd := exec.Command("go", append(args, pkg)...)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n", pkg, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// dumpOnFailure kills a process at the end of the test and prints its output when
// the test failed or the race detector reported something in it.
func dumpOnFailure(t *testing.T, p *meshproc.Proc, cleanup func()) {
	t.Cleanup(func() {
		cleanup()
		if strings.Contains(p.Out.String(), "WARNING: DATA RACE") {
			t.Errorf("%s: data race", p.Name)
		}
		if t.Failed() {
			t.Logf("---- output of %s ----\n%s", p.Name, p.Out.String())
		}
	})
}

func waitLog(t *testing.T, p *meshproc.Proc, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	m, err := p.Out.WaitFor(ctx, re)
	if err != nil {
		t.Fatalf("%s: %v", p.Name, err)
	}
	return m
}

func startRendezvous(t *testing.T, listen string, extra ...string) *meshproc.Rendezvous {
	t.Helper()
	// STUN on free loopback ports: tests run in parallel, and traffic stays on lo.
	r, err := meshproc.StartRendezvous(context.Background(), bins.rendezvous, listen, nil, append([]string{"--log-level", "debug",
		"--stun", "127.0.0.1:0", "--stun2", "127.0.0.1:0"}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	dumpOnFailure(t, r.Proc, r.Kill)
	return r
}

type nodeOpts = meshproc.NodeOptions

func startNode(t *testing.T, r *meshproc.Rendezvous, o nodeOpts) *meshproc.Node {
	t.Helper()
	return startNodeAt(t, r.Addr, o)
}

// startNodeAt starts a node that reaches the rendezvous at rdv.
func startNodeAt(t *testing.T, rdv string, o nodeOpts) *meshproc.Node {
	t.Helper()
	if !slices.Contains(o.Extra, "--log-level") {
		o.Extra = append(o.Extra, "--log-level", "debug")
	}
	// Direct paths over loopback only: tests send nothing to other interfaces.
	if !slices.Contains(o.Extra, "--relay-only") && !slices.Contains(o.Extra, "--ice-interfaces") {
		o.Extra = append(o.Extra, "--ice-interfaces", "lo")
	}
	n, err := meshproc.StartNode(context.Background(), bins.meshnode, rdv, o)
	if err != nil {
		t.Fatal(err)
	}
	dumpOnFailure(t, n.Proc, n.Close)
	return n
}

// cli runs a meshnode verb against n and returns its combined output.
func cli(n *meshproc.Node, args ...string) (string, error) {
	return runCLI(append([]string{"--control", n.Control}, args...)...)
}

func mapService(t *testing.T, n *meshproc.Node, target string) string {
	t.Helper()
	l, err := n.Map(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// waitUntil polls f until it returns nil or the timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// echoServer is a TCP echo service on loopback that counts its connections.
type echoServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns int
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.conns++
			e.mu.Unlock()
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return e
}

func (e *echoServer) addr() string { return e.ln.Addr().String() }

func (e *echoServer) connCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.conns
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}
