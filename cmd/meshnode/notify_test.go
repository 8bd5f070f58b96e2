package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/meshnode/meshnode/internal/sdnotify"
	"github.com/meshnode/meshnode/pkg/control/client"
)

// TestUpNotifies runs `up` in-process as systemd would (Type=notify): READY=1
// comes once the control socket answers, a SIGHUP and `meshnode reload` are
// each bracketed by RELOADING=1 and READY=1, and `meshnode down` sends
// STOPPING=1 before `up` returns.
func TestUpNotifies(t *testing.T) {
	rdv := startRelay(t)
	dir, err := os.MkdirTemp("", "mnntf") // short: the sockets live here
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	recv, err := sdnotify.Listen(filepath.Join(dir, "notify"))
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	notifier, err := sdnotify.New(recv.Socket())
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, fmt.Sprintf("group = \"home\"\nsecret = \"correct-horse-battery\"\nrendezvous = %q\nname = \"n\"\nstate = %q\nrelay-only = true\n", rdv, dir))

	logs := &syncBuf{}
	hup := make(chan os.Signal, 1)
	exit := make(chan int, 1)
	go func() {
		exit <- runEnv(context.Background(), []string{"meshnode", "up", "--config", cfg}, &env{stdout: io.Discard, stderr: logs,
			notify: notifier, watchHUP: func() (<-chan os.Signal, func()) { return hup, func() {} }})
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node log:\n%s", logs)
		}
	})
	expect := func(what string, keys ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		m, err := recv.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		for _, k := range keys {
			if _, ok := m.Get(k); !ok {
				t.Fatalf("%s: got %v, want %v", what, m, keys)
			}
		}
		if len(m) != len(keys) {
			t.Fatalf("%s: got %v, want only %v", what, m, keys)
		}
	}

	expect("READY at start", "READY")
	sock := filepath.Join(dir, "control.sock")
	// No waiting: READY=1 promises a control socket that answers.
	if _, err := client.New(sock).Status(context.Background()); err != nil {
		t.Fatalf("status right after READY=1: %v", err)
	}
	hup <- syscall.SIGHUP
	expect("RELOADING on SIGHUP", "RELOADING", "MONOTONIC_USEC")
	expect("READY after the SIGHUP reload", "READY")
	if code, out, errOut := runT(t, nil, "reload", "--control", sock); code != 0 {
		t.Fatalf("reload: %q %q", out, errOut)
	}
	expect("RELOADING on meshnode reload", "RELOADING", "MONOTONIC_USEC")
	expect("READY after meshnode reload", "READY")
	if code, out, errOut := runT(t, nil, "down", "--control", sock); code != 0 {
		t.Fatalf("down: %q %q", out, errOut)
	}
	expect("STOPPING on meshnode down", "STOPPING")
	if code := <-exit; code != 0 {
		t.Fatalf("up exited %d", code)
	}
}
