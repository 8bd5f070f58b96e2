package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/relay"
)

// TestOpenRelayRefused: on an address other machines can reach, the rendezvous
// does not start without auth keys unless told --open (then it warns); on
// loopback it needs neither.
func TestOpenRelayRefused(t *testing.T) {
	var stderr bytes.Buffer
	code := runEnv(context.Background(), []string{"rendezvous", "--listen", ":0", "--stun", ""}, &env{stdout: io.Discard, stderr: &stderr})
	if code == 0 || !strings.Contains(stderr.String(), "refusing to listen on :0 without auth keys") ||
		!strings.Contains(stderr.String(), "rendezvous keygen --label alice >> /etc/meshnode/rendezvous.keys") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	stderr.Reset()
	code = runEnv(context.Background(), []string{"rendezvous", "--listen", "127.0.0.1:0", "--ws-listen", "0.0.0.0:0", "--stun", ""}, &env{stdout: io.Discard, stderr: &stderr})
	if code == 0 || !strings.Contains(stderr.String(), "refusing to listen on 0.0.0.0:0 without auth keys") {
		t.Fatalf("exposed WebSocket listener: exit %d, stderr %q", code, stderr.String())
	}
	_, logs, _ := startInProcess(t, "--listen", ":0", "--stun", "", "--open")
	waitLogLine(t, logs, "level=WARN", "this rendezvous is OPEN")
	waitLogLine(t, logs, `msg="rendezvous listening"`, "access=open")
}

func writeKeys(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestAuthKeysFile: a node needs a key from the file; the file's problems are
// named; a reload that removes a key disconnects its node.
func TestAuthKeysFile(t *testing.T) {
	dir := t.TempDir()
	k1, _ := relay.GenerateAuthKey()
	k2, _ := relay.GenerateAuthKey()
	keys := filepath.Join(dir, "rendezvous.keys")

	for _, tc := range []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"world-readable", k1.Encode(), 0o644, "is readable by every user (mode 0644): it holds secrets; chmod 600"},
		{"empty", "# nothing yet\n", 0o600, "holds no key: every node would be refused"},
		{"bad line", k1.Encode() + "\nmnrk1_tooshort\n", 0o600, "rendezvous.keys:2: malformed auth key"},
		{"bad field", k1.Encode() + " colour=blue\n", 0o600, `rendezvous.keys:1: unknown field "colour"`},
		{"missing", "", 0, "auth-keys: stat"},
	} {
		os.Remove(keys)
		if tc.mode != 0 {
			if err := os.WriteFile(keys, []byte(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(keys, tc.mode)
		}
		var stderr bytes.Buffer
		code := runEnv(context.Background(), []string{"rendezvous", "--listen", "127.0.0.1:0", "--stun", "", "--auth-keys", keys},
			&env{stdout: io.Discard, stderr: &stderr})
		if code == 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", tc.name, code, stderr.String(), tc.want)
		}
		if strings.Contains(stderr.String(), k1.Encode()[6:]) {
			t.Errorf("%s: the error shows the key", tc.name)
		}
	}

	writeKeys(t, keys, "# test keys", k1.Encode()+" label=one", k2.Encode()+" label=two groups=home")
	cfg := writeFile(t, dir, "listen = \"127.0.0.1:0\"\nstun = \"\"\nauth-keys = \""+keys+"\"\n")
	hup := make(chan os.Signal, 1)
	addr, logs := startWith(t, &env{hup: hup}, "--config", cfg)
	waitLogLine(t, logs, `msg="rendezvous listening"`, `access="2 auth keys"`)

	// Without a key: refused, and the node says why.
	_, errs := tryClient(t, addr, nil)
	if err := <-errs; !strings.Contains(err.Error(), "the rendezvous refused this node: no auth key") {
		t.Fatalf("no key: %v", err)
	}
	one, oneErrs := tryClient(t, addr, &k1)
	waitConnected(t, one)
	two, _ := tryClient(t, addr, &k2)
	waitConnected(t, two)

	// k1 goes: its node is disconnected at the reload, and refused after.
	writeKeys(t, keys, k2.Encode()+" label=two groups=home")
	hup <- syscall.SIGHUP
	waitLogLine(t, logs, `msg="config reloaded"`, "auth-keys: 1 keys, 1 nodes disconnected")
	for err := range oneErrs {
		if strings.Contains(err.Error(), "the rendezvous refused this node: bad auth key") {
			break
		}
	}
	if !two.Status().Connected {
		t.Fatal("the node with the remaining key was disconnected")
	}
	// A keys file that breaks rejects the reload; nothing changes.
	writeKeys(t, keys, "junk")
	hup <- syscall.SIGHUP
	waitLogLine(t, logs, `msg="config reload rejected; the running configuration stays"`, "rendezvous.keys:1: not an auth key")
	if !two.Status().Connected {
		t.Fatal("a rejected reload disconnected a node")
	}
}

// tryClient runs a relay client of "home" with key until the test ends; errs
// gets every reason its connections failed.
func tryClient(t *testing.T, addr string, key *relay.AuthSecret) (*relay.Client, <-chan error) {
	t.Helper()
	nodeKey, _ := identity.GeneratePrivateKey()
	errs := make(chan error, 100)
	c, err := relay.NewClient(relay.ClientConfig{Addr: addr, Group: homeGroup(), Key: nodeKey, AuthKey: key,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		OnState: func(st relay.ConnState) {
			if !st.Connected && st.Err != nil {
				select {
				case errs <- st.Err:
				default:
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	// Refusals at the handshake do not change the state: watch the status too.
	go func() {
		var last string
		for ctx.Err() == nil {
			if st := c.Status(); st.LastError != "" && st.LastError != last {
				last = st.LastError
				select {
				case errs <- refusal(st.LastError):
				default:
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return c, errs
}

type refusal string

func (r refusal) Error() string { return string(r) }

func waitConnected(t *testing.T, c *relay.Client) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !c.Status().Connected {
		if time.Now().After(deadline) {
			t.Fatalf("not connected: %+v", c.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestKeygen: keygen prints a line the keys file takes, whose first word a node
// reads as its key; bad fields are refused.
func TestKeygen(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"rendezvous", "keygen", "--label", "alice", "--groups", "home,lab", "--expires", "2030-01-02"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	line := strings.TrimSpace(out.String())
	ks, err := relay.ParseAuthKeys("out", line)
	if err != nil || ks.Len() != 1 {
		t.Fatalf("keygen output %q: %v", line, err)
	}
	k := ks.List()[0]
	if k.Label != "alice" || strings.Join(k.Groups, ",") != "home,lab" || k.Expires.Format(time.DateOnly) != "2030-01-02" {
		t.Fatalf("key %+v", k)
	}
	node, err := relay.ParseNodeAuthKey(line + "\n")
	if err != nil || node != k.Secret {
		t.Fatalf("a node reading the line gets %v, %v", node.ID(), err)
	}
	if !strings.Contains(errOut.String(), "append the line above") {
		t.Errorf("no instructions on stderr: %q", errOut.String())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--label", "a b"}, `--label "a b": no spaces or '#'`},
		{[]string{"--label", "a/b"}, `label: "a/b": use letters`},
		{[]string{"--groups", "home,"}, "groups: group name is empty"},
		{[]string{"--expires", "soon"}, `expires: "soon": want YYYY-MM-DD`},
		{[]string{"extra"}, "keygen takes no arguments"},
	} {
		errOut.Reset()
		if code := run(context.Background(), append([]string{"rendezvous", "keygen"}, tc.args...), io.Discard, &errOut); code == 0 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("keygen %q: exit %d, %q; want %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}
