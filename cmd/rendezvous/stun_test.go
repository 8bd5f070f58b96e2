package main

import (
	"context"
	"io"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun"

	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/relay"
	"github.com/meshnode/meshnode/pkg/transport"
)

var stunRE = regexp.MustCompile(`msg="rendezvous listening" addr=\S+ .*stun=(\S+) stun2=(\S+)`)

// stunQuery asks the STUN server at addr for our mapped address from a fresh socket.
func stunQuery(t *testing.T, addr string) (mapped, local string) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	req := stun.MustBuild(stun.BindingRequest, stun.TransactionID)
	buf := make([]byte, 1500)
	for try := 0; try < 5; try++ {
		c.WriteTo(req.Raw, srv)
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			continue
		}
		m := &stun.Message{Raw: buf[:n]}
		var xa stun.XORMappedAddress
		if err := m.Decode(); err != nil || xa.GetFrom(m) != nil {
			t.Fatalf("bad answer from %s: %v", addr, err)
		}
		return xa.String(), c.LocalAddr().String()
	}
	t.Fatalf("no STUN answer from %s", addr)
	return "", ""
}

func TestSTUN(t *testing.T) {
	addr, logs, stop := startInProcess(t, "--listen", "127.0.0.1:0", "--stun", "127.0.0.1:0", "--stun2", "127.0.0.1:0")
	m := stunRE.FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("listening line lacks stun addresses:\n%s", logs)
	}
	for _, a := range m[1:] {
		if mapped, local := stunQuery(t, a); mapped != local {
			t.Fatalf("STUN %s says we are %s; we are %s", a, mapped, local)
		}
	}

	// Nodes learn both ports from the relay protocol.
	key, _ := identity.GeneratePrivateKey()
	c, err := relay.NewClient(relay.ClientConfig{Addr: addr, Group: homeGroup(), Key: key})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for len(c.STUNServers()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := c.STUNServers(); !slices.Equal(got, m[1:]) {
		t.Fatalf("client learned STUN servers %v, want %v", got, m[1:])
	}
	cancel()
	wg.Wait()
	if code := stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(logs.String(), "stun_answered=2") {
		t.Fatalf("stop line lacks the STUN counters:\n%s", logs)
	}
}

func TestSTUNOff(t *testing.T) {
	addr, logs, stop := startInProcess(t, "--listen", "127.0.0.1:0", "--stun", "")
	relayPair(t, addr, transport.TCP())
	stop()
	if !strings.Contains(logs.String(), "stun=off") || strings.Contains(logs.String(), "stun2=") {
		t.Fatalf("want stun=off and no stun2:\n%s", logs)
	}
}

// TestSTUNPortTaken: a taken default port is a warning, an explicit one an error.
func TestSTUNPortTaken(t *testing.T) {
	busy, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var stderr strings.Builder
	code := run(context.Background(), []string{"rendezvous", "--listen", "127.0.0.1:0", "--stun", busy.LocalAddr().String()}, io.Discard, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "--stun "+busy.LocalAddr().String()+": listen udp") {
		t.Fatalf("explicit busy --stun: exit %d, %q", code, stderr.String())
	}

	cfg := config{stun: busy.LocalAddr().String(), stun2: "127.0.0.1:0"}
	lb := &syncBuf{}
	conns, err := listenSTUN(cfg, newLogger(lb, cfg))
	if err != nil || len(conns) != 0 || !strings.Contains(lb.String(), "STUN port unavailable; running without it") {
		t.Fatalf("default busy port: %v %v %q", conns, err, lb)
	}
}
