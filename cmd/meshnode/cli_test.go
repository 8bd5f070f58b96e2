package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/control"
	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/ice"
	"github.com/meshnode/meshnode/pkg/identity"
)

// stubNode is a control.Backend (and Lifecycle) that records what the verbs ask.
type stubNode struct {
	mu    sync.Mutex
	calls []string
	id    string
	down  chan struct{}
}

func (s *stubNode) note(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, fmt.Sprintf(format, args...))
}

func (s *stubNode) Status() api.StatusInfo {
	return api.StatusInfo{ID: s.id, Name: "n1", Group: "g",
		Services: []api.LocalService{{Service: api.Service{ID: 700, Name: "ssh", Proto: "tcp", Target: "127.0.0.1:22"}, Origin: "file", Ref: "[serve.ssh]"}},
		Mappings: []api.MappingInfo{{MappingRequest: api.MappingRequest{Target: "700", Port: 2222, Bind: "127.0.0.1"}, Origin: "live", Listen: "127.0.0.1:2222"}}}
}
func (s *stubNode) Peers() []api.PeerInfo        { return nil }
func (s *stubNode) Services() []api.CatalogEntry { return nil }
func (s *stubNode) Mappings() []api.MappingInfo  { return nil }
func (s *stubNode) AddMapping(_ context.Context, r api.MappingRequest) (api.MappingInfo, error) {
	s.note("map %s %d %s", r.Target, r.Port, r.Bind)
	return api.MappingInfo{MappingRequest: r, Listen: fmt.Sprintf("%s:%d", r.Bind, r.Port)}, nil
}
func (s *stubNode) RemoveMapping(port int) error { s.note("unmap %d", port); return nil }
func (s *stubNode) LocalServices() []api.Service { return nil }
func (s *stubNode) AddService(svc api.Service, persist bool) (api.Service, error) {
	s.note("serve %d %s name=%s info=%s proto=%s", svc.ID, svc.Target, svc.Name, svc.Info, svc.Proto)
	return svc, nil
}
func (s *stubNode) RemoveService(id api.ServeID) error { s.note("serve rm %d", id); return nil }
func (s *stubNode) Ping(_ context.Context, peer string, count int, interval, timeout time.Duration) (api.PingResult, error) {
	s.note("ping %s %d %v", peer, count, interval)
	return api.PingResult{Name: peer, Path: api.PathDirect, RTTs: make([]float64, count)}, nil
}
func (s *stubNode) Netcheck(context.Context) (ice.Report, error) { return ice.Report{}, nil }
func (s *stubNode) Subscribe() (<-chan api.Event, func(), bool) {
	return nil, nil, false
}
func (s *stubNode) Reload(context.Context) (api.ReloadResult, error) {
	s.note("reload")
	return api.ReloadResult{File: "f.toml", Changed: []string{"log-level: \"info\" -> \"debug\""}, Restart: []string{"group"}}, nil
}
func (s *stubNode) Down() { s.note("down"); close(s.down) }
func (s *stubNode) ConfigInfo() *api.ConfigInfo {
	return &api.ConfigInfo{File: "f.toml", LogLevel: "info"}
}

// serveStub serves a stubNode's control API until the test ends (or down).
func serveStub(t *testing.T) (*stubNode, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "mncli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "c.sock")
	ln, err := control.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	s := &stubNode{id: "stub-node-id", down: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- control.NewServer(s, nil).WithLifecycle(s).Serve(ctx, ln) }()
	go func() { <-s.down; time.Sleep(100 * time.Millisecond); cancel() }()
	t.Cleanup(func() { cancel(); <-done })
	return s, sock
}

// runT runs the command in-process with e (default: empty environment).
func runT(t *testing.T, e *env, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, er bytes.Buffer
	if e == nil {
		e = &env{}
	}
	e.stdout, e.stderr = &o, &er
	code = runEnv(context.Background(), append([]string{"meshnode"}, args...), e)
	return code, o.String(), er.String()
}

// TestVerbsTakeFlagsAnywhere: the forms people type reach the node intact.
func TestVerbsTakeFlagsAnywhere(t *testing.T) {
	s, sock := serveStub(t)
	for _, tc := range []struct {
		args []string
		call string // what the node was asked
		out  string // in stdout
	}{
		{[]string{"map", "700", "2222", "--bind", "0.0.0.0", "--control", sock}, "map 700 2222 0.0.0.0", "mapped 0.0.0.0:2222"},
		{[]string{"--control", sock, "map", "ssh@home", "2223"}, "map ssh@home 2223 127.0.0.1", "mapped 127.0.0.1:2223"},
		{[]string{"serve", "add", "710", "127.0.0.1:22", "--name", "web", "--control=" + sock}, "serve 710 127.0.0.1:22 name=web info= proto=tcp", "as serveid 710"},
		{[]string{"serve", "add", "--proto", "udp", "0", "127.0.0.1:53", "--info", "dns", "--control", sock}, "serve 0 127.0.0.1:53 name= info=dns proto=udp", ""},
		{[]string{"ping", "home", "--count", "3", "--control", sock}, "ping home 3 200ms", "3/3 answered"},
		{[]string{"unmap", "2222", "--control", sock}, "unmap 2222", "unmapped port 2222"},
		{[]string{"serve", "rm", "710", "--control", sock}, "serve rm 710", "stopped serving serveid 710"},
		{[]string{"reload", "--control", sock}, "reload", "restart needed: group"},
		{[]string{"--json", "status", "--control", sock}, "", `"ref": "[serve.ssh]"`},
		{[]string{"status", "--control", sock}, "", "file [serve.ssh]"},
		{[]string{"serve", "ls", "--control", sock}, "", "file [serve.ssh]"},
		{[]string{"id", "--control", sock}, "", "stub-node-id"},
	} {
		s.mu.Lock()
		s.calls = nil
		s.mu.Unlock()
		code, out, errOut := runT(t, nil, tc.args...)
		s.mu.Lock()
		calls := strings.Join(s.calls, "|")
		s.mu.Unlock()
		if code != 0 || calls != tc.call || !strings.Contains(out, tc.out) {
			t.Errorf("meshnode %q: exit %d, node asked %q (want %q), stdout %q (want %q), stderr %q", tc.args, code, calls, tc.call, out, tc.out, errOut)
		}
	}
	// down returns once the node is gone.
	code, out, errOut := runT(t, nil, "down", "--control", sock)
	if code != 0 || !strings.Contains(out, "node stopped") {
		t.Fatalf("down: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := runT(t, nil, "status", "--control", sock); code == 0 || !strings.Contains(errOut, "cannot reach the node's control socket") {
		t.Fatalf("status after down: %d %q", code, errOut)
	}
}

// TestArgumentErrors: wrong counts, unknown verbs and flags say what is wrong.
func TestArgumentErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"map", "700"}, "map wants SERVICE LOCALPORT, got 1 argument"},
		{[]string{"map", "700", "1", "2"}, `map wants SERVICE LOCALPORT, got 3 arguments: "2" is one too many`},
		{[]string{"status", "now"}, `status takes no arguments, got ["now"]`},
		{[]string{"serve", "add", "1"}, "serve add wants SERVEID HOST:PORT, got 1 argument"},
		{[]string{"serve", "ls", "x"}, `serve ls takes no arguments`},
		{[]string{"up", "extra"}, `up takes no arguments, got ["extra"]`},
		{[]string{"fly"}, `unknown verb "fly"; verbs: up, down, reload, map, unmap, status, peers, services, serve, ping, netcheck, events, id, version`},
		{[]string{"map", "700", "1", "--nope"}, "flag provided but not defined: -nope (see 'meshnode map --help')"},
		{[]string{"ping", "x", "--count", "many"}, `invalid value "many" for flag -count`},
		{[]string{"unmap", "--json", "1"}, "--json: 'meshnode unmap' prints no JSON"},
	} {
		code, _, errOut := runT(t, nil, tc.args...)
		if code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("meshnode %q: exit %d, stderr %q; want %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestIDWithoutNode: with no node on --control, id reads the key file.
func TestIDWithoutNode(t *testing.T) {
	dir := t.TempDir()
	k, _, err := identity.LoadOrCreate(filepath.Join(dir, "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runT(t, nil, "id", "--state", dir)
	if code != 0 || strings.TrimSpace(out) != k.Public().String() {
		t.Fatalf("id: %d %q %q", code, out, errOut)
	}
	code, _, errOut = runT(t, nil, "id", "--state", filepath.Join(dir, "none"))
	if code == 0 || !strings.Contains(errOut, "no node answers on") {
		t.Fatalf("id without key: %d %q", code, errOut)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out bytes.Buffer
		code := run(context.Background(), append([]string{"meshnode"}, args...), &out, io.Discard)
		if code != 0 || out.String() != "meshnode version "+version+"\n" {
			t.Errorf("%q: %d %q", args, code, out.String())
		}
	}
}
