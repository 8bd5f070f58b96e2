package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// writeConfig writes a config file (0600) and returns its path.
func writeConfig(t *testing.T, dir, text string) string {
	t.Helper()
	p := filepath.Join(dir, "meshnode.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const baseConfig = `group = "home"
secret = "correct-horse-battery"
rendezvous = "127.0.0.1:7749"
`

// TestPrintConfig: flag > env > file > default, each value with its source,
// the secret never shown.
func TestPrintConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, baseConfig+`log-level = "warn"
cipher = "aes-256-gcm"

[serve.ssh]
serveid = 700
target = "127.0.0.1:22"

[use.web]
service = "web@office"
port = 8080
`)
	e := &env{lookupEnv: envOf(map[string]string{"MESHNODE_RENDEZVOUS": "vps:7749", "MESHNODE_CIPHER": "chacha20poly1305"})}
	code, out, errOut := runT(t, e, "up", "--config", cfg, "--print-config", "--log-level", "debug", "--serve", "701=127.0.0.1:80")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out, "correct-horse") {
		t.Fatalf("secret printed:\n%s", out)
	}
	for _, want := range []string{
		"# config file: " + cfg,
		`group           = "home"`, "# file " + cfg + ":1",
		"secret          = <set>", "# file " + cfg + ":2",
		`rendezvous      = "vps:7749"`, "# env MESHNODE_RENDEZVOUS",
		`log-level       = "debug"`, "# flag --log-level",
		`cipher          = "chacha20poly1305"`, "# env MESHNODE_CIPHER",
		`log-format      = "text"`, "# default",
		`# --serve`, `["701=127.0.0.1:80"]`,
		"[serve.ssh]", "serveid = 700", `proto   = "tcp"`,
		"[use.web]", `service = "web@office"`, `bind    = "127.0.0.1"`,
	} {
		if !strings.Contains(squash(out), squash(want)) {
			t.Errorf("--print-config lacks %q:\n%s", want, out)
		}
	}
}

// TestDefaultConfigFile: the default file is read when it exists and no
// --group is given.
func TestDefaultConfigFile(t *testing.T) {
	dir := t.TempDir()
	def := writeConfig(t, dir, baseConfig)
	code, out, _ := runT(t, &env{defaultConfig: def}, "up", "--print-config")
	if code != 0 || !strings.Contains(out, "# config file: "+def) || !strings.Contains(squash(out), `group = "home"`) {
		t.Fatalf("default file not read: %d\n%s", code, out)
	}
	code, out, _ = runT(t, &env{defaultConfig: def}, "up", "--print-config", "--group", "other")
	if code != 0 || !strings.Contains(out, "# config file: none") {
		t.Fatalf("default file read although --group was given: %d\n%s", code, out)
	}
	code, out, _ = runT(t, &env{defaultConfig: def, lookupEnv: envOf(map[string]string{"MESHNODE_CONFIG": def})}, "up", "--print-config", "--group", "other")
	if code != 0 || !strings.Contains(out, "# config file: "+def) {
		t.Fatalf("MESHNODE_CONFIG not read: %d\n%s", code, out)
	}
}

// TestUpConfigErrors: a bad file names the file, the line and the key; bad
// flags name the flag. Nothing starts.
func TestUpConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file string
		args       []string
		want       string
	}{
		{"unknown key", baseConfig + "grup = \"x\"\n", nil, `meshnode.toml:4: key "grup": unknown key (did you mean "group"?)`},
		{"wrong type", baseConfig + "relay-only = \"yes\"\n", nil, `meshnode.toml:4: key "relay-only": want true or false, got a string ("yes")`},
		{"bad log level", baseConfig + "\nlog-level = \"loud\"\n", nil, `meshnode.toml:5: key "log-level": invalid log-level "loud": want debug, info, warn or error`},
		{"bad log level flag", baseConfig, []string{"--log-level", "loud"}, `invalid --log-level "loud"`},
		{"bad group", "group = \"a b\"\nsecret = \"correct-horse-battery\"\nrendezvous = \"h:1\"\n", nil, `meshnode.toml:1: key "group": group:`},
		{"bad rendezvous", "group = \"g\"\nsecret = \"correct-horse-battery\"\nrendezvous = \"nohostport\"\n", nil, `meshnode.toml:3: key "rendezvous": rendezvous: tcp transport: address "nohostport": want host:port`},
		{"http rendezvous", "group = \"g\"\nsecret = \"correct-horse-battery\"\nrendezvous = \"https://vps.example.net/r\"\n", nil, `tcp transport: address "https://vps.example.net/r" is a URL; want host:port (ws:// and wss:// URLs need the websocket transport)`},
		{"bad pin", "group = \"g\"\nsecret = \"correct-horse-battery\"\nrendezvous = \"vps:7749\"\nrendezvous-pin = \"md5:abc\"\n", nil, `meshnode.toml:4: key "rendezvous-pin"`},
		{"missing CA file", "group = \"g\"\nsecret = \"correct-horse-battery\"\nrendezvous = \"vps:7749\"\nrendezvous-ca = \"/nonexistent/ca.pem\"\n", nil, `meshnode.toml:4: key "rendezvous-ca"`},
		{"auth key and file", "group = \"g\"\nsecret = \"correct-horse-battery\"\nrendezvous = \"vps:7749\"\nauth-key = \"mnrk1_x\"\nauth-key-file = \"k\"\n", nil, `give the auth key once`},
		{"bad auth key", "group = \"g\"\nsecret = \"correct-horse-battery\"\nrendezvous = \"vps:7749\"\nauth-key = \"mnrk1_x\"\n", nil, `meshnode.toml:4: key "auth-key": auth-key: malformed auth key`},
		{"short secret", "group = \"g\"\nsecret = \"short\"\nrendezvous = \"h:1\"\n", nil, `meshnode.toml:2: key "secret": secret:`},
		{"serveid range", baseConfig + "[serve.ssh]\nserveid = 1000\ntarget = \"127.0.0.1:22\"\n", nil, `meshnode.toml:5: key "serve.ssh.serveid": serveid 1000 out of range`},
		{"serve target", baseConfig + "[serve.ssh]\ntarget = \"nohost\"\n", nil, `meshnode.toml:5: key "serve.ssh.target": service target: "nohost" is not host:port`},
		{"serve proto", baseConfig + "[serve.ssh]\ntarget = \"h:1\"\nproto = \"sctp\"\n", nil, `meshnode.toml:6: key "serve.ssh.proto": service proto "sctp" is not supported`},
		{"serve no target", baseConfig + "[serve.ssh]\nserveid = 700\n", nil, `meshnode.toml:4: key "serve.ssh": [serve.ssh] has no target (required)`},
		{"use port", baseConfig + "[use.ssh]\nservice = \"700\"\nport = 0\n", nil, `meshnode.toml:6: key "use.ssh.port": port 0 out of range 1-65535`},
		{"use bind", baseConfig + "[use.ssh]\nservice = \"700\"\nport = 22\nbind = \"localhost\"\n", nil, `meshnode.toml:7: key "use.ssh.bind": bind address "localhost" is not an IP address`},
		{"use service", baseConfig + "[use.ssh]\nservice = \"ssh\"\nport = 22\n", nil, `meshnode.toml:5: key "use.ssh.service": service "ssh": want a serveid (1-999), NAME@NODE or IP:PORT@NODE (ad-hoc)`},
		{"use adhoc", baseConfig + "[use.nb]\nservice = \"localhost:8888@home\"\nport = 22\n", nil, `meshnode.toml:5: key "use.nb.service": ad-hoc service "localhost:8888@home": want IP:PORT@NODE`},
		{"adhoc rule", baseConfig + "adhoc-remote = true\nadhoc-allow = [\"10.0.0.0/8:99999\"]\n", nil, `meshnode.toml:5: key "adhoc-allow": adhoc-allow: ad-hoc rule "10.0.0.0/8:99999": port "99999" is not a port`},
		{"adhoc rule without remote", baseConfig + "adhoc-allow = [\"10.0.0.0/8:22\"]\n", nil, `adhoc-allow lists remote targets, but --adhoc-remote is off`},
		{"adhoc max", baseConfig + "adhoc-max = 0\n", nil, `meshnode.toml:4: key "adhoc-max": adhoc-max 0 out of range 1-100`},
		{"adhoc expiry", baseConfig, []string{"--adhoc-idle-expiry", "10ms"}, `--adhoc-idle-expiry "10ms": want a duration of 1s or more`},
		{"dup serveid", baseConfig + "[serve.a]\nserveid = 700\ntarget = \"h:1\"\n[serve.b]\nserveid = 700\ntarget = \"h:2\"\n", nil, `meshnode.toml:7: key "serve.b": serveid 700 is already served by [serve.a]`},
		{"dup with flag", baseConfig + "[serve.a]\nserveid = 700\ntarget = \"h:1\"\n", []string{"--serve", "700=h:2"}, `meshnode.toml:4: key "serve.a": serveid 700 is already served by --serve "700=h:2"`},
		{"dup port", baseConfig + "[use.a]\nservice = \"1\"\nport = 22\n[use.b]\nservice = \"2\"\nport = 22\n", nil, `meshnode.toml:7: key "use.b": port 22 is already mapped by [use.a]`},
		{"two secrets", baseConfig + "secret-file = \"/x\"\n", nil, "give the group secret once: secret or secret-file, not both"},
		{"syntax", baseConfig + "log-level = = 1\n", nil, "meshnode.toml:4: "},
		{"api port range", baseConfig, []string{"--api", "70000"}, `meshnode: --api: port 70000 out of range 1-65535`},
		{"api garbage", baseConfig + "api = \"somewhere\"\n", nil, `meshnode.toml:4: key "api": api: "somewhere" is not HOST:PORT, a port, on or off`},
		{"api host name", baseConfig, []string{"--api", "example.net:80"}, `host "example.net" is not an IP address`},
		{"api tls without api", baseConfig, []string{"--api-tls-cert", "c.pem"}, `--api-tls-cert is set but the HTTP API is off (give --api ADDR)`},
		{"api cert without key", baseConfig, []string{"--api", "on", "--api-tls-cert", "c.pem"}, `--api-tls-cert needs api-tls-key too`},
		{"api bad cert", baseConfig, []string{"--api", "on", "--api-tls-cert", "/nonexistent/c.pem", "--api-tls-key", "/nonexistent/k.pem"}, `--api-tls-cert / --api-tls-key: open /nonexistent/c.pem`},
		{"bad metrics", baseConfig + "metrics = \"nohost\"\n", nil, `meshnode.toml:4: key "metrics": metrics "nohost": want host:port, :port or a port`},
		{"bad metrics port", baseConfig, []string{"--metrics", ":99999"}, `--metrics ":99999": port "99999" is not a number from 0 to 65535`},
		{"socks5 exposed", baseConfig + "socks5 = \"0.0.0.0:1080\"\n", nil, `meshnode.toml:4: key "socks5": socks5: proxy entry: SOCKS5 on "0.0.0.0:1080" is reachable from other machines: set a username and password`},
		{"http proxy no port", baseConfig, []string{"--http-proxy", "127.0.0.1"}, `--http-proxy: proxy entry: HTTP proxy address "127.0.0.1": address 127.0.0.1: missing port`},
		{"proxy user alone", baseConfig, []string{"--proxy-user", "me"}, `--proxy-user needs --proxy-password-file`},
		{"proxy password missing", baseConfig, []string{"--proxy-user", "me", "--proxy-password-file", "/nonexistent/pw"}, `--proxy-password-file: stat /nonexistent/pw`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeConfig(t, dir, tc.file)
			code, _, errOut := runT(t, &env{}, append([]string{"--state", dir, "up", "--config", cfg}, tc.args...)...)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q\nwant %q", code, errOut, tc.want)
			}
			if strings.Contains(errOut, "correct-horse") {
				t.Fatalf("secret in the error: %q", errOut)
			}
		})
	}
	// The proxy entries' password file must be readable by its owner only.
	cfg := writeConfig(t, dir, baseConfig)
	pw := filepath.Join(dir, "proxy.pw")
	os.WriteFile(pw, []byte("hunter2-proxy\n"), 0o640)
	code, _, errOut := runT(t, &env{}, "--state", dir, "up", "--config", cfg, "--proxy-user", "me", "--proxy-password-file", pw)
	if code == 0 || !strings.Contains(errOut, "is readable by other users (mode 0640); chmod 600 it") || strings.Contains(errOut, "hunter2") {
		t.Fatalf("group-readable proxy password file: %d %q", code, errOut)
	}
	// A file that holds the secret must not be world-readable.
	os.Chmod(cfg, 0o644)
	code, _, errOut = runT(t, &env{}, "--state", dir, "up", "--config", cfg)
	if code == 0 || !strings.Contains(errOut, `meshnode.toml:2: key "secret": the config file holds the group secret and is readable by every user (mode 0644)`) {
		t.Fatalf("world-readable secret: %d %q", code, errOut)
	}
	// Missing required settings name every way to give them.
	code, _, errOut = runT(t, &env{}, "--state", dir, "up", "--rendezvous", "h:1")
	if code == 0 || !strings.Contains(errOut, `required setting "group" not set: give --group, MESHNODE_GROUP or group = ... in a --config file`) {
		t.Fatalf("missing group: %d %q", code, errOut)
	}
	code, _, errOut = runT(t, &env{}, "--state", dir, "up", "--config", filepath.Join(dir, "none.toml"))
	if code == 0 || !strings.Contains(errOut, "config file: open "+filepath.Join(dir, "none.toml")) {
		t.Fatalf("missing file: %d %q", code, errOut)
	}
}

func TestParseAPIAddr(t *testing.T) {
	for in, want := range map[string]string{"": "", "off": "", "on": "127.0.0.1:7750", "8080": "127.0.0.1:8080",
		"0.0.0.0:9000": "0.0.0.0:9000", "[::1]:9000": "[::1]:9000", "localhost:1": "localhost:1", ":9000": ":9000"} {
		if got, err := parseAPIAddr(in); err != nil || got != want {
			t.Errorf("parseAPIAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// squash collapses runs of spaces: --print-config aligns its columns to the
// longest key, which the tests need not know.
func squash(s string) string { return spaces.ReplaceAllString(s, " ") }

var spaces = regexp.MustCompile(` +`)
