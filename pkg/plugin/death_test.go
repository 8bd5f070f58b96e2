package plugin

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/meshnode/meshnode/pkg/seal"
)

// The test binary, re-executed with roleEnv set, plays a node that launches a
// plugin, prints "pid N" of the plugin, and runs until its stdin closes (so it
// ends with the test). runRole is called by TestMain.
const (
	roleEnv = "PLUGINTEST_ROLE"
	dirEnv  = "PLUGINTEST_DIR"
)

func runRole(role string) int {
	pid, err := launchForRole(role, os.Getenv(dirEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, role+":", err)
		return 1
	}
	fmt.Printf("pid %d\n", pid)
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// launchForRole starts a plugin the way role says and returns its pid.
func launchForRole(role, dir string) (int, error) {
	switch role {
	case "manager": // as the node does: death signal, watchdog, filtered env
		m := NewManager(Config{Dir: dir, HealthInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
		if _, err := m.Cipher(context.Background(), "test"); err != nil {
			return 0, err
		}
		return m.Status()[0].PID, nil
	case "bare": // a real plugin without the death signal: only its watchdog
		c := goplugin.NewClient(&goplugin.ClientConfig{
			HandshakeConfig:  HandshakeConfig(),
			Plugins:          goplugin.PluginSet{KindCipher: &grpcPlugin{}},
			Cmd:              exec.Command(filepath.Join(dir, Binary(KindCipher, "test"))),
			AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
			Logger:           quietLogger(),
		})
		rpc, err := c.Client()
		if err != nil {
			return 0, err
		}
		if _, err := rpc.Dispense(KindCipher); err != nil {
			return 0, err
		}
		return c.ReattachConfig().Pid, nil
	case "sleep": // a child that watches nothing: only the death signal
		sleep, err := exec.LookPath("sleep")
		if err != nil {
			return 0, err
		}
		cmd := pluginCmd(sleep, os.Environ())
		cmd.Args = []string{"sleep", "1000"}
		if _, err := startPinned(cmd.Start); err != nil {
			return 0, err
		}
		return cmd.Process.Pid, nil
	}
	return 0, fmt.Errorf("unknown role %q", role)
}

// quietLogger is a go-plugin logger that drops everything.
func quietLogger() hclog.Logger { return newHCLogger(slog.New(slog.DiscardHandler)) }

// startParent runs the test binary as role and returns it and its plugin's pid.
func startParent(t *testing.T, role string) (*exec.Cmd, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), roleEnv+"="+role, dirEnv+"="+pluginDir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // ends the parent if it still runs
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	var pid int
	if _, serr := fmt.Sscanf(line, "pid %d", &pid); err != nil || serr != nil || pid <= 0 {
		t.Fatalf("%s: no plugin pid from the parent: %q %v %v", role, line, err, serr)
	}
	t.Cleanup(func() {
		if alive(pid, procStart(pid)) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return cmd, pid
}

// procStart returns the start time of process pid (field 22 of
// /proc/PID/stat), "" when there is no such process.
func procStart(pid int) string {
	_, start := procState(pid)
	return start
}

// procState returns process pid's state letter and start time, or "", "".
func procState(pid int) (state, start string) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return "", ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", ""
	}
	return f[0], f[19]
}

// alive reports whether the process pid that started at start runs (a zombie
// does not; a reused pid is another process).
func alive(pid int, start string) bool {
	state, st := procState(pid)
	return state != "" && state != "Z" && state != "X" && st == start
}

// waitGone waits (up to limit, a bound for a loaded machine, not the
// expectation) until process pid is gone and returns how long that took.
func waitGone(t *testing.T, pid int, start string, limit time.Duration) time.Duration {
	t.Helper()
	t0 := time.Now()
	for alive(pid, start) {
		if time.Since(t0) > limit {
			t.Fatalf("plugin pid %d still runs %v later", pid, limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(t0)
}

// TestPluginDiesWithNode: kill -9 of the node ends its plugin, by either
// mechanism alone and by both together.
func TestPluginDiesWithNode(t *testing.T) {
	for _, tc := range []struct{ name, role string }{
		{"as the node launches it", "manager"},
		{"death signal alone (a child that watches nothing)", "sleep"},
		{"watchdog alone (a plugin launched without the death signal)", "bare"},
	} {
		t.Run(tc.role, func(t *testing.T) {
			parent, pid := startParent(t, tc.role)
			start := procStart(pid)
			if !alive(pid, start) {
				t.Fatalf("plugin pid %d not running before the kill", pid)
			}
			killed := time.Now()
			parent.Process.Kill() // SIGKILL
			parent.Wait()
			waitGone(t, pid, start, 20*time.Second)
			t.Logf("%s: plugin gone %v after the kill -9 of its parent", tc.name, time.Since(killed))
		})
	}
}

// TestPluginSurvivesThreadChurn: the death signal is tied to the thread that
// forked the plugin; threads the runtime retires (a goroutine that exits with
// its thread locked ends it) must not take the plugin with them. The plugin
// is loaded from such a goroutine (as code that locks a thread to switch
// network namespaces might), which kills it every time unless the fork
// happens on a thread of its own; then more threads are retired at random.
func TestPluginSurvivesThreadChurn(t *testing.T) {
	m, _ := newManager(t, Config{HealthInterval: time.Hour}) // no restart would hide a death
	type loaded struct {
		c   seal.Cipher
		err error
		tid int
	}
	res := make(chan loaded, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		c, err := m.Cipher(context.Background(), "test")
		res <- loaded{c, err, syscall.Gettid()}
	}()
	l := <-res
	if l.err != nil {
		t.Fatal(l.err)
	}
	first := m.Status()[0]
	start := procStart(first.PID)
	tids := retireThreads(8 * runtime.GOMAXPROCS(0))
	if l.tid != os.Getpid() {
		tids = append(tids, l.tid)
	}
	for _, tid := range tids { // gone from /proc: the death signal, if any, was sent
		waitThreadGone(t, tid)
	}
	if !alive(first.PID, start) {
		t.Fatalf("plugin pid %d died when the node retired %d threads", first.PID, len(tids))
	}
	handshake(t, l.c)
	if st := m.Status()[0]; st.PID != first.PID || st.Restarts != 0 {
		t.Fatalf("plugin replaced: %+v", st)
	}
}

// waitThreadGone waits until thread tid of this process has ended.
func waitThreadGone(t *testing.T, tid int) {
	t.Helper()
	t0 := time.Now()
	for {
		if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", tid)); os.IsNotExist(err) {
			return
		}
		if time.Since(t0) > 20*time.Second {
			t.Fatalf("thread %d did not end", tid)
		}
		time.Sleep(time.Millisecond)
	}
}

// retireThreads runs rounds of goroutines that lock their thread and exit, so
// the runtime ends those threads, and returns their thread ids. The main
// thread is never ended (the runtime parks it instead) and is left out.
func retireThreads(n int) []int {
	var (
		mu   sync.Mutex
		tids []int
	)
	for range 4 {
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
				if tid := syscall.Gettid(); tid != os.Getpid() {
					mu.Lock()
					tids = append(tids, tid)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	return tids
}

// TestPluginExitsWhenNodeDisconnects: a plugin whose node closes the gRPC
// connection (without killing it) exits; its parent is alive, so this is the
// connection watch alone.
func TestPluginExitsWhenNodeDisconnects(t *testing.T) {
	c := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  HandshakeConfig(),
		Plugins:          goplugin.PluginSet{KindCipher: &grpcPlugin{}},
		Cmd:              exec.Command(filepath.Join(pluginDir, Binary(KindCipher, "test"))),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           quietLogger(),
	})
	t.Cleanup(c.Kill)
	rpc, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rpc.Dispense(KindCipher)
	if err != nil {
		t.Fatal(err)
	}
	pid := c.ReattachConfig().Pid
	start := procStart(pid)
	if _, err := call[Info](context.Background(), raw.(*grpc.ClientConn), cipherServiceName, methodInfo, struct{}{}); err != nil {
		t.Fatal(err)
	}
	raw.(*grpc.ClientConn).Close()
	took := waitGone(t, pid, start, 20*time.Second)
	t.Logf("plugin gone %v after its node closed the connection", took)
}

func TestWatchParent(t *testing.T) {
	w := newNodeWatch()
	var mu sync.Mutex
	ppid := 42
	getppid := func() int { mu.Lock(); defer mu.Unlock(); return ppid }
	go w.watchParent(context.Background(), 42, getppid, time.Millisecond)
	mu.Lock()
	ppid = 1
	mu.Unlock()
	if why := <-w.gone; why != "the node (pid 42) is gone (parent is now pid 1)" {
		t.Fatalf("why = %q", why)
	}
}
