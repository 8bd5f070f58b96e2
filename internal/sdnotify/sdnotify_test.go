package sdnotify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func listen(t *testing.T, addr string) *Receiver {
	t.Helper()
	r, err := Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func next(t *testing.T, r *Receiver) Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := r.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestStates: each helper sends the assignment systemd expects, in one
// datagram; RELOADING=1 carries MONOTONIC_USEC from CLOCK_MONOTONIC.
func TestStates(t *testing.T) {
	r := listen(t, filepath.Join(t.TempDir(), "notify"))
	n, err := New(r.Socket())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Ready(); err != nil {
		t.Fatal(err)
	}
	if m := next(t, r); len(m) != 1 || !m.Has("READY", "1") {
		t.Errorf("Ready sent %v", m)
	}

	before, _ := monotonicUsec()
	if err := n.Reloading(); err != nil {
		t.Fatal(err)
	}
	after, _ := monotonicUsec()
	m := next(t, r)
	if len(m) != 2 || m[0] != (Assignment{"RELOADING", "1"}) || m[1].Key != "MONOTONIC_USEC" {
		t.Fatalf("Reloading sent %v", m)
	}
	usec, err := strconv.ParseInt(m[1].Value, 10, 64)
	if err != nil || usec < before || usec > after {
		t.Errorf("MONOTONIC_USEC=%s, want a number in [%d, %d]", m[1].Value, before, after)
	}

	if err := n.Stopping(); err != nil {
		t.Fatal(err)
	}
	if m := next(t, r); len(m) != 1 || !m.Has("STOPPING", "1") {
		t.Errorf("Stopping sent %v", m)
	}

	if err := n.Status("serving\non :7749"); err != nil {
		t.Fatal(err)
	}
	if m := next(t, r); len(m) != 1 || !m.Has("STATUS", "serving on :7749") {
		t.Errorf("Status sent %v (newlines must not start new assignments)", m)
	}
}

// TestAbstractSocket: "@name" reaches a socket in the abstract namespace,
// as systemd may hand out.
func TestAbstractSocket(t *testing.T) {
	b := make([]byte, 8)
	rand.Read(b)
	r := listen(t, "@meshnode-sdnotify-test-"+hex.EncodeToString(b))
	n, err := New(r.Socket())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Ready(); err != nil {
		t.Fatal(err)
	}
	if m := next(t, r); !m.Has("READY", "1") {
		t.Errorf("got %v", m)
	}
}

// TestNilNotifier: without a socket every call is a no-op.
func TestNilNotifier(t *testing.T) {
	n, err := New("")
	if err != nil || n != nil {
		t.Fatalf("New(\"\") = %v, %v; want nil, nil", n, err)
	}
	for _, f := range []func() error{n.Ready, n.Reloading, n.Stopping, func() error { return n.Status("x") }} {
		if err := f(); err != nil {
			t.Errorf("nil notifier: %v", err)
		}
	}
	if n.Enabled() || n.Socket() != "" {
		t.Error("a nil notifier says it is enabled")
	}
}

// TestBadSocket: a value that cannot be a notify socket is a clear error,
// and so is a socket nobody listens on.
func TestBadSocket(t *testing.T) {
	for _, s := range []string{"relative/notify", "@", "vsock:2:1234", "/" + strings.Repeat("x", 120)} {
		if _, err := New(s); err == nil || !strings.Contains(err.Error(), "NOTIFY_SOCKET") {
			t.Errorf("New(%q): err %v, want one naming NOTIFY_SOCKET", s, err)
		}
	}
	n, err := New(filepath.Join(t.TempDir(), "absent"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Ready(); err == nil {
		t.Error("Ready to a missing socket: no error")
	}
	if err := n.Send(""); err == nil {
		t.Error("an empty notification: no error")
	}
}

// TestFromEnv reads NOTIFY_SOCKET and unsets it, so children do not inherit it.
func TestFromEnv(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	t.Setenv(EnvSocket, sock)
	n, err := FromEnv()
	if err != nil || n.Socket() != sock {
		t.Fatalf("FromEnv = %v, %v", n, err)
	}
	if _, ok := os.LookupEnv(EnvSocket); ok {
		t.Error("NOTIFY_SOCKET is still set")
	}
	if n, err := FromEnv(); n != nil || err != nil {
		t.Errorf("FromEnv without the variable = %v, %v", n, err)
	}
	t.Setenv(EnvSocket, "not-absolute")
	if _, err := FromEnv(); err == nil {
		t.Error("FromEnv accepted a relative path")
	}
	if _, ok := os.LookupEnv(EnvSocket); ok {
		t.Error("a malformed NOTIFY_SOCKET is still set")
	}
}

func TestParseMessage(t *testing.T) {
	m, err := ParseMessage("READY=1\nSTATUS=a=b\n")
	if err != nil || len(m) != 2 || !m.Has("STATUS", "a=b") || m.String() != `READY=1\nSTATUS=a=b` {
		t.Errorf("got %v, %v", m, err)
	}
	if _, err := ParseMessage("READY"); err == nil {
		t.Error("a line without = parsed")
	}
}

// TestStoppingOnDone: STOPPING=1 goes out when the context ends, and wait
// returns only after it went; without an end, nothing is sent.
func TestStoppingOnDone(t *testing.T) {
	r := listen(t, filepath.Join(t.TempDir(), "notify"))
	n, _ := New(r.Socket())
	ctx, cancel := context.WithCancel(context.Background())
	wait := n.StoppingOnDone(ctx, func(err error) { t.Error(err) })
	cancel()
	wait()
	if m := next(t, r); !m.Has("STOPPING", "1") {
		t.Errorf("got %v", m)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	n.StoppingOnDone(ctx2, nil)()
	cancel2()
	n.Ready()
	if m := next(t, r); !m.Has("READY", "1") {
		t.Errorf("after wait without an end: got %v, want no STOPPING before READY", m)
	}
	var nilN *Notifier
	nilN.StoppingOnDone(ctx, nil)()
}
