package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshnode/meshnode/internal/meshproc"
	"github.com/meshnode/meshnode/pkg/control/api"
)

// authKeyFiles writes a rendezvous keys file with one new key per entry of
// fields, and a node key file for each (meshproc.WriteAuthKeys).
func authKeyFiles(t *testing.T, fields ...string) (keysFile string, nodeFiles []string) {
	t.Helper()
	keysFile, nodeFiles, err := meshproc.WriteAuthKeys(t.TempDir(), fields...)
	if err != nil {
		t.Fatal(err)
	}
	return keysFile, nodeFiles
}

// TestAuthKeysEndToEnd: a rendezvous with auth keys relays for nodes with a
// valid key, and refuses the others with the reason in their status and one log
// line each, relaying zero bytes for them (its own counters say so).
func TestAuthKeysEndToEnd(t *testing.T) {
	keys, nodeKeys := authKeyFiles(t,
		"label=alpha",
		"label=beta groups=testgroup",
		"label=old expires=2020-01-01",
		"label=elsewhere groups=office")
	r := startRendezvous(t, "", "--auth-keys", keys)
	echo := startEcho(t)
	a := startNode(t, r, nodeOpts{Name: "alpha", Serve: []string{"700=" + echo.addr()}, Extra: []string{"--auth-key-file", nodeKeys[0], "--relay-only"}})
	b := startNode(t, r, nodeOpts{Name: "beta", Extra: []string{"--auth-key-file", nodeKeys[1], "--relay-only"}})
	listen := mapService(t, b, "700")
	if err := echoRoundTrip(listen, 1<<20, 3, time.Minute); err != nil {
		t.Fatal(err)
	}
	waitLog(t, r.Proc, regexp.MustCompile(`msg="node joined".* auth=alpha`), 5*time.Second)

	// The refused ones, on a rendezvous of their own, so its counters count
	// only them.
	r2 := startRendezvous(t, "", "--auth-keys", keys)
	for _, tc := range []struct {
		name  string
		extra []string
		why   string
	}{
		{"nokey", nil, "no auth key"},
		{"expired", []string{"--auth-key-file", nodeKeys[2]}, "auth key expired at 2020-01-01T00:00:00Z"},
		{"othergroup", []string{"--auth-key-file", nodeKeys[3]}, "auth key not valid for this group"},
	} {
		n := startNode(t, r2, nodeOpts{Name: tc.name, Extra: append(tc.extra, "--relay-only")})
		lines := waitLog(t, n.Proc, regexp.MustCompile(`msg="the rendezvous refused this node".*`), 10*time.Second)
		if !strings.Contains(lines[0], tc.why) {
			t.Errorf("%s: refusal %q does not say %q", tc.name, lines[0], tc.why)
		}
		waitUntil(t, 10*time.Second, func() error {
			out, err := cli(n, "status")
			if err != nil || !strings.Contains(out, "disconnected (the rendezvous refused this node: ") || !strings.Contains(out, tc.why) ||
				!strings.Contains(out, "refused (") {
				return fmt.Errorf("%s status: %v\n%s", tc.name, err, out)
			}
			return nil
		})
	}
	r2.Cmd.Process.Signal(syscall.SIGTERM)
	lines := waitLog(t, r2.Proc, regexp.MustCompile(`msg="rendezvous stopped".*`), 10*time.Second)
	if !strings.Contains(lines[0], "relayed_frames=0 relayed_bytes=0") || !regexp.MustCompile(`rejected_auth=[1-9]`).MatchString(lines[0]) {
		t.Fatalf("the refused nodes got something relayed, or no refusal was counted: %s", lines[0])
	}
	for _, f := range nodeKeys {
		k, _ := os.ReadFile(f)
		for _, p := range []*meshproc.Proc{r.Proc, r2.Proc, a.Proc, b.Proc} {
			if strings.Contains(p.Out.String(), strings.TrimSpace(string(k))) {
				t.Fatalf("%s's output shows an auth key", p.Name)
			}
		}
	}
}

// TestOutsidersLearnNothing: what the rendezvous logs and what crosses the wire
// between nodes and rendezvous holds no node name, service name or service
// address; a node with a valid rendezvous key but the wrong group secret sees no
// member, service or event of the group, and the members' view is unaffected.
func TestOutsidersLearnNothing(t *testing.T) {
	keys, nodeKeys := authKeyFiles(t, "label=site")
	r := startRendezvous(t, "", "--auth-keys", keys)
	tap := startTap(t, r.Addr)
	echo := startEcho(t)
	auth := []string{"--auth-key-file", nodeKeys[0], "--relay-only"}
	a := startNodeAt(t, tap.addr(), nodeOpts{Name: "alpha-hidden-name", Serve: []string{"700=" + echo.addr() + ",name=svc-hidden-name,info=hidden-info"}, Extra: auth})
	b := startNodeAt(t, tap.addr(), nodeOpts{Name: "beta-hidden-name", Extra: auth})
	m := startNodeAt(t, tap.addr(), nodeOpts{Name: "mallory", Secret: "not-the-group-secret", Extra: auth})
	events := make(chan api.Event, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Ctl.Events(ctx, func(e api.Event) error { events <- e; return nil })

	listen := mapService(t, b, "svc-hidden-name@alpha-hidden-name")
	if err := echoRoundTrip(listen, 256<<10, 5, time.Minute); err != nil {
		t.Fatal(err)
	}
	waitLog(t, m.Proc, regexp.MustCompile(`with a different group secret`), 10*time.Second)

	peers, err := m.Ctl.Peers(context.Background())
	if err != nil || len(peers) != 0 {
		t.Fatalf("mallory's peers: %+v %v", peers, err)
	}
	svcs, err := m.Ctl.Services(context.Background())
	if err != nil || len(svcs) != 0 {
		t.Fatalf("mallory's services: %+v %v", svcs, err)
	}
	select {
	case e := <-events:
		t.Fatalf("mallory got an event: %+v", e)
	default:
	}
	// The members see each other by name, and not mallory.
	ps, err := b.Ctl.Peers(context.Background())
	if err != nil || len(ps) != 1 || ps[0].Name != "alpha-hidden-name" {
		t.Fatalf("beta's peers: %+v %v", ps, err)
	}
	out, err := cli(b, "ping", "alpha-hidden-name", "--count", "1")
	if err != nil {
		t.Fatalf("ping by name: %v\n%s", err, out)
	}

	secrets := []string{"alpha-hidden-name", "beta-hidden-name", "svc-hidden-name", "hidden-info", echo.addr()}
	if st, err := a.Ctl.Status(context.Background()); err != nil || st.Name != "alpha-hidden-name" {
		t.Fatalf("alpha's status: %+v %v", st, err)
	}
	for _, s := range secrets {
		if strings.Contains(r.Out.String(), s) {
			t.Errorf("the rendezvous' log shows %q", s)
		}
		if bytes.Contains(tap.bytes(), []byte(s)) {
			t.Errorf("the wire to the rendezvous carries %q in clear", s)
		}
	}
	if n := len(tap.bytes()); n < 256<<10 {
		t.Fatalf("the tap saw only %d bytes", n)
	}
}

// tap is a TCP proxy that records every byte both ways.
type tap struct {
	ln net.Listener
	mu sync.Mutex
	b  bytes.Buffer
	wg sync.WaitGroup
}

func startTap(t *testing.T, target string) *tap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{ln: ln}
	tp.wg.Add(1)
	go func() {
		defer tp.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			tp.wg.Add(2)
			go tp.pipe(c, s)
			go tp.pipe(s, c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return tp
}

func (tp *tap) addr() string { return tp.ln.Addr().String() }

func (tp *tap) pipe(dst, src net.Conn) {
	defer tp.wg.Done()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			tp.mu.Lock()
			tp.b.Write(buf[:n])
			tp.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				src.Close()
			}
			return
		}
	}
}

func (tp *tap) bytes() []byte {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return bytes.Clone(tp.b.Bytes())
}
