package packaging

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshnode/meshnode/internal/sdnotify"
)

const testSecret = "installed-units-secret-42"

// runUnits starts a rendezvous (rendezvous.service), a node
// (meshnode.service) and a second node (meshnode@b.service, over the
// websocket plugin found in the installed plugin dir) from the units'
// ExecStart lines and the installed example configs, changed only where a
// test must: loopback ports, the group, the secret file, the rendezvous.
func runUnits(t *testing.T, s *scratch) {
	ports := freeTCPPorts(t, 2)
	stun := freeUDPPorts(t, 2)
	rdvAddr, wsAddr := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	secretFile := s.path("/etc/meshnode/installtest.secret")
	if err := os.WriteFile(secretFile, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	editConfig(t, s.path("/etc/meshnode/rendezvous.toml"), s.path("/etc/meshnode/rendezvous.toml"), map[string]string{
		"listen": strconv.Quote(rdvAddr), "ws-listen": strconv.Quote(wsAddr),
		"stun": strconv.Quote(fmt.Sprintf("127.0.0.1:%d", stun[0])), "stun2": strconv.Quote(fmt.Sprintf("127.0.0.1:%d", stun[1])),
		"metrics": `"127.0.0.1:0"`, "admin": `"127.0.0.1:0"`, "admin-key-file": strconv.Quote(s.path("/var/lib/meshnode-rdv/admin.key")),
	})
	node := map[string]string{"group": `"installtest"`, "rendezvous": strconv.Quote(rdvAddr), "secret-file": strconv.Quote(secretFile),
		"metrics": `"127.0.0.1:0"`}
	editConfig(t, s.path("/etc/meshnode/meshnode.toml"), s.path("/etc/meshnode/b.toml"), map[string]string{
		"group": node["group"], "secret-file": node["secret-file"], "metrics": `""`,
		"rendezvous": strconv.Quote(wsAddr), "transport": `"websocket"`, "name": `"b"`,
	})
	editConfig(t, s.path("/etc/meshnode/meshnode.toml"), s.path("/etc/meshnode/meshnode.toml"), node)

	rdv := s.start(t, "rdv", "rendezvous.service", "")
	rdv.expectRunning(t, "READY=1 once the listeners are up", "READY")
	a := s.start(t, "a", "meshnode.service", "")
	b := s.start(t, "b", "meshnode@.service", "b")
	a.expectRunning(t, "READY=1 once the control socket answers", "READY")
	b.expectRunning(t, "READY=1 once the control socket answers", "READY")

	aCtl, bCtl := s.path("/run/meshnode/control.sock"), s.path("/run/meshnode/b.sock")
	for _, sock := range []string{aCtl, bCtl} {
		if st, err := os.Stat(sock); err != nil || st.Mode()&os.ModeSocket == 0 {
			t.Fatalf("no control socket where the unit says: %v", err)
		}
	}
	waitUntil(t, "`meshnode status` of meshnode.service says connected", func() (bool, string) {
		out, _ := s.meshnode(t, "--control", aCtl, "status")
		return strings.Contains(out, "rdv       "+rdvAddr+": connected since"), out
	})
	waitUntil(t, "meshnode@b: connected over the websocket plugin, linked to the other node", func() (bool, string) {
		out, err := s.meshnode(t, "--control", bCtl, "status", "--json")
		var st struct {
			Transport  string `json:"transport"`
			PeersUp    int    `json:"peers_up"`
			Rendezvous struct {
				Connected bool `json:"connected"`
			} `json:"rendezvous"`
			Plugins []struct{ Kind, Name, State string } `json:"plugins"`
		}
		if err != nil || json.Unmarshal([]byte(out), &st) != nil {
			return false, out
		}
		plugin := slices.ContainsFunc(st.Plugins, func(p struct{ Kind, Name, State string }) bool {
			return p.Kind == "transport" && p.Name == "websocket" && p.State == "running"
		})
		return st.Rendezvous.Connected && st.Transport == "websocket" && plugin && st.PeersUp >= 1, out
	})

	// Monitoring as the example configs describe it: the admin key is created
	// in the unit's StateDirectory (the only place it may write), 0600.
	key, err := os.ReadFile(s.path("/var/lib/meshnode-rdv/admin.key"))
	if st, serr := os.Stat(s.path("/var/lib/meshnode-rdv/admin.key")); err != nil || serr != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin key in the rendezvous' StateDirectory: %v %v", err, serr)
	}
	adminAddr := regexp.MustCompile(`msg="rendezvous listening" .*\badmin=(\S+)`).FindStringSubmatch(rdv.out.String())
	nodeMetrics := regexp.MustCompile(`msg="metrics listening" addr=(\S+)`).FindStringSubmatch(a.out.String())
	if adminAddr == nil || nodeMetrics == nil {
		t.Fatalf("no admin address in the rendezvous' start line, or no metrics line of the node:\n%s\n%s", rdv.out, a.out)
	}
	for _, c := range []struct{ url, key, want string }{
		{"http://" + adminAddr[1] + "/api/v1/nodes", strings.TrimSpace(string(key)), `"nodes"`},
		{"http://" + adminAddr[1] + "/metrics", strings.TrimSpace(string(key)), "rendezvous_nodes 2"},
		{"http://" + nodeMetrics[1] + "/metrics", "", "meshnode_rendezvous_connected 1"},
	} {
		req, _ := http.NewRequest(http.MethodGet, c.url, nil)
		if c.key != "" {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), c.want) {
			t.Errorf("GET %s: %d, want 200 with %q:\n%s", c.url, resp.StatusCode, c.want, body)
		}
	}

	// systemctl reload: the units' own ExecReload line.
	for _, d := range []*daemon{a, rdv} {
		d.execReload(t)
		d.expectRunning(t, "RELOADING=1 on ExecReload", "RELOADING", "MONOTONIC_USEC")
		d.expectRunning(t, "READY=1 after the reload", "READY")
	}

	if out, err := s.meshnode(t, "--control", aCtl, "down"); err != nil {
		t.Fatalf("meshnode down: %v\n%s", err, out)
	}
	a.expectExit(t, "STOPPING=1 on meshnode down")
	for _, d := range []*daemon{b, rdv} {
		d.cmd.Process.Signal(syscall.SIGTERM)
		d.expectExit(t, "STOPPING=1 on SIGTERM")
	}
	for _, d := range []*daemon{rdv, a, b} {
		if strings.Contains(d.out.String(), testSecret) {
			t.Errorf("%s logged the group secret:\n%s", d.name, d.out)
		}
	}
}

// offLoopback are keys a config may set for a public machine that a test on
// loopback turns off: a loopback rendezvous admits nodes without auth keys.
var offLoopback = []string{"auth-keys", "auth-key-file"}

// editConfig writes src's text to dst with keys set to TOML values: an
// active line is replaced, else a commented-out one is switched on, else
// the key goes first (top level). The keys of offLoopback are commented out.
func editConfig(t *testing.T, src, dst string, keys map[string]string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, k := range offLoopback {
		text = regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(k)+`\s*=`).ReplaceAllString(text, "# $0")
	}
	for k, v := range keys {
		line := k + " = " + v
		active := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(k) + `\s*=.*$`)
		commented := regexp.MustCompile(`(?m)^#\s*` + regexp.QuoteMeta(k) + `\s*=.*$`)
		switch {
		case active.MatchString(text):
			text = active.ReplaceAllLiteralString(text, line)
		case commented.MatchString(text):
			text = commented.ReplaceAllLiteralString(text, line)
		default:
			text = line + "\n" + text
		}
	}
	if err := os.WriteFile(dst, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// meshnode runs the installed meshnode CLI.
func (s *scratch) meshnode(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.path("/usr/local/bin/meshnode"), args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + s.dir}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// daemon is a process started from a unit's ExecStart line.
type daemon struct {
	name   string
	unit   *unit
	cmd    *exec.Cmd
	out    *syncBuf
	notify *sdnotify.Receiver
	done   chan struct{}
	err    error
}

// start runs unitFile's ExecStart (instance: the %i of a template) as systemd
// would: its State/Runtime/ConfigurationDirectory made first, a clean
// environment, NOTIFY_SOCKET set. Paths of the installed layout are mapped
// into the scratch root. The process dies with the test.
func (s *scratch) start(t *testing.T, name, unitFile, instance string) *daemon {
	t.Helper()
	u, err := readUnit(s.path("/usr/local/lib/systemd/system/" + unitFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct{ key, base string }{
		{"StateDirectory", "/var/lib"}, {"RuntimeDirectory", "/run"}, {"ConfigurationDirectory", "/etc"},
	} {
		mode := os.FileMode(0o755)
		if m := u.get("Service", d.key+"Mode"); m != "" {
			n, err := strconv.ParseUint(m, 8, 32)
			if err != nil {
				t.Fatalf("%s: %sMode=%s: %v", unitFile, d.key, m, err)
			}
			mode = os.FileMode(n)
		}
		for _, f := range strings.Fields(u.get("Service", d.key)) {
			rel, err := specifiers(f, instance)
			if err != nil {
				t.Fatalf("%s: %s: %v", unitFile, d.key, err)
			}
			p := s.path(filepath.Join(d.base, rel))
			if err := os.MkdirAll(p, mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, mode)
		}
	}
	line, err := specifiers(u.get("Service", "ExecStart"), instance)
	if err != nil {
		t.Fatalf("%s: ExecStart: %v", unitFile, err)
	}
	args, err := commandLine(line, nil)
	if err != nil {
		t.Fatalf("%s: ExecStart: %v", unitFile, err)
	}
	for i, a := range args {
		args[i] = s.mapPath(a)
	}
	recv, err := sdnotify.Listen(filepath.Join(s.dir, name+".notify"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(s.dir, name+".tmp") // PrivateTmp=yes
	os.MkdirAll(tmp, 0o700)
	d := &daemon{name: name, unit: u, out: &syncBuf{}, notify: recv, done: make(chan struct{})}
	d.cmd = exec.Command(args[0], args[1:]...)
	d.cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + s.dir, "TMPDIR=" + tmp, "NOTIFY_SOCKET=" + recv.Socket()}
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	t.Logf("%s: %s", unitFile, strings.Join(args, " "))
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", unitFile, err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
			<-d.done
		}
		recv.Close()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, d.out)
		}
	})
	return d
}

// mapPath moves an absolute path of the installed layout into the scratch root.
func (s *scratch) mapPath(p string) string {
	for _, prefix := range []string{"/usr/local/", "/etc/meshnode", "/var/lib/meshnode", "/run/meshnode"} {
		if strings.HasPrefix(p, prefix) {
			return s.path(p)
		}
	}
	return p
}

// expectRunning waits for the next notification, which must assign exactly
// keys; the process exiting first fails the test at once.
func (d *daemon) expectRunning(t *testing.T, what string, keys ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	go func() {
		select {
		case <-d.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	d.check(t, what, ctx, keys)
}

// expectExit waits for STOPPING=1 and then for a clean exit.
func (d *daemon) expectExit(t *testing.T, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	d.check(t, what, ctx, []string{"STOPPING"})
	select {
	case <-d.done:
		if d.err != nil {
			t.Fatalf("%s: exit: %v", d.name, d.err)
		}
	case <-ctx.Done():
		t.Fatalf("%s: still running after STOPPING=1", d.name)
	}
}

func (d *daemon) check(t *testing.T, what string, ctx context.Context, keys []string) {
	t.Helper()
	m, err := d.notify.Next(ctx)
	if err != nil {
		select {
		case <-d.done:
			t.Fatalf("%s: %s: exited first (%v)", d.name, what, d.err)
		default:
		}
		t.Fatalf("%s: %s: %v", d.name, what, err)
	}
	var got []string
	for _, a := range m {
		got = append(got, a.Key)
	}
	if !slices.Equal(got, keys) || m[0].Value != "1" {
		t.Fatalf("%s: %s: got %v, want %v", d.name, what, m, keys)
	}
}

// execReload runs the unit's ExecReload line with $MAINPID, as
// `systemctl reload` does.
func (d *daemon) execReload(t *testing.T) {
	t.Helper()
	args, err := commandLine(d.unit.get("Service", "ExecReload"), map[string]string{"MAINPID": strconv.Itoa(d.cmd.Process.Pid)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(args[0]); err != nil {
		t.Logf("%s is missing here; sending SIGHUP directly", args[0])
		d.cmd.Process.Signal(syscall.SIGHUP)
		return
	}
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("ExecReload %v: %v\n%s", args, err, out)
	}
}

// waitUntil polls f until it holds; on giving up it shows f's last output.
func waitUntil(t *testing.T, what string, f func() (bool, string)) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		ok, out := f()
		if ok {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("gave up waiting: %s; last:\n%s", what, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freeTCPPorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

func freeUDPPorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var pcs []net.PacketConn
	for range n {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		pcs = append(pcs, pc)
		ports = append(ports, pc.LocalAddr().(*net.UDPAddr).Port)
	}
	for _, pc := range pcs {
		pc.Close()
	}
	return ports
}

// syncBuf is a goroutine-safe output sink.
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
