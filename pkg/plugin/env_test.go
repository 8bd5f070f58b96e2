package plugin

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPluginEnvironment: plugins get the node's environment without
// meshnode's secrets and settings, plus Config.Env.
func TestPluginEnvironment(t *testing.T) {
	envFile := filepath.Join(t.TempDir(), "env")
	t.Setenv("TESTPLUGIN_ENV_FILE", envFile)
	for k, v := range map[string]string{
		"MESHNODE_SECRET":         "hunter2-group-secret",
		"MESHNODE_SECRET_FILE":    "/etc/meshnode/home.secret",
		"MESHNODE_AUTH_KEY":       "hunter2-auth-key",
		"MESHNODE_AUTH_KEY_FILE":  "/etc/meshnode/auth.key",
		"MESHNODE_ADMIN_TOKEN":    "hunter2-token",
		"MESHNODE_GROUP":          "home",
		"MESHNODE_PLUGIN":         "a stale cookie",
		"MESHNODE_WS_SERVER_NAME": "rdv.example.net",
		"MESHNODE_WS_API_KEY":     "hunter2-ws-key",
		"Meshnode_Secret":         "hunter2-mixed-case",
		"HTTPS_PROXY":             "http://proxy.example:3128",
	} {
		t.Setenv(k, v)
	}
	m, _ := newManager(t, Config{Env: []string{"MESHNODE_WS_PIN=sha256:abc", "MESHNODE_WS_SERVER_NAME=override.example"}})
	ctx := context.Background()
	if _, err := m.Cipher(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Transport(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{KindCipher, KindTransport} {
		b, err := os.ReadFile(envFile + "." + Binary(kind, "test"))
		if err != nil {
			t.Fatal(err)
		}
		env := strings.Split(string(b), "\n")
		if strings.Contains(string(b), "hunter2") {
			t.Errorf("%s plugin got a secret:\n%s", kind, b)
		}
		for _, want := range []string{"MESHNODE_WS_PIN=sha256:abc", "MESHNODE_WS_SERVER_NAME=override.example",
			"HTTPS_PROXY=http://proxy.example:3128", "TESTPLUGIN_ENV_FILE=" + envFile, "PATH=" + os.Getenv("PATH")} {
			if !slices.Contains(env, want) {
				t.Errorf("%s plugin lacks %s", kind, want)
			}
		}
		var names []string
		for _, kv := range env {
			if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(strings.ToUpper(name), "MESHNODE_") {
				names = append(names, kv)
			}
		}
		slices.Sort(names)
		want := []string{"MESHNODE_PLUGIN=" + HandshakeConfig().MagicCookieValue, "MESHNODE_WS_PIN=sha256:abc", "MESHNODE_WS_SERVER_NAME=override.example"}
		if !slices.Equal(names, want) {
			t.Errorf("%s plugin's MESHNODE_ variables: %q, want %q", kind, names, want)
		}
	}
}

func TestPluginEnvRefusesSecrets(t *testing.T) {
	for _, extra := range []string{"MESHNODE_SECRET=x", "MESHNODE_GROUP=home", "MESHNODE_WS_TOKEN=x", "novalue"} {
		m, _ := newManager(t, Config{Env: []string{extra}})
		_, err := m.Cipher(context.Background(), "test")
		if err == nil || !strings.Contains(err.Error(), "plugin environment entry") {
			t.Errorf("Env %q: %v", extra, err)
		}
		if err != nil && strings.Contains(err.Error(), "novalue") {
			t.Errorf("Env %q: the error shows the entry: %v", extra, err)
		}
	}
}

func TestPluginMaySee(t *testing.T) {
	for name, want := range map[string]bool{
		"PATH": true, "HOME": true, "HTTPS_PROXY": true, "AWS_SECRET_ACCESS_KEY": true, // not meshnode's
		"MESHNODE_WS_CA_FILE": true, "MESHNODE_WS_PIN": true, "MESHNODE_WS_SERVER_NAME": true,
		"MESHNODE_SECRET": false, "MESHNODE_SECRET_FILE": false, "MESHNODE_AUTH_KEY": false,
		"MESHNODE_AUTH_KEY_FILE": false, "MESHNODE_GROUP": false, "MESHNODE_CONTROL": false,
		"MESHNODE_WS_KEY": false, "MESHNODE_WS_APIKEY": false, "MESHNODE_WS_PASSWORD": false,
		"MESHNODE_WS_CLIENT_SECRET": false, "MESHNODE_WS_PSK": false, "MESHNODE_WS_PRIVATE_KEY_FILE": false,
		"meshnode_secret": false, "MESHNODE_PLUGIN": false,
	} {
		if got := pluginMaySee(name); got != want {
			t.Errorf("pluginMaySee(%s) = %v, want %v", name, got, want)
		}
	}
}
