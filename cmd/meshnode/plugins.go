package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/plugin"
	"github.com/meshnode/meshnode/pkg/seal"
	"github.com/meshnode/meshnode/pkg/transport"
)

// defaultPluginDir is where plugins are looked for without --plugin-dir; see
// pluginDirFor.
func defaultPluginDir() string {
	exe, err := os.Executable() // symlinks resolved
	if err != nil {
		return ""
	}
	return pluginDirFor(exe, func(dir string) bool {
		st, err := os.Stat(dir)
		return err == nil && st.IsDir()
	})
}

// pluginDirFor is the default plugin directory of the executable exe:
// plugins/ beside it when that directory exists (a build tree: bin/plugins);
// else, for an executable in PREFIX/bin, PREFIX/lib/meshnode/plugins when it
// exists (/usr/local/lib/meshnode/plugins after `just install`,
// /usr/lib/meshnode/plugins from the .deb). When neither exists it is the one
// beside the executable, which errors then name.
func pluginDirFor(exe string, isDir func(string) bool) string {
	bin := filepath.Dir(exe)
	beside := filepath.Join(bin, "plugins")
	if isDir(beside) {
		return beside
	}
	if filepath.Base(bin) == "bin" {
		if lib := filepath.Join(filepath.Dir(bin), "lib", "meshnode", "plugins"); isDir(lib) {
			return lib
		}
	}
	return beside
}

// loadPlugins resolves cipher and transport to built-ins or plugins. The
// manager (nil when no plugin is used) must be closed by the caller;
// onRestart runs after a plugin came back from a crash.
func loadPlugins(ctx context.Context, cfg *upConfig, log *slog.Logger, onRestart func(kind, name string)) (seal.Cipher, transport.Transport, *plugin.Manager, error) {
	dir := cfg.pluginDir
	if dir == "" {
		dir = defaultPluginDir()
	}
	var mgr *plugin.Manager
	manager := func() *plugin.Manager {
		if mgr == nil {
			// A transport plugin (websocket) verifies the rendezvous' TLS as
			// the built-in does: rendezvous-ca and rendezvous-pin reach it in
			// its environment.
			env := transport.WebSocketConfig{CAFile: cfg.tls.CAFile, Pin: cfg.tls.Pin}.Environ()
			mgr = plugin.NewManager(plugin.Config{Dir: dir, Logger: log, OnRestart: onRestart, Env: env})
		}
		return mgr
	}
	fail := func(err error) (seal.Cipher, transport.Transport, *plugin.Manager, error) {
		if mgr != nil {
			mgr.Close()
		}
		return nil, nil, nil, err
	}
	var ciph seal.Cipher // nil: auto (overlay's default, seal.AutoSuites)
	switch name := cfg.cipher; name {
	case builtinAuto:
	case builtinChaCha:
		ciph = seal.NoiseChaChaPoly()
	case builtinAESGCM:
		ciph = seal.NoiseAESGCM()
	default:
		var err error
		if ciph, err = manager().Cipher(ctx, name); err != nil {
			return fail(fmt.Errorf("--cipher: %w", err))
		}
	}
	var tr transport.Transport
	switch name := cfg.transport; name {
	case builtinTCP:
		tr = transport.TCP()
	case builtinTLS:
		tc, err := transport.ClientTLSConfig(cfg.tls)
		if err != nil {
			return fail(err)
		}
		tr = transport.TLS(tc)
	default:
		var err error
		if tr, err = manager().Transport(ctx, name); err != nil {
			return fail(fmt.Errorf("--transport: %w", err))
		}
	}
	return ciph, tr, mgr, nil
}

// pluginStatusOf converts the manager's view for the node's status (nil: no
// plugins).
func pluginStatusOf(mgr *plugin.Manager) func() []api.PluginStatus {
	if mgr == nil {
		return nil
	}
	return func() []api.PluginStatus {
		var out []api.PluginStatus
		for _, s := range mgr.Status() {
			out = append(out, api.PluginStatus{Kind: api.PluginKind(s.Kind), Name: s.Name, Version: s.Version, Suite: s.Suite,
				State: s.State, PID: s.PID, Restarts: s.Restarts, Since: s.Since, LastError: s.LastError})
		}
		return out
	}
}

func printPlugins(w io.Writer, ps []api.PluginStatus) {
	if len(ps) == 0 {
		return
	}
	fmt.Fprintln(w, "\nplugins:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  KIND\tNAME\tVERSION\tSTATE\tPID\tRESTARTS\tSINCE\tLAST ERROR")
	for _, p := range ps {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", p.Kind, p.Name, dash(p.Version), p.State, p.PID, p.Restarts,
			p.Since.Format(time.RFC3339), dash(p.LastError))
	}
	tw.Flush()
}
