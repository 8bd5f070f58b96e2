package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshnode/meshnode/internal/meshproc"
	"github.com/meshnode/meshnode/pkg/control/api"
)

// Plugins: the reference cipher (meshnode-cipher-aesgcm) and transport
// (meshnode-transport-websocket) run as real plugin processes beside the
// nodes; the rendezvous takes WebSockets natively.

func pluginOf(t *testing.T, n *meshproc.Node, kind api.PluginKind) api.PluginStatus {
	t.Helper()
	st, err := n.Ctl.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Plugins {
		if p.Kind == kind {
			return p
		}
	}
	t.Fatalf("%s has no %s plugin: %+v", n.Name, kind, st.Plugins)
	return api.PluginStatus{}
}

func waitPluginRestarted(t *testing.T, n *meshproc.Node, kind api.PluginKind, oldPID int) {
	t.Helper()
	waitUntil(t, 30*time.Second, func() error {
		p := pluginOf(t, n, kind)
		if p.State != api.PluginRunning || p.PID == oldPID || p.Restarts < 1 {
			return fmt.Errorf("%s's %s plugin: %+v", n.Name, kind, p)
		}
		return nil
	})
}

// TestPluginsEndToEnd: two nodes using the external cipher and the WebSocket
// transport (relayed, so every byte crosses both plugins' choices) move 64 MiB
// intact; killing either plugin mid-transfer is reported, the plugin comes
// back, and new connections work.
func TestPluginsEndToEnd(t *testing.T) {
	r := startRendezvous(t, "", "--ws-listen", "127.0.0.1:0")
	if r.WSAddr == "" {
		t.Fatalf("rendezvous printed no ws= address:\n%s", r.Out.String())
	}
	echo := startEcho(t)
	flags := []string{"--cipher", "aesgcm", "--transport", "websocket", "--relay-only"}
	a := startNodeAt(t, r.WSAddr, nodeOpts{Name: "alpha", Serve: []string{"700=" + echo.addr()}, Extra: flags})
	b := startNodeAt(t, r.WSAddr, nodeOpts{Name: "beta", Extra: flags})
	listen := mapService(t, b, "700")
	if err := echoRoundTrip(listen, 64<<20, 11, 3*time.Minute); err != nil {
		t.Fatalf("64 MiB over plugins: %v", err)
	}
	st, err := b.Ctl.Status(context.Background())
	if err != nil || st.Cipher != "noise-ikpsk2-aesgcm-sha512" || st.Transport != "websocket" || len(st.Plugins) != 2 {
		t.Fatalf("status of beta: %+v %v", st, err)
	}
	out, err := cli(b, "status")
	if err != nil || !regexp.MustCompile(`cipher\s+aesgcm\s+\S+\s+running`).MatchString(out) ||
		!regexp.MustCompile(`transport\s+websocket\s+\S+\s+running`).MatchString(out) {
		t.Errorf("meshnode status: %v\n%s", err, out)
	}
	if !strings.Contains(r.Out.String(), "node="+st.ID[:10]) {
		t.Errorf("the rendezvous never saw beta join")
	}

	// Kill beta's transport plugin while a transfer runs.
	ws := pluginOf(t, b, "transport")
	done := make(chan error, 1)
	go func() { done <- echoRoundTrip(listen, 16<<20, 12, 2*time.Minute) }()
	time.Sleep(100 * time.Millisecond)
	syscall.Kill(ws.PID, syscall.SIGKILL)
	waitLog(t, b.Proc, regexp.MustCompile(`msg="plugin failed; restarting" plugin=transport/websocket`), 15*time.Second)
	waitPluginRestarted(t, b, "transport", ws.PID)
	if err := <-done; err != nil {
		t.Logf("the transfer running when the transport died: %v", err) // may fail: its relay connection broke
	}
	waitUntil(t, 30*time.Second, func() error { return echoRoundTrip(listen, 1<<20, 13, 20*time.Second) })

	// Kill alpha's cipher plugin: established sessions keep their keys; the
	// plugin comes back and every link re-handshakes with it.
	ci := pluginOf(t, a, "cipher")
	syscall.Kill(ci.PID, syscall.SIGKILL)
	waitLog(t, a.Proc, regexp.MustCompile(`msg="plugin failed; restarting" plugin=cipher/aesgcm`), 15*time.Second)
	waitPluginRestarted(t, a, "cipher", ci.PID)
	waitLog(t, a.Proc, regexp.MustCompile(`msg="re-handshaking every link"`), 10*time.Second)
	if err := echoRoundTrip(listen, 4<<20, 14, time.Minute); err != nil {
		t.Fatalf("after the cipher plugin restarted: %v", err)
	}
}

// TestCipherMismatch: a node with the plugin suite and one with the built-in
// refuse each other, and both say which suites differ.
func TestCipherMismatch(t *testing.T) {
	r := startRendezvous(t, "")
	a := startNode(t, r, nodeOpts{Name: "alpha", Extra: []string{"--cipher", "aesgcm", "--metrics", "127.0.0.1:0"}})
	b := startNode(t, r, nodeOpts{Name: "beta", Extra: []string{"--metrics", "127.0.0.1:0"}})
	want := `uses \\?"noise-ikpsk2-[a-z0-9-]+\\?", this node uses \\?"noise-ikpsk2-[a-z0-9-]+\\?"`
	waitLog(t, a.Proc, regexp.MustCompile(want), 20*time.Second)
	waitLog(t, b.Proc, regexp.MustCompile(want), 20*time.Second)
	// Both count it, by reason, in their metrics.
	for _, n := range []*meshproc.Node{a, b} {
		url := "http://" + waitLog(t, n.Proc, nodeMetricsRE, 5*time.Second)[1] + "/metrics"
		_, fams := scrapeFamilies(t, url, "")
		if v := metricValue(fams, "meshnode_handshakes_failed_total", "reason", "suite_mismatch"); v < 1 {
			t.Errorf("%s counted %v suite mismatches", n.Name, v)
		}
	}
	out, err := runCLI("--state", t.TempDir(), "up", "--group", "g", "--rendezvous", r.Addr, "--secret", "long-enough-secret", "--cipher", "nope")
	if err == nil || !strings.Contains(out, `cipher plugin "nope" not found: no meshnode-cipher-nope in`) {
		t.Errorf("up --cipher nope: %v\n%s", err, out)
	}
}
