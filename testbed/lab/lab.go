package lab

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options tune Up.
type Options struct {
	// Env sets topology variables (see Expand). They win over the process
	// environment, which is consulted only with UseOSEnv.
	Env      map[string]string
	UseOSEnv bool
	// Logf receives progress lines (nil = quiet). t.Logf fits.
	Logf func(format string, args ...any)
	// Label is recorded with the lab and shown by `lab ls`; `lab down`
	// without arguments stops only labs labelled CLILabel.
	Label string
	// ExecTimeout bounds each exec line of the topology (default 30s).
	ExecTimeout time.Duration
}

// Lab is a running topology: one network namespace per node, veth pairs for
// the links, exec lines applied. Methods are safe for concurrent use.
type Lab struct {
	topo  *Topology // nil for a lab attached with Open
	state *State
	dir   string
	logf  func(string, ...any)
	owned bool

	mu      sync.Mutex
	procs   []*Proc
	reaper  *exec.Cmd
	downed  bool
	downErr error
}

const reaperScript = `owner=$1; dir=$2; shift 2
while kill -0 "$owner" 2>/dev/null; do sleep 1; done
for ns in "$@"; do
  for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
done
for ns in "$@"; do ip netns del "$ns" 2>/dev/null; done
rm -rf "$dir"
`

// Up brings up the topology in file: it creates a namespace per node (named
// NetnsPrefix+id+"-"+node), sets the nodes' sysctls, creates the links as veth
// pairs directly inside the namespaces (nothing is created in the host
// namespace), brings interfaces up and runs the exec lines of all nodes (nodes
// in parallel, each node's lines in order). On error everything created is
// removed again. A reaper process removes the lab if this process dies without
// calling Down.
func Up(ctx context.Context, file string, opts Options) (l *Lab, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("lab.Up needs root (network namespaces, veth, nftables)")
	}
	lookup := func(name string) (string, bool) {
		if v, ok := opts.Env[name]; ok {
			return v, true
		}
		if opts.UseOSEnv {
			return os.LookupEnv(name)
		}
		return "", false
	}
	topo, err := ParseFile(file, lookup)
	if err != nil {
		return nil, err
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("create lab state dir: %w", err)
	}
	start := time.Now()
	id, dir, err := newLabDir()
	if err != nil {
		return nil, err
	}
	ownerStart, err := procStartTime(os.Getpid())
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("read own start time: %w", err)
	}
	st := &State{ID: id, Name: topo.Name, File: topo.File, Label: opts.Label, Owner: os.Getpid(), OwnerStart: ownerStart,
		Created: time.Now().UTC(), Nodes: map[string]NodeState{}}
	for _, n := range topo.NodeNames() {
		node := topo.Nodes[n]
		st.Nodes[n] = NodeState{Netns: NetnsPrefix + id + "-" + n, Env: node.Env, Binds: node.Binds}
		if err := os.MkdirAll(filepath.Join(dir, "nodes", n), 0o755); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("create node dir: %w", err)
		}
	}
	l = &Lab{topo: topo, state: st, dir: dir, logf: logf, owned: true}
	defer func() {
		if err != nil {
			if derr := l.Down(); derr != nil {
				err = errors.Join(err, derr)
			}
			l = nil
		}
	}()
	if err := l.startReaper(); err != nil {
		return l, err
	}
	if err := writeState(dir, st); err != nil {
		return l, err
	}

	// Namespaces.
	var batch strings.Builder
	for _, ns := range st.netns() {
		fmt.Fprintf(&batch, "netns add %s\n", ns)
	}
	if err := runIP(ctx, batch.String(), "-batch", "-"); err != nil {
		return l, fmt.Errorf("create namespaces: %w", err)
	}
	// Per-node settings before links exist, as a container runtime does.
	for _, n := range topo.NodeNames() {
		node := topo.Nodes[n]
		err := l.Do(n, func() error {
			if err := setLinkUp("lo"); err != nil {
				return err
			}
			// br_netfilter (loaded on the host) would send bridged frames
			// through the ip hooks of every namespace: hairpin NAT breaks.
			for _, k := range []string{"iptables", "ip6tables", "arptables"} {
				p := "net/bridge/bridge-nf-call-" + k
				if _, err := os.Stat("/proc/sys/" + p); err == nil {
					if err := writeSysctl(p, "0"); err != nil {
						return err
					}
				}
			}
			keys := make([]string, 0, len(node.Sysctls))
			for k := range node.Sysctls {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if err := writeSysctl(k, node.Sysctls[k]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return l, fmt.Errorf("node %s: %w", n, err)
		}
	}
	// Links: both ends are created directly in their namespaces.
	if len(topo.Links) > 0 {
		batch.Reset()
		for _, lk := range topo.Links {
			fmt.Fprintf(&batch, "link add name %s mtu %d netns %s type veth peer name %s mtu %d netns %s\n",
				lk.A.Iface, lk.MTU, st.Nodes[lk.A.Node].Netns, lk.B.Iface, lk.MTU, st.Nodes[lk.B.Node].Netns)
		}
		if err := runIP(ctx, batch.String(), "-batch", "-"); err != nil {
			return l, fmt.Errorf("create links: %w", err)
		}
		for _, lk := range topo.Links {
			for _, e := range []Endpoint{lk.A, lk.B} {
				if err := l.Do(e.Node, func() error { return setLinkUp(e.Iface) }); err != nil {
					return l, fmt.Errorf("link %s: %w", e, err)
				}
			}
		}
	}
	logf("lab %s (%s): %d namespaces, %d links in %v", id, topo.Name, len(topo.Nodes), len(topo.Links), time.Since(start).Round(time.Millisecond))
	if err := l.runExecLines(ctx, opts.ExecTimeout); err != nil {
		return l, err
	}
	logf("lab %s up in %v", id, time.Since(start).Round(time.Millisecond))
	return l, nil
}

func newLabDir() (string, string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	for range 20 {
		var b [5]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", "", fmt.Errorf("lab id: %w", err)
		}
		for i := range b {
			b[i] = alphabet[int(b[i])%len(alphabet)]
		}
		id := string(b[:])
		dir := filepath.Join(StateDir, id)
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return id, dir, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", "", fmt.Errorf("create lab dir: %w", err)
		}
	}
	return "", "", errors.New("no free lab id")
}

// startReaper starts a detached shell that tears the lab down if this
// process dies without doing it (crash, SIGKILL, test timeout).
func (l *Lab) startReaper() error {
	args := append([]string{"-c", reaperScript, reaperTag, strconv.Itoa(os.Getpid()), l.dir}, l.state.netns()...)
	cmd := exec.Command("/bin/sh", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start lab reaper: %w", err)
	}
	l.reaper = cmd
	l.state.Reaper = cmd.Process.Pid
	return nil
}

func (l *Lab) runExecLines(ctx context.Context, timeout time.Duration) error {
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	names := l.topo.NodeNames()
	errs := make([]error, len(names))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, n := range names {
		node := l.topo.Nodes[n]
		if len(node.Exec) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			for j, line := range node.Exec {
				argv, err := SplitCommand(line)
				if err != nil {
					errs[i] = fmt.Errorf("node %s: exec line %d: %w", n, j+1, err)
					return
				}
				if len(argv) == 0 {
					continue
				}
				cctx, cancel := context.WithTimeout(ctx, timeout)
				cmd, err := l.command(cctx, n, "/", argv[0], argv[1:]...)
				if err != nil {
					cancel()
					errs[i] = err
					return
				}
				out, err := cmd.CombinedOutput()
				cancel()
				if err != nil {
					errs[i] = fmt.Errorf("node %s: exec line %d `%s`: %w: %s", n, j+1, line, err, strings.TrimSpace(string(out)))
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ID is the lab's unique id (part of every namespace name).
func (l *Lab) ID() string { return l.state.ID }

// Name is the topology's name.
func (l *Lab) Name() string { return l.state.Name }

// Nodes returns the node names, sorted.
func (l *Lab) Nodes() []string { return l.state.NodeNames() }

// Topology returns the parsed topology (nil for a lab attached with Open).
func (l *Lab) Topology() *Topology { return l.topo }

// Netns returns the name of a node's network namespace (for `ip netns exec`).
func (l *Lab) Netns(node string) (string, error) {
	ns, ok := l.state.Nodes[node]
	if !ok {
		return "", fmt.Errorf("lab %s has no node %q (nodes: %s)", l.state.ID, node, strings.Join(l.Nodes(), ", "))
	}
	return ns.Netns, nil
}

// Dir returns a scratch directory private to the node (removed by Down). Use
// it for state files: all nodes share the host's file system.
func (l *Lab) Dir(node string) string { return filepath.Join(l.dir, "nodes", node) }

// HostPath rewrites a path as seen inside a node (through its binds) to the
// host path; other paths are returned unchanged.
func (l *Lab) HostPath(node, p string) string {
	return rewritePaths(p, l.state.Nodes[node].Binds)
}

// Do runs fn on an OS thread inside the node's network namespace (see InNetns).
func (l *Lab) Do(node string, fn func() error) error {
	ns, err := l.Netns(node)
	if err != nil {
		return err
	}
	return InNetns(ns, fn)
}

// ListenPacket opens a packet socket (e.g. "udp4", "10.21.0.2:0") in the node.
func (l *Lab) ListenPacket(node, network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := l.Do(node, func() (err error) { c, err = net.ListenPacket(network, addr); return })
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", node, err)
	}
	return c, nil
}

// Listen opens a stream listener (e.g. "tcp4", ":8080") in the node.
func (l *Lab) Listen(node, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := l.Do(node, func() (err error) { ln, err = net.Listen(network, addr); return })
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", node, err)
	}
	return ln, nil
}

// Dial connects from the node.
func (l *Lab) Dial(ctx context.Context, node, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := l.Do(node, func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return
	})
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", node, err)
	}
	return c, nil
}

// Addrs returns the IPv4 prefixes on an interface of a node, in kernel order.
func (l *Lab) Addrs(node, ifname string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	err := l.Do(node, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			return err
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil {
				continue
			}
			ip, _ := netip.AddrFromSlice(ipn.IP.To4())
			ones, _ := ipn.Mask.Size()
			out = append(out, netip.PrefixFrom(ip, ones))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", node, err)
	}
	return out, nil
}

// Addr returns the first IPv4 address of a node's interface.
func (l *Lab) Addr(node, ifname string) (netip.Addr, error) {
	ps, err := l.Addrs(node, ifname)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(ps) == 0 {
		return netip.Addr{}, fmt.Errorf("node %s: %s has no IPv4 address", node, ifname)
	}
	return ps[0].Addr(), nil
}

func (l *Lab) env(node string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	env := []string{"PATH=" + path, "HOME=/root"}
	if t := os.Getenv("TERM"); t != "" {
		env = append(env, "TERM="+t)
	}
	keys := make([]string, 0)
	for k := range l.state.Nodes[node].Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+l.state.Nodes[node].Env[k])
	}
	return env
}

// command builds `ip netns exec NS name args...` with the node's environment,
// bind paths rewritten, its own process group and a parent-death SIGKILL.
func (l *Lab) command(ctx context.Context, node, dir, name string, args ...string) (*exec.Cmd, error) {
	ns, err := l.Netns(node)
	if err != nil {
		return nil, err
	}
	binds := l.state.Nodes[node].Binds
	argv := []string{"netns", "exec", ns, rewritePaths(name, binds)}
	for _, a := range args {
		argv = append(argv, rewritePaths(a, binds))
	}
	cmd := exec.CommandContext(ctx, "ip", argv...)
	cmd.Env = l.env(node)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	return cmd, nil
}

// Command returns an unstarted command that runs name inside the node: the
// node's env, bind paths rewritten, working directory Dir(node), own process
// group, SIGKILL to the group when ctx ends or this process dies. Extend
// cmd.Env rather than replacing it.
func (l *Lab) Command(ctx context.Context, node, name string, args ...string) (*exec.Cmd, error) {
	return l.command(ctx, node, l.Dir(node), name, args...)
}

// Exec runs a command in the node and returns its combined output; a failure
// includes the output in the error.
func (l *Lab) Exec(ctx context.Context, node, name string, args ...string) (string, error) {
	cmd, err := l.Command(ctx, node, name, args...)
	if err != nil {
		return "", err
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("node %s: %s %s: %w: %s", node, name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// ProcSpec describes a process for StartWith.
type ProcSpec struct {
	Node  string
	Label string   // name in logs (default: base name of Path)
	Path  string   // program (a node path through binds, or a host path)
	Args  []string // arguments
	Env   []string // extra KEY=VALUE on top of the node's env
	Tee   io.Writer
}

// Start starts a long-running process in the node (see StartWith).
func (l *Lab) Start(ctx context.Context, node, name string, args ...string) (*Proc, error) {
	return l.StartWith(ctx, ProcSpec{Node: node, Path: name, Args: args})
}

// StartWith starts a long-running process in a node. Its output is captured
// (Proc.Output, Proc.WaitFor); it is killed with its process group when ctx
// ends, by Proc.Stop/Kill, by Down, or when this process dies.
func (l *Lab) StartWith(ctx context.Context, spec ProcSpec) (*Proc, error) {
	l.mu.Lock()
	downed := l.downed
	l.mu.Unlock()
	if downed {
		return nil, fmt.Errorf("lab %s is down", l.state.ID)
	}
	cmd, err := l.Command(ctx, spec.Node, spec.Path, spec.Args...)
	if err != nil {
		return nil, err
	}
	cmd.Env = append(cmd.Env, spec.Env...)
	label := spec.Label
	if label == "" {
		label = filepath.Base(spec.Path)
	}
	p, err := startProc(cmd, spec.Node, label, spec.Tee)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	return p, nil
}

// Procs returns the processes started with Start/StartWith.
func (l *Lab) Procs() []*Proc {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Proc(nil), l.procs...)
}

// Down kills every process of the lab (started ones first, then anything
// else running in its namespaces), deletes the namespaces and the lab's
// directory. It is idempotent; later calls return the first result.
func (l *Lab) Down() error {
	l.mu.Lock()
	if l.downed {
		l.mu.Unlock()
		return l.downErr
	}
	l.downed = true
	procs := append([]*Proc(nil), l.procs...)
	l.mu.Unlock()

	start := time.Now()
	var errs []error
	for _, p := range procs {
		_ = p.Signal(syscall.SIGKILL)
	}
	for _, p := range procs {
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			errs = append(errs, fmt.Errorf("%s on %s did not exit after SIGKILL", p.Name, p.Node))
		}
	}
	if err := teardown(l.state, l.dir); err != nil {
		errs = append(errs, err)
	}
	if l.reaper != nil {
		_ = syscall.Kill(-l.reaper.Process.Pid, syscall.SIGKILL)
		_ = l.reaper.Wait()
	}
	err := errors.Join(errs...)
	l.mu.Lock()
	l.downErr = err
	l.mu.Unlock()
	l.logf("lab %s down in %v", l.state.ID, time.Since(start).Round(time.Millisecond))
	return err
}
