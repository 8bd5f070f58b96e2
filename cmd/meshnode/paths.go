package main

import (
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"
)

// stateDir returns the node's state directory from --state / MESHNODE_STATE, or the
// default: /var/lib/meshnode for root, $XDG_STATE_HOME/meshnode (or
// ~/.local/state/meshnode) for others.
func stateDir(c *cli.Context) string {
	if d := c.String("state"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/meshnode"
	}
	if x := os.Getenv("XDG_STATE_HOME"); x != "" {
		return filepath.Join(x, "meshnode")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "meshnode")
	}
	return ".meshnode"
}

// controlPath returns the control socket path: --control / MESHNODE_CONTROL, or
// control.sock in the state directory.
func controlPath(c *cli.Context) string {
	if p := c.String("control"); p != "" {
		return p
	}
	return filepath.Join(stateDir(c), "control.sock")
}

func keyPath(c *cli.Context) string { return filepath.Join(stateDir(c), "node.key") }
