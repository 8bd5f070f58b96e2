package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/meshnode/meshnode/internal/sdnotify"
)

// TestNotifies runs the rendezvous as systemd would (Type=notify): READY=1
// comes once the listeners accept, and a SIGHUP reload is bracketed by
// RELOADING=1 and READY=1. (STOPPING=1 is main's, on SIGTERM: the packaging
// test sees it from the installed binary.)
func TestNotifies(t *testing.T) {
	dir := t.TempDir()
	recv, err := sdnotify.Listen(filepath.Join(dir, "notify"))
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	n, err := sdnotify.New(recv.Socket())
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, dir, "listen = \"127.0.0.1:0\"\nstun = \"\"\n")
	hup := make(chan os.Signal, 1)
	expect := func(what, key string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		m, err := recv.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if !m.Has(key, "1") {
			t.Fatalf("%s: got %v", what, m)
		}
		if _, ok := m.Get("MONOTONIC_USEC"); key == "RELOADING" && !ok {
			t.Fatalf("%s: no MONOTONIC_USEC in %v", what, m)
		}
	}
	addr, _ := startWith(t, &env{hup: hup, notify: n}, "--config", cfg)
	expect("READY at start", "READY")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial after READY=1: %v", err)
	}
	c.Close()
	hup <- syscall.SIGHUP
	expect("RELOADING on SIGHUP", "RELOADING")
	expect("READY after the reload", "READY")
}
