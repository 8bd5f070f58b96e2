package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/meshnode/meshnode/internal/config"
)

// globalPaths are where the node keeps its state and its control socket.
type globalPaths struct {
	state, control string
}

// configPath returns the config file to read: --config, MESHNODE_CONFIG, or
// the default file when it exists (for `up`, only when no --group or
// MESHNODE_GROUP is given: a node set up by flags is not changed by a file it
// never mentioned). explicit says the user named it.
func (a *app) configPath(c *cli.Context, up bool) (path string, explicit bool) {
	if c.IsSet("config") {
		return c.String("config"), true
	}
	if p, ok := a.env.lookupEnv("MESHNODE_CONFIG"); ok && p != "" {
		return p, true
	}
	if a.env.defaultConfig == "" {
		return "", false
	}
	if up {
		if _, ok := a.env.lookupEnv("MESHNODE_GROUP"); c.IsSet("group") || ok {
			return "", false
		}
	}
	if _, err := os.Stat(a.env.defaultConfig); err != nil {
		return "", false
	}
	return a.env.defaultConfig, false
}

// globals resolves --state and --control for the verbs that talk to a node:
// flag > env > config file > default. The config file is --config,
// MESHNODE_CONFIG or the default one; a default file this user may not read
// (a root node's) is skipped.
func (a *app) globals(c *cli.Context) (globalPaths, error) {
	path, explicit := a.configPath(c, false)
	var f *config.File
	if path != "" {
		var err error
		if f, err = a.table.Load(path); err != nil {
			if explicit || !errors.Is(err, fs.ErrPermission) {
				return globalPaths{}, err
			}
			f = nil
		}
	}
	vals, err := a.table.Resolve(config.Sources{Flags: config.CLIFlags(c), LookupEnv: a.env.lookupEnv, File: f}, true)
	if err != nil {
		return globalPaths{}, err
	}
	return a.pathsOf(vals), nil
}

// The system node's places: root's default state dir, and the control socket
// that goes with it. meshnode.service runs its node there (StateDirectory=,
// RuntimeDirectory=), so `meshnode status` as root finds it with no flags.
const (
	systemState   = "/var/lib/meshnode"
	systemControl = "/run/meshnode/control.sock"
)

// pathsOf applies the defaults: /var/lib/meshnode for root,
// $XDG_STATE_HOME/meshnode (or ~/.local/state/meshnode) for others; the
// control socket as defaultControl says.
func (a *app) pathsOf(vals *config.Values) globalPaths {
	g := globalPaths{state: vals.String("state"), control: vals.String("control")}
	if g.state == "" {
		g.state = a.defaultState()
	}
	if g.control == "" {
		g.control = defaultControl(g.state)
	}
	return g
}

// defaultControl is the control socket of the node whose state dir is state:
// /run/meshnode/control.sock for /var/lib/meshnode (the system node, whose
// unit keeps sockets in its runtime dir), STATE/control.sock for any other.
func defaultControl(state string) string {
	if filepath.Clean(state) == systemState {
		return systemControl
	}
	return filepath.Join(state, "control.sock")
}

func (a *app) defaultState() string {
	if os.Geteuid() == 0 {
		return systemState
	}
	if x, ok := a.env.lookupEnv("XDG_STATE_HOME"); ok && x != "" {
		return filepath.Join(x, "meshnode")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "meshnode")
	}
	return ".meshnode"
}

func (g globalPaths) keyPath() string { return filepath.Join(g.state, "node.key") }
