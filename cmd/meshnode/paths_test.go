package main

import (
	"testing"
)

// TestDefaultControl: the system node (state /var/lib/meshnode, as
// meshnode.service runs it) has its socket in /run/meshnode; any other state
// dir keeps it inside.
func TestDefaultControl(t *testing.T) {
	for state, want := range map[string]string{
		"/var/lib/meshnode":      "/run/meshnode/control.sock",
		"/var/lib/meshnode/":     "/run/meshnode/control.sock",
		"/var/lib/meshnode/home": "/var/lib/meshnode/home/control.sock",
		"/home/u/.local/state/m": "/home/u/.local/state/m/control.sock",
	} {
		if got := defaultControl(state); got != want {
			t.Errorf("defaultControl(%q) = %q, want %q", state, got, want)
		}
	}
}

// TestPluginDirFor: plugins/ beside the executable wins when it exists (a
// build tree), then PREFIX/lib/meshnode/plugins for PREFIX/bin (installed or
// packaged), and the one beside is what errors name when neither exists.
func TestPluginDirFor(t *testing.T) {
	cases := []struct {
		exe, want string
		dirs      []string
	}{
		{"/src/meshnode/bin/meshnode", "/src/meshnode/bin/plugins", []string{"/src/meshnode/bin/plugins", "/src/meshnode/lib/meshnode/plugins"}},
		{"/usr/local/bin/meshnode", "/usr/local/lib/meshnode/plugins", []string{"/usr/local/lib/meshnode/plugins", "/usr/lib/meshnode/plugins"}},
		{"/usr/bin/meshnode", "/usr/lib/meshnode/plugins", []string{"/usr/local/lib/meshnode/plugins", "/usr/lib/meshnode/plugins"}},
		{"/scratch/usr/local/bin/meshnode", "/scratch/usr/local/lib/meshnode/plugins", []string{"/scratch/usr/local/lib/meshnode/plugins"}},
		{"/usr/bin/meshnode", "/usr/bin/plugins", nil},
		{"/opt/meshnode/meshnode", "/opt/meshnode/plugins", []string{"/opt/lib/meshnode/plugins"}},
	}
	for _, c := range cases {
		isDir := func(d string) bool {
			for _, x := range c.dirs {
				if x == d {
					return true
				}
			}
			return false
		}
		if got := pluginDirFor(c.exe, isDir); got != c.want {
			t.Errorf("pluginDirFor(%q) with %v = %q, want %q", c.exe, c.dirs, got, c.want)
		}
	}
}
