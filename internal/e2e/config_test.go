package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshnode/meshnode/internal/meshproc"
	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/control/client"
)

// startFromConfig starts bin with only --config file and returns the process.
func startFromConfig(t *testing.T, name, bin, file string, args ...string) *meshproc.Proc {
	t.Helper()
	p, err := meshproc.Start(name, nil, bin, append([]string{"--config", file}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	dumpOnFailure(t, p, p.Kill)
	return p
}

// nodeFromConfig starts `meshnode up --config FILE` (state, control and all
// else in the file) and waits for its control socket.
func nodeFromConfig(t *testing.T, name, file, sock string) (*meshproc.Proc, *client.Client) {
	t.Helper()
	p := startFromConfig(t, name, bins.meshnode, file, "up")
	cl := client.New(sock)
	waitUntil(t, 15*time.Second, func() error {
		select {
		case <-p.Done():
			t.Fatalf("%s exited: %v\n%s", name, p.Err(), p.Out.String())
		default:
		}
		_, err := cl.Status(context.Background())
		return err
	})
	return p, cl
}

func writeConf(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	var p int
	fmt.Sscan(port, &p)
	return p
}

// reloadLines returns the node's "config reload..." log lines.
func reloadLines(p *meshproc.Proc) []string {
	var out []string
	for _, l := range strings.Split(p.Out.String(), "\n") {
		if strings.Contains(l, `msg="config reload`) {
			out = append(out, l)
		}
	}
	return out
}

// TestConfigReload: a rendezvous and two nodes run from config files only;
// [serve] and [use] sections give working mappings; editing a node's file and
// SIGHUP adds a service, removes a mapping and changes the log level (each in
// status and in one log line) while a connection through an unchanged mapping
// carries on byte-exact; a broken file is rejected with line and key and the
// node runs on unchanged.
func TestConfigReload(t *testing.T) {
	dir, _ := makeTemp(t)
	// The rendezvous: its file alone.
	rdvConf := filepath.Join(dir, "rendezvous.toml")
	writeConf(t, rdvConf, "listen = \"127.0.0.1:0\"\nstun = \"127.0.0.1:0\"\nstun2 = \"127.0.0.1:0\"\nlog-level = \"debug\"\n")
	r := startFromConfig(t, "rendezvous", bins.rendezvous, rdvConf)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := r.Out.WaitFor(ctx, regexp.MustCompile(`msg="rendezvous listening" addr=(\S+)`))
	if err != nil {
		t.Fatal(err)
	}
	rdv := m[1]

	echo, late := startEcho(t), startEcho(t)
	secretFile := filepath.Join(dir, "secret")
	writeConf(t, secretFile, meshproc.DefaultSecret+"\n")
	head := func(name string) string {
		state := filepath.Join(dir, name)
		return fmt.Sprintf("group = \"cfg\"\nrendezvous = %q\nsecret-file = %q\nname = %q\nstate = %q\nice-interfaces = [\"lo\"]\n",
			rdv, secretFile, name, state)
	}
	alphaConf := filepath.Join(dir, "alpha.toml")
	writeConf(t, alphaConf, head("alpha")+fmt.Sprintf("\n[serve.echo]\nserveid = 700\ntarget = %q\ninfo = \"echo\"\n", echo.addr()))
	_, alphaCl := nodeFromConfig(t, "alpha", alphaConf, filepath.Join(dir, "alpha", "control.sock"))

	keep, gone := freePort(t), freePort(t)
	uses := fmt.Sprintf("\n[use.echo]\nservice = \"700\"\nport = %d\n", keep)
	betaConf := filepath.Join(dir, "beta.toml")
	writeConf(t, betaConf, head("beta")+"log-level = \"info\"\n"+uses+fmt.Sprintf("\n[use.gone]\nservice = \"echo@alpha\"\nport = %d\n", gone))
	betaSock := filepath.Join(dir, "beta", "control.sock")
	beta, betaCl := nodeFromConfig(t, "beta", betaConf, betaSock)

	// Both declared mappings work.
	for _, port := range []int{keep, gone} {
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		waitUntil(t, 30*time.Second, func() error { return echoRoundTrip(addr, 64<<10, uint64(port), 20*time.Second) })
	}

	// A connection through the mapping that stays: half its bytes before the
	// reload, half after; the echo must come back byte-exact.
	const half = 4 << 20
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", keep))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	src := pattern(42, 2*half)
	got := sha256.New()
	read := make(chan error, 1)
	go func() {
		n, err := io.Copy(got, c)
		if err == nil && n != 2*half {
			err = fmt.Errorf("echoed %d bytes, sent %d", n, 2*half)
		}
		read <- err
	}()
	if _, err := io.CopyN(c, src, half); err != nil {
		t.Fatal(err)
	}

	// Edit beta's file: a new service, one mapping fewer, debug logging.
	writeConf(t, betaConf, head("beta")+"log-level = \"debug\"\n"+uses+fmt.Sprintf("\n[serve.late]\nserveid = 720\ntarget = %q\n", late.addr()))
	if err := beta.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, beta, regexp.MustCompile(`msg="config reloaded"`), 10*time.Second)
	lines := reloadLines(beta)
	if len(lines) != 1 {
		t.Fatalf("%d reload lines, want 1: %q", len(lines), lines)
	}
	for _, want := range []string{`log-level: \"info\" -> \"debug\"`, "[serve.late]: added (serveid 720", fmt.Sprintf("[use.gone]: removed (port %d", gone)} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("reload line lacks %q: %s", want, lines[0])
		}
	}
	st, err := betaCl.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var services, mappings []string
	for _, s := range st.Services {
		services = append(services, fmt.Sprintf("%d %s %s", s.ID, s.Origin, s.Ref))
	}
	for _, m := range st.Mappings {
		mappings = append(mappings, fmt.Sprintf("%d %s %s", m.Port, m.Origin, m.Ref))
	}
	if strings.Join(services, ",") != "720 file [serve.late]" || strings.Join(mappings, ",") != fmt.Sprintf("%d file [use.echo]", keep) ||
		st.Config == nil || st.Config.LogLevel != "debug" {
		t.Fatalf("beta after reload: services %q mappings %q config %+v", services, mappings, st.Config)
	}
	if out, err := cli(&meshproc.Node{Control: betaSock}, "status"); err != nil || !strings.Contains(out, "log-level debug") || !strings.Contains(out, "file [serve.late]") {
		t.Fatalf("status output: %v\n%s", err, out)
	}
	// The group learns the new service at once; the removed mapping is gone.
	waitUntil(t, 15*time.Second, func() error {
		ss, err := alphaCl.Services(context.Background())
		for _, s := range ss {
			if s.ServeID == 720 && s.OwnerName == "beta" {
				return nil
			}
		}
		return fmt.Errorf("alpha does not list 720@beta yet (%v)", err)
	})
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", gone)); err == nil {
		c.Close()
		t.Fatal("the removed mapping still accepts connections")
	}
	// Debug lines now appear (a mapped connection logs one at debug level).
	mi, err := alphaCl.AddMapping(context.Background(), api.MappingRequest{Target: "late@beta"})
	if err != nil {
		t.Fatal(err)
	}
	if err := echoRoundTrip(mi.Listen, 64<<10, 7, time.Minute); err != nil {
		t.Fatalf("the new service: %v", err)
	}
	waitLog(t, beta, regexp.MustCompile(`level=DEBUG msg="served connection closed" .*serveid=720`), 10*time.Second)

	// The second half through the unchanged mapping.
	if _, err := io.CopyN(c, src, half); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	if err := <-read; err != nil {
		t.Fatalf("connection across the reload: %v", err)
	}
	want := sha256.New()
	io.Copy(want, pattern(42, 2*half))
	if string(got.Sum(nil)) != string(want.Sum(nil)) {
		t.Fatal("bytes through the unchanged mapping differ from the sent ones")
	}

	// A broken file: rejected whole, with line and key; nothing changes.
	writeConf(t, betaConf, head("beta")+"log-level = \"info\"\n"+uses+"\n[serve.late]\nserveid = 7200\ntarget = \"127.0.0.1:1\"\n")
	if err := beta.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, beta, regexp.MustCompile(`msg="config reload rejected; the running configuration stays" .*beta.toml:14: key \\"serve.late.serveid\\": serveid 7200 out of range`), 10*time.Second)
	out, err := cli(&meshproc.Node{Control: betaSock}, "reload")
	if err == nil || !strings.Contains(out, `beta.toml:14: key "serve.late.serveid": serveid 7200 out of range`) {
		t.Fatalf("meshnode reload of a broken file: %v\n%s", err, out)
	}
	st2, err := betaCl.Status(context.Background())
	if err != nil || len(st2.Services) != 1 || st2.Services[0].ID != 720 || len(st2.Mappings) != 1 || st2.Config.LogLevel != "debug" {
		t.Fatalf("beta after a rejected reload: %+v %v", st2, err)
	}
	if err := echoRoundTrip(fmt.Sprintf("127.0.0.1:%d", keep), 1<<20, 9, time.Minute); err != nil {
		t.Fatalf("after a rejected reload: %v", err)
	}

	// down stops it cleanly.
	if out, err := cli(&meshproc.Node{Control: betaSock}, "down"); err != nil || !strings.Contains(out, "node stopped") {
		t.Fatalf("down: %v\n%s", err, out)
	}
	select {
	case <-beta.Done():
		if beta.Err() != nil {
			t.Fatalf("beta exited with %v after down", beta.Err())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("beta still runs after down")
	}
}
