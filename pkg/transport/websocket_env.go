package transport

import "os"

// The environment variables the websocket plugin (plugins/websocket) takes its
// WebSocketConfig from. They are not secrets, so they pass the filter on a
// plugin's environment (pkg/plugin); the node sets them from its
// --rendezvous-ca / --rendezvous-pin flags with WebSocketConfig.Environ.
const (
	EnvWebSocketCAFile     = "MESHNODE_WS_CA_FILE"
	EnvWebSocketPin        = "MESHNODE_WS_PIN"
	EnvWebSocketServerName = "MESHNODE_WS_SERVER_NAME"
)

// Environ returns c as "NAME=value" entries for a plugin's environment, one for
// each field that is set.
func (c WebSocketConfig) Environ() []string {
	var env []string
	for _, kv := range [][2]string{{EnvWebSocketCAFile, c.CAFile}, {EnvWebSocketPin, c.Pin}, {EnvWebSocketServerName, c.ServerName}} {
		if kv[1] != "" {
			env = append(env, kv[0]+"="+kv[1])
		}
	}
	return env
}

// WebSocketConfigFromEnv reads a WebSocketConfig from the process' environment
// (what the websocket plugin does).
func WebSocketConfigFromEnv() WebSocketConfig {
	return WebSocketConfig{
		CAFile:     os.Getenv(EnvWebSocketCAFile),
		Pin:        os.Getenv(EnvWebSocketPin),
		ServerName: os.Getenv(EnvWebSocketServerName),
	}
}
