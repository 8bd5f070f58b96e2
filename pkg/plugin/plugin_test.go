package plugin

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/seal"
)

// Tests launch real plugin processes, built once by TestMain.
var pluginDir string

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" { // re-executed as a node (death_test.go)
		os.Exit(runRole(role))
	}
	dir, err := os.MkdirTemp("", "meshnode-plugins")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginDir = dir
	for bin, pkg := range map[string]string{
		Binary(KindCipher, "test"):      "./internal/testplugin",
		Binary(KindTransport, "test"):   "./internal/testplugin",
		Binary(KindCipher, "aesgcm"):    "../../plugins/aesgcm",
		Binary(KindCipher, "version2"):  "./internal/testplugin",
		Binary(KindCipher, "notplugin"): "",
	} {
		path := filepath.Join(dir, bin)
		if pkg == "" { // an executable that is not a plugin
			if err := os.WriteFile(path, []byte("#!/bin/sh\nexec sleep 30\n"), 0o755); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			continue
		}
		cmd := exec.Command("go", "build", "-o", path, pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n", pkg, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// logBuffer collects a manager's log for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func newManager(t *testing.T, cfg Config) (*Manager, *logBuffer) {
	t.Helper()
	lb := &logBuffer{}
	cfg.Dir = pluginDir
	cfg.Logger = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := NewManager(cfg)
	t.Cleanup(func() {
		m.Close()
		if t.Failed() {
			t.Logf("manager log:\n%s", lb.String())
		}
	})
	return m, lb
}

// handshake runs a full handshake between two instances of c and checks the
// keys match: what one side seals the other opens.
func handshake(t *testing.T, c seal.Cipher) {
	t.Helper()
	ka, _ := identity.GeneratePrivateKey()
	kb, _ := identity.GeneratePrivateKey()
	psk := [32]byte{7}
	ha, err := c.NewHandshake(seal.HandshakeConfig{Initiator: true, Local: ka, Remote: kb.Public(), PSK: psk})
	if err != nil {
		t.Fatal(err)
	}
	hb, err := c.NewHandshake(seal.HandshakeConfig{Local: kb, PSK: psk})
	if err != nil {
		t.Fatal(err)
	}
	m1, err := ha.WriteMessage(nil, []byte("hello-a"))
	if err != nil {
		t.Fatal(err)
	}
	p1, err := hb.ReadMessage(nil, m1)
	if err != nil || string(p1) != "hello-a" || hb.Remote() != ka.Public() {
		t.Fatalf("read 1: %q %v remote ok=%v", p1, err, hb.Remote() == ka.Public())
	}
	m2, err := hb.WriteMessage(nil, []byte("hello-b"))
	if err != nil {
		t.Fatal(err)
	}
	p2, err := ha.ReadMessage(nil, m2)
	if err != nil || string(p2) != "hello-b" || !ha.Complete() || !hb.Complete() {
		t.Fatalf("read 2: %q %v complete %v %v", p2, err, ha.Complete(), hb.Complete())
	}
	sa, ra, err := ha.Keys()
	if err != nil {
		t.Fatal(err)
	}
	sb, rb, err := hb.Keys()
	if err != nil {
		t.Fatal(err)
	}
	for i, pair := range [][2]seal.AEAD{{sa, rb}, {sb, ra}} {
		ct := pair[0].Seal(nil, 42, []byte("datagram"))
		pt, err := pair[1].Open(nil, 42, ct)
		if err != nil || string(pt) != "datagram" {
			t.Fatalf("direction %d: %q %v", i, pt, err)
		}
	}
	if _, _, err := ha.Keys(); err == nil {
		t.Fatal("keys taken twice")
	}
}

func TestCipherPlugins(t *testing.T) {
	m, _ := newManager(t, Config{})
	for _, tc := range []struct{ name, suite string }{{"test", "test-suite"}, {"aesgcm", "noise-ikpsk2-aesgcm-sha512"}} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := m.Cipher(context.Background(), tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if c.Name() != tc.suite {
				t.Fatalf("suite %q, want %q", c.Name(), tc.suite)
			}
			handshake(t, c)
		})
	}
	st := m.Status()
	if len(st) != 2 || st[0].State != api.PluginRunning || st[0].PID == 0 {
		t.Fatalf("status %+v", st)
	}
}

// TestSealChannelOverPlugin: two seal.Channels using the plugin cipher
// establish sessions and move datagrams.
func TestSealChannelOverPlugin(t *testing.T) {
	m, _ := newManager(t, Config{})
	c, err := m.Cipher(context.Background(), "aesgcm")
	if err != nil {
		t.Fatal(err)
	}
	ka, _ := identity.GeneratePrivateKey()
	kb, _ := identity.GeneratePrivateKey()
	var mu sync.Mutex
	var chA, chB *seal.Channel
	got := make(chan string, 16)
	mk := func(local identity.PrivateKey, remote identity.PublicKey, peer **seal.Channel) *seal.Channel {
		ch, err := seal.NewChannel(seal.ChannelConfig{
			Cipher: c, Local: local, Remote: remote, PSK: [32]byte{1}, Hello: []byte("h"),
			Send: func(pkt []byte) error {
				mu.Lock()
				p := *peer
				mu.Unlock()
				b := append([]byte(nil), pkt...)
				go func() {
					if pt, err := p.Receive(nil, b); err == nil && len(pt) > 0 {
						got <- string(pt)
					}
				}()
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ch.Close)
		return ch
	}
	mu.Lock()
	chA = mk(ka, kb.Public(), &chB)
	chB = mk(kb, ka.Public(), &chA)
	mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		chA.Seal([]byte("ping"))
		select {
		case s := <-got:
			if s != "ping" {
				t.Fatalf("got %q", s)
			}
			if st := chA.Status(); !st.Established {
				t.Fatalf("status %+v", st)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session: %+v", chA.Status())
		}
	}
}

func TestLoadErrors(t *testing.T) {
	t.Setenv("TESTPLUGIN_VERSION", "2")
	m, _ := newManager(t, Config{StartTimeout: 2 * time.Second})
	ctx := context.Background()
	for _, tc := range []struct {
		kind, name, want string
	}{
		{KindCipher, "nope", "cipher plugin \"nope\" not found: no meshnode-cipher-nope in " + pluginDir},
		{KindCipher, "Bad/Name", "may contain only"},
		{KindCipher, "version2", "another plugin contract version (this node speaks version 1)"},
		{KindCipher, "notplugin", "did not complete the plugin handshake"},
	} {
		var err error
		if tc.kind == KindCipher {
			_, err = m.Cipher(ctx, tc.name)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: %v, want %q", tc.kind, tc.name, err, tc.want)
		}
	}
	if _, err := NewManager(Config{}).Cipher(ctx, "x"); err == nil || !strings.Contains(err.Error(), "no plugin directory") {
		t.Errorf("no dir: %v", err)
	}
	open := t.TempDir()
	os.Chmod(open, 0o777)
	if _, err := NewManager(Config{Dir: open}).Cipher(ctx, "x"); err == nil || !strings.Contains(err.Error(), "writable by every user") {
		t.Errorf("world-writable dir: %v", err)
	}
}

func waitStatus(t *testing.T, m *Manager, what string, ok func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := m.Status()
		if len(st) == 1 && ok(st[0]) {
			return st[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status %+v", what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCrashRestart: a killed cipher plugin is reported, restarted, OnRestart
// runs, and handshakes work again.
func TestCrashRestart(t *testing.T) {
	restarted := make(chan string, 4)
	m, lb := newManager(t, Config{HealthInterval: 100 * time.Millisecond, RestartMin: 50 * time.Millisecond,
		OnRestart: func(kind, name string) { restarted <- kind + "/" + name }})
	c, err := m.Cipher(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	first := m.Status()[0]
	syscall.Kill(first.PID, syscall.SIGKILL)
	select {
	case who := <-restarted:
		if who != "cipher/test" {
			t.Fatalf("restarted %q", who)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("not restarted")
	}
	st := waitStatus(t, m, "running again", func(s Status) bool { return s.State == api.PluginRunning })
	if st.Restarts != 1 || st.PID == first.PID || !strings.Contains(st.LastError, "exited") {
		t.Fatalf("after restart: %+v", st)
	}
	if !strings.Contains(lb.String(), `msg="plugin failed; restarting" plugin=cipher/test err="the plugin process exited"`) {
		t.Errorf("no failure line in the log:\n%s", lb.String())
	}
	handshake(t, c)
}

// TestHungPluginRestarted: a plugin that stops answering is killed and
// restarted; calls meanwhile fail with an error naming it.
func TestHungPluginRestarted(t *testing.T) {
	hangFile := filepath.Join(t.TempDir(), "hang")
	t.Setenv("TESTPLUGIN_HANG_FILE", hangFile)
	m, _ := newManager(t, Config{HealthInterval: 100 * time.Millisecond, CallTimeout: 300 * time.Millisecond, RestartMin: 50 * time.Millisecond})
	c, err := m.Cipher(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	first := m.Status()[0]
	os.WriteFile(hangFile, nil, 0o600)
	ka, _ := identity.GeneratePrivateKey()
	if _, err := c.NewHandshake(seal.HandshakeConfig{Local: ka}); err == nil || !strings.Contains(err.Error(), `cipher plugin "test"`) {
		t.Errorf("call to a hung plugin: %v", err)
	}
	waitStatus(t, m, "declared hung", func(s Status) bool { return strings.Contains(s.LastError, "stopped answering") })
	os.Remove(hangFile)
	st := waitStatus(t, m, "running again", func(s Status) bool { return s.State == api.PluginRunning && s.Restarts >= 1 })
	if st.PID == first.PID {
		t.Fatalf("same process: %+v", st)
	}
	handshake(t, c)
}

// TestTransportPlugin: bytes through a plugin-dialed connection arrive
// intact; a killed plugin breaks its connections, is restarted, and new
// dials work.
func TestTransportPlugin(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	m, _ := newManager(t, Config{HealthInterval: 100 * time.Millisecond, RestartMin: 50 * time.Millisecond})
	tr, err := m.Transport(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Name() != "test" {
		t.Fatalf("name %q", tr.Name())
	}
	echo := func(n int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := tr.Dial(ctx, ln.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		data := make([]byte, n)
		rand.NewChaCha8([32]byte{9}).Read(data)
		go c.Write(data)
		got := make([]byte, n)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, got); err != nil {
			return err
		}
		if !bytes.Equal(got, data) {
			return fmt.Errorf("%d bytes came back different", n)
		}
		return nil
	}
	if err := echo(4 << 20); err != nil {
		t.Fatal(err)
	}
	// A connection open when the plugin dies ends.
	c, err := tr.Dial(context.Background(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	syscall.Kill(m.Status()[0].PID, syscall.SIGKILL)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || os.IsTimeout(err) {
		t.Fatalf("read on a connection of a dead plugin: %v", err)
	}
	waitStatus(t, m, "running again", func(s Status) bool { return s.State == api.PluginRunning && s.Restarts == 1 })
	if err := echo(1 << 20); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if _, err := tr.Dial(context.Background(), "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), `transport plugin "test": dial 127.0.0.1:1`) {
		t.Errorf("dial refused: %v", err)
	}
}
