package plugin

import (
	"fmt"
	"strings"
)

// A plugin's environment is the node's minus meshnode's own settings (see the
// package doc): every MESHNODE_* variable is removed except the reference
// plugins' settings (MESHNODE_WS_*), and even among those a name that looks
// like a secret is removed. Other variables (PATH, HOME, TMPDIR, proxies,
// SSL_CERT_FILE, a third-party plugin's own FOO_* settings) pass unchanged.

// meshnodePrefix starts the names of meshnode's own environment variables.
const meshnodePrefix = "MESHNODE_"

// pluginSettingsPrefix starts the MESHNODE_ variables plugins may see: the
// websocket plugin's settings (transport.EnvWebSocket*).
const pluginSettingsPrefix = "MESHNODE_WS_"

// pluginMaySee reports whether a plugin may get the environment variable name.
func pluginMaySee(name string) bool {
	up := strings.ToUpper(name)
	if !strings.HasPrefix(up, meshnodePrefix) {
		return true
	}
	return strings.HasPrefix(up, pluginSettingsPrefix) && !looksSecret(up)
}

// looksSecret reports whether an upper-case variable name looks like it holds
// a secret or names one: a part (between underscores) that is or ends in KEY
// or KEYS, or SECRET, PASSWORD, PASSWD, TOKEN, CREDENTIAL(S), PRIVATE, PSK.
func looksSecret(up string) bool {
	for part := range strings.SplitSeq(up, "_") {
		switch {
		case strings.HasSuffix(part, "KEY"), strings.HasSuffix(part, "KEYS"),
			strings.Contains(part, "SECRET"), strings.Contains(part, "PASSW"),
			strings.Contains(part, "TOKEN"), strings.Contains(part, "CREDENTIAL"),
			part == "PRIVATE", part == "PSK":
			return true
		}
	}
	return false
}

// pluginEnv returns the environment a plugin runs with: environ (the node's,
// "NAME=value" entries) filtered by pluginMaySee, then extra (Config.Env),
// whose entries win. An extra entry the rule would remove is an error: the
// node must not hand a plugin what the rule keeps from it.
func pluginEnv(environ, extra []string) ([]string, error) {
	out := make([]string, 0, len(environ)+len(extra))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if pluginMaySee(name) {
			out = append(out, kv)
		}
	}
	for i, kv := range extra {
		name, _, ok := strings.Cut(kv, "=")
		switch {
		case !ok || name == "": // not quoted: it may be a value
			return nil, fmt.Errorf("plugin environment entry %d: want NAME=value", i+1)
		case !pluginMaySee(name):
			return nil, fmt.Errorf("plugin environment entry %s: plugins never get meshnode variables other than %s* or ones named like secrets",
				name, pluginSettingsPrefix)
		}
		out = append(out, kv)
	}
	return out, nil
}
