package lab_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshnode/meshnode/testbed/lab"
	"github.com/meshnode/meshnode/testbed/labtest"
)

const mini = "testdata/mini.clab.yml"

// childEnv makes the test binary a lab owner that is killed by its parent.
const childEnv = "LAB_TEST_CRASH_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		crashChild()
		return
	}
	os.Exit(labtest.Main(m))
}

// crashChild brings a lab up, reports its id and waits to be killed.
func crashChild() {
	l, err := lab.Up(context.Background(), mini, lab.Options{})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("UP", l.ID())
	time.Sleep(time.Minute)
	os.Exit(1)
}

func netnsOf(id string) []string {
	ents, _ := os.ReadDir(lab.NetnsDir)
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), lab.NetnsPrefix+id+"-") {
			out = append(out, e.Name())
		}
	}
	return out
}

func hostLinks(t *testing.T) string {
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			names = append(names, strings.TrimSuffix(f[1], ":"))
		}
	}
	return strings.Join(names, " ")
}

func TestLabLifecycle(t *testing.T) {
	labtest.RequireRoot(t)
	out := filepath.Join(t.TempDir(), "greeting")
	linksBefore := hostLinks(t)
	ctx := context.Background()
	l, err := lab.Up(ctx, mini, lab.Options{Env: map[string]string{"OUT": out, "WHO": "lab"}, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Down() })
	id := l.ID()

	// Variables: ${WHO:=world} from Options.Env, $$GREETING from the node's env
	// through sh, sysctls applied before exec lines.
	if b, err := os.ReadFile(out); err != nil || strings.TrimSpace(string(b)) != "hello lab 1" {
		t.Errorf("exec line wrote %q (%v), want \"hello lab 1\"", b, err)
	}
	if got := netnsOf(id); len(got) != 3 {
		t.Errorf("namespaces of lab %s: %v, want 3", id, got)
	}
	if after := hostLinks(t); after != linksBefore {
		t.Errorf("host interfaces changed:\nbefore %s\nafter  %s", linksBefore, after)
	}
	if mtu, err := l.Exec(ctx, "h1", "cat", "/sys/class/net/e1/mtu"); err != nil || strings.TrimSpace(mtu) != "1400" {
		t.Errorf("h1 e1 mtu = %q (%v), want 1400", mtu, err)
	}
	if mtu, err := l.Exec(ctx, "h2", "cat", "/sys/class/net/e1/mtu"); err != nil || strings.TrimSpace(mtu) != fmt.Sprint(lab.DefaultMTU) {
		t.Errorf("h2 e1 mtu = %q (%v), want containerlab's default %d", mtu, err, lab.DefaultMTU)
	}
	if got := l.HostPath("h1", "/opt/t/bin/check.sh"); got != filepath.Join(filepath.Dir(must(filepath.Abs(mini))), "bin", "check.sh") {
		t.Errorf("HostPath = %s", got)
	}
	if a := labtest.Addr(t, l, "h2", "e1"); a.String() != "10.99.2.2" {
		t.Errorf("Addr(h2, e1) = %v", a)
	}

	// Routed UDP between the hosts, sockets opened in-process in the namespaces.
	rx, err := l.ListenPacket("h2", "udp4", "10.99.2.2:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := l.ListenPacket("h1", "udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if _, err := tx.WriteTo([]byte("ping"), rx.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	rx.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 16)
	n, src, err := rx.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "ping" || !strings.HasPrefix(src.String(), "10.99.1.2:") {
		t.Fatalf("h2 got %q from %v (%v), want ping from 10.99.1.2", buf[:n], src, err)
	}
	// The host namespace cannot reach the lab.
	if hc, err := net.ListenPacket("udp4", ":0"); err == nil {
		hc.WriteTo([]byte("host"), rx.LocalAddr())
		hc.Close()
		rx.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, src, err := rx.ReadFrom(buf); err == nil {
			t.Errorf("h2 got %q from %v, sent from the host namespace", buf[:n], src)
		}
	}

	// A started process, and a daemon that escapes its process group.
	p, err := l.Start(ctx, "h1", "sh", "-c", "echo ready; exec sleep 1000")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := p.WaitFor(wctx, regexp.MustCompile(`ready`)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Exec(ctx, "h2", "sh", "-c", "setsid sleep 1000 >/dev/null 2>&1 < /dev/null &"); err != nil {
		t.Fatal(err)
	}
	pids := nsPids(t, id, "h2")
	if len(pids) == 0 {
		t.Fatal("the daemon is not running in h2")
	}

	if err := l.Down(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	default:
		t.Error("started process still running after Down")
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("daemon %d survived Down", pid)
		}
	}
	if got := netnsOf(id); len(got) != 0 {
		t.Errorf("namespaces left after Down: %v", got)
	}
	if _, err := os.Stat(filepath.Join(lab.StateDir, id)); !os.IsNotExist(err) {
		t.Errorf("state dir left after Down: %v", err)
	}
	if err := l.Down(); err != nil {
		t.Errorf("second Down: %v", err)
	}
	if _, err := l.Start(ctx, "h1", "true"); err == nil {
		t.Error("Start after Down succeeded")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func nsPids(t *testing.T, id, node string) []int {
	out, err := exec.Command("ip", "netns", "pids", lab.NetnsPrefix+id+"-"+node).Output()
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		var p int
		fmt.Sscan(f, &p)
		pids = append(pids, p)
	}
	return pids
}

func TestParallelLabs(t *testing.T) {
	labtest.RequireRoot(t)
	const n = 3
	labs := make([]*lab.Lab, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			labs[i], errs[i] = lab.Up(context.Background(), mini, lab.Options{Logf: t.Logf})
		}()
	}
	wg.Wait()
	ids := map[string]bool{}
	for i, l := range labs {
		if errs[i] != nil {
			t.Fatalf("lab %d: %v", i, errs[i])
		}
		t.Cleanup(func() { l.Down() })
		ids[l.ID()] = true
		// The same addresses exist in every lab, isolated from each other.
		if out, err := l.Exec(context.Background(), "h1", "ip", "-4", "-o", "addr", "show", "e1"); err != nil || !strings.Contains(out, "10.99.1.2/24") {
			t.Errorf("lab %s h1: %q %v", l.ID(), out, err)
		}
	}
	if len(ids) != n {
		t.Errorf("lab ids not unique: %v", ids)
	}
	for _, l := range labs {
		if err := l.Down(); err != nil {
			t.Error(err)
		}
		if got := netnsOf(l.ID()); len(got) != 0 {
			t.Errorf("lab %s left %v", l.ID(), got)
		}
	}
}

// ownLabs counts the labs this test process owns: other test packages may build
// and tear down labs at the same time (go test -p).
func ownLabs() int {
	ls, _ := lab.List()
	n := 0
	for _, s := range ls {
		if s.Owner == os.Getpid() {
			n++
		}
	}
	return n
}

func TestUpFailureLeavesNothing(t *testing.T) {
	labtest.RequireRoot(t)
	before := ownLabs()
	_, err := lab.Up(context.Background(), mini, lab.Options{Env: map[string]string{"OUT": "/nonexistent/dir/file"}})
	if err == nil {
		t.Fatal("Up succeeded with a failing exec line")
	}
	if !strings.Contains(err.Error(), "node r: exec line 3") {
		t.Errorf("error does not name the node and line: %v", err)
	}
	if after := ownLabs(); after != before {
		t.Errorf("labs of this process before %d, after a failed Up %d", before, after)
	}
	ents, _ := os.ReadDir(lab.StateDir)
	for _, e := range ents {
		if len(netnsOf(e.Name())) == 0 {
			continue
		}
		// Another process's lab may be between creating its directory and
		// recording its state, or tearing down: look again before calling it
		// an orphan.
		orphan := true
		for range 20 {
			after, _ := lab.List()
			if findLab(after, e.Name()) != nil || len(netnsOf(e.Name())) == 0 {
				orphan = false
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if orphan {
			t.Errorf("namespaces of unrecorded lab %s exist", e.Name())
		}
	}
}

func findLab(ls []*lab.State, id string) *lab.State {
	for _, s := range ls {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// A lab owner killed with SIGKILL (crash, test timeout) leaves nothing behind:
// its reaper tears the lab down.
func TestReaperAfterCrash(t *testing.T) {
	labtest.RequireRoot(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "UP ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q %v", line, err)
	}
	id := strings.TrimSpace(strings.TrimPrefix(line, "UP "))
	if len(netnsOf(id)) != 3 {
		t.Fatalf("child lab %s has namespaces %v", id, netnsOf(id))
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for len(netnsOf(id)) > 0 || exists(filepath.Join(lab.StateDir, id)) {
		if time.Now().After(deadline) {
			t.Fatalf("10s after the owner died, lab %s still has %v", id, netnsOf(id))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// alive tells whether pid runs (a zombie waiting for its reaper does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z'
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// Clean removes namespaces with the lab prefix that no lab records, and
// kills what runs in them.
func TestCleanOrphans(t *testing.T) {
	labtest.RequireRoot(t)
	ns := lab.NetnsPrefix + "zz0rf-x"
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	sleeper := exec.Command("ip", "netns", "exec", ns, "sleep", "1000")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sleeper.Wait() }()
	// Until `ip netns exec` has entered the namespace and become sleep, Clean
	// has nothing to kill there (and ip may then sleep in an unnamed one).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", sleeper.Process.Pid))
		if strings.TrimSpace(string(comm)) == "sleep" {
			break
		}
		if time.Now().After(deadline) {
			sleeper.Process.Kill()
			t.Fatalf("ip netns exec never became sleep (comm %q)", comm)
		}
	}
	removed, err := lab.Clean(lab.CleanOptions{Dead: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(removed, " "), ns) {
		t.Errorf("Clean removed %v, not %s", removed, ns)
	}
	if exists(filepath.Join(lab.NetnsDir, ns)) {
		t.Errorf("%s still exists", ns)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		sleeper.Process.Kill()
		t.Error("process in the orphan namespace survived Clean")
	}
}
