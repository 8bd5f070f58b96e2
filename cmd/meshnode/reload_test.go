package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/control/client"
	"github.com/meshnode/meshnode/pkg/relay"
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

func startRelay(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { relay.NewServer(relay.ServerConfig{}).Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

func echoServer(t *testing.T) string {
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

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// echoes checks that c echoes a line.
func echoes(c net.Conn, line string) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(line)); err != nil {
		return err
	}
	buf := make([]byte, len(line))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != line {
		return fmt.Errorf("echoed %q, sent %q", buf, line)
	}
	return nil
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestUpReload runs `up` in-process from a config file alone and reloads it:
// declared items change by diff, live items and unchanged mappings (with their
// open connections) stay, restart-only settings are reported, and a broken
// file changes nothing.
func TestUpReload(t *testing.T) {
	rdv := startRelay(t)
	dir, err := os.MkdirTemp("", "mnup") // short: the control socket lives here
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	echo := echoServer(t)
	keep, gone, live := freePort(t), freePort(t), freePort(t)
	head := fmt.Sprintf("group = %q\nsecret = \"correct-horse-battery\"\nrendezvous = %q\nname = \"a\"\nstate = %q\nrelay-only = true\n", "home", rdv, dir)
	common := fmt.Sprintf("[serve.ssh]\nserveid = 700\ntarget = %q\n\n[use.keep]\nservice = \"700\"\nport = %d\n", echo, keep)
	cfg := writeConfig(t, dir, head+"log-level = \"info\"\n"+common+fmt.Sprintf("\n[use.gone]\nservice = \"ssh@a\"\nport = %d\n", gone))

	logs := &syncBuf{}
	hup := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	exit := make(chan int, 1)
	go func() {
		exit <- runEnv(ctx, []string{"meshnode", "up", "--config", cfg}, &env{stdout: io.Discard, stderr: logs,
			watchHUP: func() (<-chan os.Signal, func()) { return hup, func() {} }})
	}()
	t.Cleanup(func() {
		cancel()
		<-exit
		if t.Failed() {
			t.Logf("node log:\n%s", logs)
		}
	})
	sock := filepath.Join(dir, "control.sock")
	cl := client.New(sock)
	waitFor(t, "the control socket", func() bool { return cl.Alive(context.Background()) })
	st, _ := cl.Status(context.Background())
	if len(st.Services) != 1 || st.Services[0].Ref != "[serve.ssh]" || len(st.Mappings) != 2 || st.Config == nil || st.Config.File != cfg {
		t.Fatalf("declared state at start: %+v", st)
	}
	if !strings.Contains(logs.String(), `msg="configuration applied"`) {
		t.Fatalf("no start line:\n%s", logs)
	}

	// A connection through the mapping that will stay, held open over the reload.
	held, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", keep))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := echoes(held, "before\n"); err != nil {
		t.Fatal(err)
	}
	// Live changes: the file never touches them.
	if code, out, errOut := runT(t, nil, "--control", sock, "serve", "add", "701", echo, "--name", "web2"); code != 0 {
		t.Fatalf("serve add: %s %s", out, errOut)
	}
	if code, out, errOut := runT(t, nil, "map", "701", fmt.Sprint(live), "--control", sock); code != 0 {
		t.Fatalf("map: %s %s", out, errOut)
	}

	// Edit: add a service, drop a mapping, raise the log level, change the
	// group (restart needed), and declare serveid 701 that a live service holds.
	writeConfig(t, dir, strings.Replace(head, `"home"`, `"other"`, 1)+"log-level = \"debug\"\n"+common+
		fmt.Sprintf("\n[serve.web]\nserveid = 710\ntarget = %q\n\n[serve.clash]\nserveid = 701\ntarget = %q\n", echo, echo))
	hup <- syscall.SIGHUP
	waitFor(t, "the reload line", func() bool { return strings.Contains(logs.String(), `msg="config reloaded"`) })
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `msg="config reloaded"`) {
			line = l
		}
	}
	for _, want := range []string{`log-level: \"info\" -> \"debug\"`, "[serve.web]: added (serveid 710", "[use.gone]: removed (port " + fmt.Sprint(gone),
		"restart_needed=group", "[serve.clash]: not applied: serveid 701 is already served here", "added live"} {
		if !strings.Contains(line, want) {
			t.Errorf("reload line lacks %q:\n%s", want, line)
		}
	}
	st, _ = cl.Status(context.Background())
	got := map[string]api.Origin{}
	for _, s := range st.Services {
		got[fmt.Sprint(s.ID)] = s.Origin
	}
	for _, m := range st.Mappings {
		got[fmt.Sprint(m.Port)] = m.Origin
	}
	want := map[string]api.Origin{"700": api.OriginFile, "701": api.OriginLive, "710": api.OriginFile, fmt.Sprint(keep): api.OriginFile, fmt.Sprint(live): api.OriginLive}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after reload: %v, want %v", got, want)
	}
	if st.Group != "home" || st.Config.LogLevel != "debug" || strings.Join(st.Config.Restart, ",") != "group" || len(st.Config.NotApplied) != 1 {
		t.Fatalf("config state after reload: group %s, %+v", st.Group, st.Config)
	}
	if err := echoes(held, "after\n"); err != nil {
		t.Fatalf("connection through the unchanged mapping: %v", err)
	}
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", gone)); err == nil {
		c.Close()
		t.Fatal("removed mapping still listens")
	}

	// A broken file: rejected whole with line and key; nothing changes.
	writeConfig(t, dir, head+"log-level = \"info\"\n"+common+"\n[serve.bad]\ntarget = \"127.0.0.1:1\"\nserveid = \"x\"\n")
	code, _, errOut := runT(t, nil, "reload", "--control", sock)
	if code == 0 || !strings.Contains(errOut, `meshnode.toml:18: key "serve.bad.serveid": want an integer`) || !strings.Contains(errOut, "nothing changed") {
		t.Fatalf("broken reload: %d %q", code, errOut)
	}
	st2, _ := cl.Status(context.Background())
	if len(st2.Services) != len(st.Services) || len(st2.Mappings) != len(st.Mappings) || st2.Config.LogLevel != "debug" {
		t.Fatalf("a rejected reload changed the node: %+v", st2)
	}
	if err := echoes(held, "still\n"); err != nil {
		t.Fatalf("after a rejected reload: %v", err)
	}

	// The reload verb prints what changed: the clash is gone once the live
	// service is removed.
	writeConfig(t, dir, strings.Replace(head, `"home"`, `"other"`, 1)+"log-level = \"debug\"\n"+common+
		fmt.Sprintf("\n[serve.web]\nserveid = 710\ntarget = %q\n\n[serve.clash]\nserveid = 701\ntarget = %q\n", echo, echo))
	if code, out, errOut := runT(t, nil, "serve", "rm", "701", "--control", sock); code != 0 {
		t.Fatalf("serve rm: %s %s", out, errOut)
	}
	code, out, errOut := runT(t, nil, "reload", "--control", sock)
	if code != 0 || !strings.Contains(out, "[serve.clash]: applied (serveid 701") || !strings.Contains(out, "restart needed: group") {
		t.Fatalf("reload verb: %d %q %q", code, out, errOut)
	}
	// Declared items cannot be removed live.
	if code, _, errOut := runT(t, nil, "serve", "rm", "700", "--control", sock); code == 0 || !strings.Contains(errOut, "declared by [serve.ssh]") {
		t.Fatalf("serve rm of a declared service: %d %q", code, errOut)
	}

	// down stops the node cleanly.
	if code, out, errOut := runT(t, nil, "down", "--control", sock); code != 0 || !strings.Contains(out, "node stopped") {
		t.Fatalf("down: %d %q %q", code, out, errOut)
	}
	select {
	case code := <-exit:
		exit <- code
		if code != 0 {
			t.Fatalf("up exited %d", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("up did not exit after down")
	}
	if !strings.Contains(logs.String(), `msg="node stopped"`) {
		t.Fatalf("no clean stop in the log")
	}
}

// TestReloadWithoutConfigFile: a node started by flags alone survives SIGHUP
// (it says there is nothing to reload) and `meshnode reload` says why it
// cannot.
func TestReloadWithoutConfigFile(t *testing.T) {
	rdv := startRelay(t)
	dir, err := os.MkdirTemp("", "mnup")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	logs := &syncBuf{}
	hup := make(chan os.Signal, 1)
	exit := make(chan int, 1)
	go func() {
		exit <- runEnv(context.Background(), []string{"meshnode", "--state", dir, "up", "--group", "g", "--rendezvous", rdv,
			"--relay-only", "--name", "solo"}, &env{stdout: io.Discard, stderr: logs,
			lookupEnv: envOf(map[string]string{"MESHNODE_SECRET": "correct-horse-battery"}),
			watchHUP:  func() (<-chan os.Signal, func()) { return hup, func() {} }})
	}()
	sock := filepath.Join(dir, "control.sock")
	cl := client.New(sock)
	waitFor(t, "the control socket", func() bool { return cl.Alive(context.Background()) })
	hup <- syscall.SIGHUP
	waitFor(t, "the SIGHUP line", func() bool { return strings.Contains(logs.String(), "SIGHUP: no config file to reload") })
	code, _, errOut := runT(t, nil, "reload", "--control", sock)
	if code == 0 || !strings.Contains(errOut, "no config file to reload: the node was started without --config") {
		t.Fatalf("reload: %d %q", code, errOut)
	}
	st, err := cl.Status(context.Background())
	if err != nil || st.Config == nil || st.Config.File != "" {
		t.Fatalf("status: %+v %v", st.Config, err)
	}
	if code, out, errOut := runT(t, nil, "down", "--control", sock); code != 0 {
		t.Fatalf("down: %q %q", out, errOut)
	}
	if code := <-exit; code != 0 {
		t.Fatalf("up exited %d:\n%s", code, logs)
	}
	if strings.Contains(logs.String(), "correct-horse") {
		t.Fatalf("secret in the log:\n%s", logs)
	}
}
