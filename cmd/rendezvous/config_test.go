package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/meshnode/meshnode/internal/doccheck"
	"github.com/meshnode/meshnode/pkg/transport"
)

var update = flag.Bool("update", false, "rewrite the generated parts of README.md")

func writeFile(t *testing.T, dir, text string) string {
	t.Helper()
	p := filepath.Join(dir, "rendezvous.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startWith runs the command in this process with e until the test ends.
func startWith(t *testing.T, e *env, args ...string) (addr string, logs *syncBuf) {
	t.Helper()
	logs = &syncBuf{}
	e.stdout, e.stderr = io.Discard, logs
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- runEnv(ctx, append([]string{"rendezvous"}, args...), e) }()
	t.Cleanup(func() {
		cancel()
		if c := <-code; c != 0 {
			t.Errorf("exit code %d; log:\n%s", c, logs)
		}
	})
	return listeningAddr(t, logs.String), logs
}

// TestConfigFileOnly: a rendezvous runs from its config file alone.
func TestConfigFileOnly(t *testing.T) {
	cfg := writeFile(t, t.TempDir(), "listen = \"127.0.0.1:0\"\nstun = \"\"\nmax-conns = 50\nlog-format = \"json\"\n")
	addr, logs := startWith(t, &env{}, "--config", cfg)
	relayPair(t, addr, transport.TCP())
	if out := logs.String(); !strings.Contains(out, `"max_conns":50`) || !strings.Contains(out, `"stun":"off"`) {
		t.Fatalf("file settings not in effect:\n%s", out)
	}
}

// TestConfigPrecedence: flag > env > file > default, shown by --print-config.
func TestConfigPrecedence(t *testing.T) {
	cfg := writeFile(t, t.TempDir(), "listen = \":1\"\nmax-conns = 5\nidle-timeout = \"2m\"\nlog-level = \"warn\"\n")
	var out, errOut bytes.Buffer
	e := &env{stdout: &out, stderr: &errOut, lookupEnv: func(k string) (string, bool) {
		v, ok := map[string]string{"RENDEZVOUS_MAX_CONNS": "6", "RENDEZVOUS_LISTEN": ":2"}[k]
		return v, ok
	}}
	if code := runEnv(context.Background(), []string{"rendezvous", "--config", cfg, "--listen", ":3", "--print-config"}, e); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{
		`(?m)^listen +\= ":3" +# flag --listen$`,
		`(?m)^max-conns +\= 6 +# env RENDEZVOUS_MAX_CONNS$`,
		`(?m)^idle-timeout +\= "2m0s" +# file ` + regexp.QuoteMeta(cfg) + `:3$`,
		`(?m)^log-level +\= "warn" +# file ` + regexp.QuoteMeta(cfg) + `:4$`,
		`(?m)^stun2 +\= ":3479" +# default$`,
	} {
		if !regexp.MustCompile(want).MatchString(out.String()) {
			t.Errorf("--print-config lacks %s:\n%s", want, out.String())
		}
	}
}

// TestConfigFileErrors: a bad file names the file, the line and the key.
func TestConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ text, want string }{
		{"listen = \"127.0.0.1:0\"\nmax-conns = \"many\"\n", `rendezvous.toml:2: key "max-conns": want an integer, got a string ("many")`},
		{"listen = \"127.0.0.1:0\"\n\nmax-conns = 0\n", `rendezvous.toml:3: key "max-conns": max-conns must be at least 1, got 0`},
		{"stun = \"3478\"\n", `rendezvous.toml:1: key "stun": stun "3478": want host:port such as :3478`},
		{"log-level = \"loud\"\n", `rendezvous.toml:1: key "log-level": invalid log-level "loud": want debug, info, warn or error`},
		{"idle-timeout = \"soon\"\n", `rendezvous.toml:1: key "idle-timeout": "soon" is not a duration`},
		{"listn = \":1\"\n", `rendezvous.toml:1: key "listn": unknown key (did you mean "listen"?)`},
		{"config = \"x\"\n", `rendezvous.toml:1: key "config": unknown key`},
	} {
		cfg := writeFile(t, dir, tc.text)
		var stderr bytes.Buffer
		code := run(context.Background(), []string{"rendezvous", "--config", cfg}, io.Discard, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want %q", tc.text, code, stderr.String(), tc.want)
		}
	}
}

// TestReload: SIGHUP re-reads the file: the log level changes live, settings
// that need a restart are reported, a broken file changes nothing; one log
// line each.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	base := "listen = \"127.0.0.1:0\"\nws-listen = \"127.0.0.1:0\"\nstun = \"\"\n"
	cfg := writeFile(t, dir, base+"log-level = \"info\"\n")
	hup := make(chan os.Signal, 1)
	addr, logs := startWith(t, &env{hup: hup}, "--config", cfg)
	ws := listeningWS(t, logs.String())
	probe := func() {
		resp, err := http.Get("http://" + ws + "/not-the-path")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	probe()
	writeFile(t, dir, base+"log-level = \"debug\"\nmax-conns = 7\n")
	hup <- syscall.SIGHUP
	waitLogLine(t, logs, `msg="config reloaded"`, `changed="log-level: \"info\" -> \"debug\""`, "restart_needed=max-conns")
	if strings.Contains(logs.String(), "websocket request refused") {
		t.Fatalf("debug line logged at info level:\n%s", logs)
	}
	probe()
	waitLogLine(t, logs, "websocket request refused")

	writeFile(t, dir, base+"log-level = 3\n")
	hup <- syscall.SIGHUP
	waitLogLine(t, logs, `msg="config reload rejected; the running configuration stays"`, `rendezvous.toml:4: key \"log-level\": want a string`)
	relayPair(t, addr, transport.TCP()) // still serving
	if n := strings.Count(logs.String(), "config reload"); n != 2 {
		t.Fatalf("%d reload lines, want 2:\n%s", n, logs)
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"rendezvous", "--version"}, &out, io.Discard); code != 0 || out.String() != "rendezvous version "+version+"\n" {
		t.Fatalf("--version: %d %q", code, out.String())
	}
}

// TestREADMECommandLines: every rendezvous command line in the READMEs' code
// blocks parses as written.
func TestREADMECommandLines(t *testing.T) {
	n := 0
	for _, file := range []string{"../../README.md", "../../testbed/README.md"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range doccheck.Markdown(string(b), "rendezvous") {
			n++
			var stderr bytes.Buffer
			if code := runEnv(context.Background(), append([]string{"rendezvous"}, c.Args...), &env{stdout: io.Discard, stderr: &stderr, parseOnly: true}); code != 0 {
				t.Errorf("%s:%d: %q does not parse: %s", file, c.Line, c.Text, stderr.String())
			}
		}
	}
	if n == 0 {
		t.Fatal("no rendezvous command lines in the READMEs")
	}
}

// TestREADMEConfigTable: the README's rendezvous key table is the generated
// one (go test ./cmd/rendezvous -run TestREADMEConfigTable -update rewrites it).
func TestREADMEConfigTable(t *testing.T) {
	const file = "../../README.md"
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := settings().Check(); err != nil {
		t.Fatal(err)
	}
	want := settings().Markdown()
	if *update {
		nd, err := doccheck.Replace(string(b), "rendezvous-config-keys", want)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(nd), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := doccheck.Generated(string(b), "rendezvous-config-keys")
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("README's rendezvous key table differs; run go test ./cmd/rendezvous -run TestREADMEConfigTable -update\n--- README\n%s\n--- generated\n%s", got, want)
	}
}
