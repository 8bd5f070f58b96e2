package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/meshnode/meshnode/pkg/control/api"
)

// Config configures a Manager.
type Config struct {
	Dir    string       // where plugin executables live
	Logger *slog.Logger // plugin lifecycle lines; the plugins' own logs at debug
	// OnRestart is called (on its own goroutine) after a plugin that had
	// crashed or hung runs again, e.g. so links re-handshake.
	OnRestart func(kind, name string)
	// Env holds "NAME=value" entries added to every plugin's environment,
	// which is otherwise the node's minus meshnode's own variables (see
	// pluginEnv), e.g. transport.WebSocketConfig.Environ() for the websocket
	// plugin. An entry the filter would remove (a MESHNODE_ variable outside
	// MESHNODE_WS_*, or one named like a secret) makes every load fail.
	Env []string

	StartTimeout   time.Duration // launch to handshake (default 10 s)
	HealthInterval time.Duration // between health checks (default 2 s)
	CallTimeout    time.Duration // per control call (default 3 s)
	RestartMin     time.Duration // first restart backoff (default 500 ms)
	RestartMax     time.Duration // backoff cap (default 30 s)
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	d := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	d(&c.StartTimeout, 10*time.Second)
	d(&c.HealthInterval, 2*time.Second)
	d(&c.CallTimeout, 3*time.Second)
	d(&c.RestartMin, 500*time.Millisecond)
	d(&c.RestartMax, 30*time.Second)
}

// Manager launches and supervises plugins.
type Manager struct {
	cfg Config

	mu      sync.Mutex
	plugins map[string]*instance // kind/name
	closed  bool
}

// NewManager returns a Manager for the plugins in cfg.Dir.
func NewManager(cfg Config) *Manager {
	cfg.setDefaults()
	return &Manager{cfg: cfg, plugins: make(map[string]*instance)}
}

// Status is what `meshnode status` shows of a plugin.
type Status struct {
	Kind      string          `json:"kind"`
	Name      string          `json:"name"`
	Path      string          `json:"path"`
	Version   string          `json:"version"`
	Suite     string          `json:"suite,omitempty"`
	State     api.PluginState `json:"state"`
	PID       int             `json:"pid,omitempty"`
	Restarts  int             `json:"restarts"`
	Since     time.Time       `json:"since"`
	LastError string          `json:"last_error,omitempty"`
}

// Status lists the loaded plugins.
func (m *Manager) Status() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.plugins))
	for _, in := range m.plugins {
		out = append(out, in.status())
	}
	return out
}

// Close stops every plugin.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	ps := m.plugins
	m.plugins = map[string]*instance{}
	m.mu.Unlock()
	for _, in := range ps {
		in.stop()
	}
}

// load starts plugin name of kind, once; later calls return the same one.
func (m *Manager) load(ctx context.Context, kind, name string) (*instance, error) {
	if err := validName(name); err != nil {
		return nil, fmt.Errorf("%s plugin %q: %w", kind, name, err)
	}
	key := kind + "/" + name
	m.mu.Lock()
	if in, ok := m.plugins[key]; ok {
		m.mu.Unlock()
		return in, nil
	}
	if m.closed {
		m.mu.Unlock()
		return nil, errors.New("plugin manager closed")
	}
	m.mu.Unlock()

	if m.cfg.Dir == "" {
		return nil, fmt.Errorf("%s plugin %q: no plugin directory (give --plugin-dir)", kind, name)
	}
	if dst, err := os.Stat(m.cfg.Dir); err == nil && dst.Mode().Perm()&0o002 != 0 && dst.Mode()&os.ModeSticky == 0 {
		return nil, fmt.Errorf("%s plugin %q: plugin directory %s is writable by every user (mode %04o); refusing to run plugins from it",
			kind, name, m.cfg.Dir, dst.Mode().Perm())
	}
	path := filepath.Join(m.cfg.Dir, Binary(kind, name))
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("%s plugin %q not found: no %s in %s", kind, name, Binary(kind, name), m.cfg.Dir)
	case err != nil:
		return nil, fmt.Errorf("%s plugin %q: %w", kind, name, err)
	case st.IsDir() || st.Mode().Perm()&0o111 == 0:
		return nil, fmt.Errorf("%s plugin %q: %s is not an executable file", kind, name, path)
	case st.Mode().Perm()&0o002 != 0:
		return nil, fmt.Errorf("%s plugin %q: %s is writable by every user (mode %04o); refusing to run it", kind, name, path, st.Mode().Perm())
	}
	in := &instance{m: m, kind: kind, name: name, path: path,
		log: m.cfg.Logger.With("plugin", kind+"/"+name), done: make(chan struct{}), ready: make(chan struct{})}
	if err := in.start(ctx); err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		in.stop()
		return nil, errors.New("plugin manager closed")
	}
	if other, ok := m.plugins[key]; ok { // lost a race with another load
		m.mu.Unlock()
		in.stop()
		return other, nil
	}
	m.plugins[key] = in
	m.mu.Unlock()
	in.log.Info("plugin loaded", "path", path, "version", in.info.Version, "pid", in.pid)
	go in.supervise()
	return in, nil
}

func validName(name string) error {
	if name == "" || len(name) > 64 {
		return errors.New("name must be 1-64 characters")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("name may contain only a-z, 0-9, '-' and '_', not %q", r)
		}
	}
	return nil
}

// instance is one supervised plugin process (and its successors).
type instance struct {
	m                *Manager
	kind, name, path string
	log              *slog.Logger
	done             chan struct{}

	mu       sync.Mutex
	client   *process
	cc       *grpc.ClientConn
	info     Info
	pid      int
	state    api.PluginState
	since    time.Time
	restarts int
	lastErr  string
	ready    chan struct{} // closed while running; replaced when it stops
	stopped  bool
}

// start launches the process, checks the handshake and asks for its Info.
func (in *instance) start(ctx context.Context) error {
	cfg := in.m.cfg
	env, err := pluginEnv(os.Environ(), cfg.Env)
	if err != nil {
		return fmt.Errorf("%s plugin %q: %w", in.kind, in.name, err)
	}
	client, err := startProcess(goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  HandshakeConfig(),
		Plugins:          goplugin.PluginSet{in.kind: &grpcPlugin{}},
		Cmd:              pluginCmd(in.path, env),
		SkipHostEnv:      true, // env is the node's, filtered
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           newHCLogger(in.log),
		StartTimeout:     cfg.StartTimeout,
	}))
	if err != nil {
		return fmt.Errorf("%s plugin %q (%s): %w", in.kind, in.name, in.path, explain(err))
	}
	fail := func(err error) error {
		client.Kill()
		return fmt.Errorf("%s plugin %q (%s): %w", in.kind, in.name, in.path, explain(err))
	}
	rpc, err := client.RPC()
	if err != nil {
		return fail(err)
	}
	raw, err := rpc.Dispense(in.kind)
	if err != nil {
		return fail(err)
	}
	cc, ok := raw.(*grpc.ClientConn)
	if !ok {
		return fail(fmt.Errorf("dispensed %T", raw))
	}
	cctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
	info, err := call[Info](cctx, cc, in.service(), methodInfo, struct{}{})
	cancel()
	if err != nil {
		return fail(fmt.Errorf("info: %w", err))
	}
	if info.Name != in.name {
		in.log.Warn("plugin calls itself by another name", "says", info.Name)
	}
	if in.kind == KindCipher && (info.Suite == "" || len(info.Suite) > 64) {
		return fail(fmt.Errorf("suite name %q must be 1-64 bytes", info.Suite))
	}
	pid := 0
	if rc := client.ReattachConfig(); rc != nil {
		pid = rc.Pid
	}
	in.mu.Lock()
	if in.stopped { // stopped while this one was starting
		in.mu.Unlock()
		client.Kill()
		return fmt.Errorf("%s plugin %q: stopped", in.kind, in.name)
	}
	in.client, in.cc, in.info, in.pid = client, cc, info, pid
	in.state, in.since = api.PluginRunning, time.Now()
	close(in.ready)
	in.mu.Unlock()
	return nil
}

// explain turns go-plugin's launch errors into what a user can act on.
func explain(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(strings.ToLower(msg), "incompatible api version"):
		return fmt.Errorf("built for another plugin contract version (this node speaks version %d): %w", ProtocolVersion, err)
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		return fmt.Errorf("did not complete the plugin handshake in time (is it a meshnode plugin?): %w", err)
	case strings.Contains(msg, "plugin exited before we could connect"):
		return fmt.Errorf("exited during the plugin handshake (see its log lines above): %w", err)
	}
	return err
}

func (in *instance) service() string {
	if in.kind == KindCipher {
		return cipherServiceName
	}
	return transportServiceName
}

// conn returns the running plugin's connection, waiting (bounded by ctx) while
// it restarts.
func (in *instance) conn(ctx context.Context) (*grpc.ClientConn, error) {
	for {
		in.mu.Lock()
		cc, ready, state, lastErr, stopped := in.cc, in.ready, in.state, in.lastErr, in.stopped
		in.mu.Unlock()
		if stopped {
			return nil, fmt.Errorf("%s plugin %q is stopped", in.kind, in.name)
		}
		if state == api.PluginRunning && cc != nil {
			return cc, nil
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("%s plugin %q is %s (last error: %s)", in.kind, in.name, state, lastErr)
		}
	}
}

// callPlugin runs one control call with the configured timeout.
func callPlugin[Rep any](ctx context.Context, in *instance, method string, req any) (Rep, error) {
	ctx, cancel := context.WithTimeout(ctx, in.m.cfg.CallTimeout)
	defer cancel()
	var zero Rep
	cc, err := in.conn(ctx)
	if err != nil {
		return zero, err
	}
	rep, err := call[Rep](ctx, cc, in.service(), method, req)
	if err != nil {
		return zero, fmt.Errorf("%s plugin %q: %s: %w", in.kind, in.name, method, err)
	}
	return rep, nil
}

// supervise watches the process: it exits, or stops answering health checks
// twice in a row (hung), and is then restarted with backoff.
func (in *instance) supervise() {
	cfg := in.m.cfg
	backoff := cfg.RestartMin
	for {
		started := time.Now()
		why := in.watch()
		if why == nil {
			return // stopped
		}
		if time.Since(started) > 30*time.Second {
			backoff = cfg.RestartMin // it ran well for a while: not a crash loop
		}
		in.mu.Lock()
		old := in.client
		in.state, in.lastErr, in.since = api.PluginRestarting, why.Error(), time.Now()
		in.ready = make(chan struct{})
		in.cc = nil
		in.mu.Unlock()
		old.Kill()
		in.log.Error("plugin failed; restarting", "err", why, "retry_in", backoff.String())
		for {
			select {
			case <-in.done:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, cfg.RestartMax)
			ctx, cancel := context.WithTimeout(context.Background(), cfg.StartTimeout)
			err := in.start(ctx)
			cancel()
			if err == nil {
				break
			}
			in.mu.Lock()
			in.lastErr = err.Error()
			in.mu.Unlock()
			in.log.Error("plugin restart failed", "err", err, "retry_in", backoff.String())
		}
		in.mu.Lock()
		in.restarts++
		n, pid := in.restarts, in.pid
		in.mu.Unlock()
		in.log.Info("plugin restarted", "pid", pid, "restarts", n)
		if cfg.OnRestart != nil {
			go cfg.OnRestart(in.kind, in.name)
		}
	}
}

// watch returns why the running process failed, or nil when stopped.
func (in *instance) watch() error {
	cfg := in.m.cfg
	t := time.NewTicker(cfg.HealthInterval)
	defer t.Stop()
	misses := 0
	for {
		select {
		case <-in.done:
			return nil
		case <-t.C:
		}
		in.mu.Lock()
		client, cc := in.client, in.cc
		in.mu.Unlock()
		if client.Exited() {
			return errors.New("the plugin process exited")
		}
		ctx, cancel := context.WithTimeout(context.Background(), cfg.CallTimeout)
		_, err := call[Info](ctx, cc, in.service(), methodInfo, struct{}{})
		cancel()
		if err == nil {
			misses = 0
			continue
		}
		if client.Exited() {
			return errors.New("the plugin process exited")
		}
		misses++
		if misses >= 2 {
			return fmt.Errorf("the plugin stopped answering (hung?): %w", err)
		}
	}
}

func (in *instance) stop() {
	in.mu.Lock()
	if in.stopped {
		in.mu.Unlock()
		return
	}
	in.stopped = true
	in.state = api.PluginStopped
	client := in.client
	close(in.done)
	in.mu.Unlock()
	if client != nil {
		client.Kill()
	}
}

func (in *instance) status() Status {
	in.mu.Lock()
	defer in.mu.Unlock()
	return Status{Kind: in.kind, Name: in.name, Path: in.path, Version: in.info.Version, Suite: in.info.Suite,
		State: in.state, PID: in.pid, Restarts: in.restarts, Since: in.since, LastError: in.lastErr}
}
