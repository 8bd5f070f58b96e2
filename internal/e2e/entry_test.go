package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
)

// TestProxyEntry: apps on one node reach another node's services by name
// through its SOCKS5 and HTTP proxy entries, with the real curl; unknown and
// non-mesh names get an error at once; UDP goes through UDP ASSOCIATE.
func TestProxyEntry(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed (apt-get install curl)")
	}
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "home web: %s %s", r.Method, r.URL.Path)
	}))
	t.Cleanup(web.Close)

	r := startRendezvous(t, "")
	home := startNode(t, r, nodeOpts{Name: "home"})
	socks, httpProxy := freeAddr(t), freeAddr(t)
	startNode(t, r, nodeOpts{Name: "office", Extra: []string{"--socks5", socks, "--http-proxy", httpProxy}})
	ctx := context.Background()
	for _, s := range []api.Service{
		{ID: 700, Target: web.Listener.Addr().String(), Name: "web"},
		{Target: udpEcho(t), Name: "dns", Proto: "udp"},
	} {
		if _, err := home.Ctl.AddService(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) (string, error) {
		out, err := exec.Command(curl, append([]string{"-sS", "--max-time", "30"}, args...)...).CombinedOutput()
		return string(out), err
	}
	// The catalog reaches office within seconds; the first fetch waits for it.
	waitUntil(t, 30*time.Second, func() error {
		out, err := run("--socks5-hostname", socks, "http://web.home.mesh/first")
		if err != nil || out != "home web: GET /first" {
			return fmt.Errorf("%q, %v", out, err)
		}
		return nil
	})
	for _, tc := range []struct{ args []string }{
		{[]string{"--socks5-hostname", socks, "http://web.home.mesh/socks"}},
		{[]string{"-x", "http://" + httpProxy, "http://700.mesh/plain"}},
		{[]string{"-x", "http://" + httpProxy, "-p", "http://web.home.mesh/connect"}},
	} {
		want := "home web: GET /" + tc.args[len(tc.args)-1][strings.LastIndex(tc.args[len(tc.args)-1], "/")+1:]
		if out, err := run(tc.args...); err != nil || out != want {
			t.Errorf("curl %v: %q, %v; want %q", tc.args, out, err, want)
		}
	}
	// Refusals: each with its code, none a hang (curl's --max-time is 30 s).
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--socks5-hostname", socks, "http://nope.home.mesh/"}, "(4)"}, // SOCKS host unreachable
		{[]string{"--socks5-hostname", socks, "http://example.com/"}, "(2)"},    // not allowed by ruleset
		{[]string{"-o", "/dev/null", "-w", "%{http_code}", "-x", "http://" + httpProxy, "http://nope.mesh/"}, "502"},
		{[]string{"-o", "/dev/null", "-w", "%{http_code}", "-x", "http://" + httpProxy, "http://example.com/"}, "403"},
		{[]string{"--socks5-hostname", socks, "http://dns.home.mesh/"}, "(7)"}, // a UDP service: command not supported
	} {
		out, _ := run(tc.args...)
		if !strings.Contains(out, tc.want) {
			t.Errorf("curl %v: %q; want %q in it", tc.args, out, tc.want)
		}
	}

	// UDP through SOCKS5 UDP ASSOCIATE to the UDP service.
	ctl, relayAddr := udpAssociate(t, socks)
	defer ctl.Close()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	buf := make([]byte, 2048)
	for i := range 3 {
		msg := fmt.Sprintf("datagram %d", i)
		pc.WriteToUDP(socksUDP("dns.home.mesh", 53, msg), relayAddr)
		pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := pc.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("UDP through the SOCKS5 entry: %v", err)
		}
		if !bytes.HasSuffix(buf[:n], []byte(msg)) || buf[3] != 3 {
			t.Fatalf("UDP reply %q, want %q under a domain-name header", buf[:n], msg)
		}
	}
}

// TestProxyEntrySSH: OpenSSH's client reaches a real sshd on another node by
// service name, through the SOCKS5 entry and nc as its ProxyCommand.
func TestProxyEntrySSH(t *testing.T) {
	for _, bin := range []string{"ssh", "sshd", "ssh-keygen", "nc"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (apt-get install openssh-client openssh-server netcat-openbsd)", bin)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("sshd needs root here (it checks its privilege separation setup)")
	}
	sshdAddr, clientKey := startSSHD(t)
	r := startRendezvous(t, "")
	startNode(t, r, nodeOpts{Name: "home", Serve: []string{"722=" + sshdAddr + ",name=ssh"}})
	socks := freeAddr(t)
	startNode(t, r, nodeOpts{Name: "office", Extra: []string{"--socks5", socks}})
	host, port, _ := net.SplitHostPort(socks)
	var out []byte
	waitUntil(t, 60*time.Second, func() error {
		cmd := exec.Command("ssh", "-F", "none", "-i", clientKey, "-o", "BatchMode=yes",
			"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=20",
			"-o", "ProxyCommand=nc -X 5 -x "+host+":"+port+" %h %p",
			"root@ssh.home.mesh", "echo", "hello-over-the-mesh")
		var err error
		out, err = cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "hello-over-the-mesh") {
			return fmt.Errorf("ssh: %v: %s", err, out)
		}
		return nil
	})
}

// startSSHD runs sshd on a loopback port with throwaway keys: the client key
// may log in as root. It returns sshd's address and the client key's file.
func startSSHD(t *testing.T) (addr, clientKey string) {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	for _, k := range []string{key + "-host", key + "-client"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(key + "-client.pub")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	addr = freeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(dir, "sshd_config")
	os.WriteFile(conf, []byte(fmt.Sprintf(`ListenAddress %s
Port %s
HostKey %s-host
AuthorizedKeysFile %s/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile none
`, host, port, key, dir)), 0o600)
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", conf)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("sshd:\n%s", log.String())
		}
	})
	waitUntil(t, 10*time.Second, func() error {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	})
	return addr, key + "-client"
}

// udpAssociate opens a SOCKS5 UDP association and returns its control
// connection and relay address.
func udpAssociate(t *testing.T, socks string) (net.Conn, *net.UDPAddr) {
	t.Helper()
	c, err := net.Dial("tcp", socks)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte{5, 1, 0})
	var m [2]byte
	if _, err := c.Read(m[:]); err != nil || m != [2]byte{5, 0} {
		t.Fatalf("SOCKS5 greeting: %v %v", m, err)
	}
	c.Write([]byte{5, 3, 0, 1, 0, 0, 0, 0, 0, 0})
	var rep [10]byte
	if _, err := c.Read(rep[:]); err != nil || rep[1] != 0 {
		t.Fatalf("UDP ASSOCIATE reply %v %v", rep, err)
	}
	c.SetDeadline(time.Time{})
	return c, &net.UDPAddr{IP: net.IP(rep[4:8]), Port: int(rep[8])<<8 | int(rep[9])}
}

// socksUDP is a SOCKS5 UDP request header for host:port and msg.
func socksUDP(host string, port int, msg string) []byte {
	b := []byte{0, 0, 0, 3, byte(len(host))}
	b = append(b, host...)
	b = append(b, byte(port>>8), byte(port))
	return append(b, msg...)
}
