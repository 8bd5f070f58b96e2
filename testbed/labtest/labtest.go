package labtest

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshnode/meshnode/testbed/lab"
	"github.com/meshnode/meshnode/testbed/natprobe"
)

// RootSkipMessage is what lab tests say when they cannot run.
const RootSkipMessage = "lab test needs root (network namespaces, veth, nftables): run as root, as CI does"

// IsRoot tells whether lab tests can run.
func IsRoot() bool { return os.Geteuid() == 0 }

// RequireRoot skips the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if !IsRoot() {
		t.Skip(RootSkipMessage)
	}
}

// Main runs the tests of a package that builds labs; use it as
//
//	func TestMain(m *testing.M) { os.Exit(labtest.Main(m)) }
//
// Before the tests it removes leftovers of crashed runs (labs whose owner is
// dead, orphan namespaces). On SIGINT/SIGTERM it tears down this process's
// labs before exiting. After the tests it removes any lab this process still
// owns and fails the run if there was one (a test leaked a lab).
func Main(m *testing.M) int {
	root := IsRoot()
	if root {
		if removed, err := lab.Clean(lab.CleanOptions{Dead: true}); err != nil || len(removed) > 0 {
			fmt.Fprintf(os.Stderr, "labtest: removed leftovers of earlier runs %v (err: %v)\n", removed, err)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s, ok := <-sig
		if !ok {
			return
		}
		fmt.Fprintf(os.Stderr, "labtest: %v: tearing down the labs of this test process\n", s)
		removed, err := lab.Clean(lab.CleanOptions{Owner: os.Getpid()})
		fmt.Fprintf(os.Stderr, "labtest: removed %v (err: %v)\n", removed, err)
		os.Exit(1)
	}()
	code := m.Run()
	signal.Stop(sig)
	if root {
		removed, err := lab.Clean(lab.CleanOptions{Owner: os.Getpid()})
		if len(removed) > 0 || err != nil {
			fmt.Fprintf(os.Stderr, "labtest: FAIL: tests left labs behind %v (removed now; err: %v)\n", removed, err)
			code = 1
		}
	}
	return code
}

// Up brings up the topology for the test (skipping when not root) and
// registers teardown in t.Cleanup. When the test failed, the output of every
// process started with Lab.Start is logged before teardown.
func Up(t testing.TB, file string, env map[string]string) *lab.Lab {
	t.Helper()
	RequireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := lab.Up(ctx, file, lab.Options{Env: env, Logf: t.Logf})
	if err != nil {
		t.Fatalf("lab up %s %s: %v", file, FormatEnv(env), err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range l.Procs() {
				t.Logf("---- output of %s on %s (%s) ----\n%s", p.Name, p.Node, strings.Join(p.Cmd.Args, " "), p.Output())
			}
		}
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	return l
}

// FormatEnv renders env as sorted K=V pairs.
func FormatEnv(env map[string]string) string {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + env[k])
	}
	return b.String()
}

// Merge returns a new map with the entries of all maps, later ones winning.
func Merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

// Addr returns a node's first IPv4 address on ifname or fails the test.
func Addr(t testing.TB, l *lab.Lab, node, ifname string) netip.Addr {
	t.Helper()
	a, err := l.Addr(node, ifname)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Build compiles main packages into dir: name -> package (import path, or a
// path relative to the caller's working directory). It returns name -> binary.
// Call it once, from TestMain.
func Build(dir string, pkgs map[string]string, flags ...string) (map[string]string, error) {
	out := map[string]string{}
	for name, pkg := range pkgs {
		bin := filepath.Join(dir, name)
		args := append(append([]string{"build", "-o", bin}, flags...), pkg)
		cmd := exec.Command("go", args...)
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
		}
		out[name] = bin
	}
	return out, nil
}

// ProductPackages are the binaries a scenario test builds once (see Build):
// the product (meshnode, rendezvous) and the lab helper meshlab (the WAN
// boxes' delay bridge runs it).
func ProductPackages() map[string]string {
	return map[string]string{
		"meshnode":   "github.com/meshnode/meshnode/cmd/meshnode",
		"rendezvous": "github.com/meshnode/meshnode/cmd/rendezvous",
		"meshlab":    "github.com/meshnode/meshnode/testbed/cmd/lab",
	}
}

// BinEnv points a two-sites topology at binaries built into dir: nodes see
// them as /opt/meshnode/bin/NAME, the WAN boxes run dir/meshlab.
func BinEnv(dir string) map[string]string {
	return map[string]string{"MESHNODE_BIN": dir, "MESHLAB": filepath.Join(dir, "meshlab")}
}

// ProbeServer starts a natprobe server in node on the first two IPv4
// addresses of ifname; it stops at the end of the test.
func ProbeServer(t testing.TB, l *lab.Lab, node, ifname string) natprobe.Target {
	t.Helper()
	addrs, err := l.Addrs(node, ifname)
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) < 2 {
		t.Fatalf("probe server: %s %s needs two IPv4 addresses, has %v", node, ifname, addrs)
	}
	srv, err := natprobe.Listen(PacketListener(l, node), StreamListener(l, node), addrs[0].Addr(), addrs[1].Addr(), 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv.Target()
}

// PacketListener opens packet sockets inside node.
func PacketListener(l *lab.Lab, node string) natprobe.ListenFunc {
	return func(network, addr string) (net.PacketConn, error) { return l.ListenPacket(node, network, addr) }
}

// StreamListener opens stream listeners inside node.
func StreamListener(l *lab.Lab, node string) natprobe.StreamListenFunc {
	return func(network, addr string) (net.Listener, error) { return l.Listen(node, network, addr) }
}

// Classify runs the NAT probe from node (its first address on ifname).
func Classify(ctx context.Context, l *lab.Lab, node, ifname string, target natprobe.Target) (natprobe.Result, error) {
	local, err := l.Addr(node, ifname)
	if err != nil {
		return natprobe.Result{}, err
	}
	return natprobe.Classify(ctx, natprobe.Config{
		Local:        local,
		ListenPacket: PacketListener(l, node),
		DialTCP: func(ctx context.Context, addr string) (net.Conn, error) {
			return l.Dial(ctx, node, "tcp4", addr)
		},
	}, target)
}
