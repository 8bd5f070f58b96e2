package e2e

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/proxy"

	"github.com/meshnode/meshnode/internal/meshproc"
	"github.com/meshnode/meshnode/pkg/control/api"
)

// adhocServices lists the ad-hoc services n serves.
func adhocServices(t *testing.T, n *meshproc.Node) []api.LocalService {
	t.Helper()
	st, err := n.Ctl.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []api.LocalService
	for _, s := range st.Services {
		if s.Origin == api.OriginAdhoc {
			out = append(out, s)
		}
	}
	return out
}

// TestAdhoc: a member maps a target home never declared, when home allows
// it; refusals say why (not allowed, not loopback, quota, nothing
// listening); `services` marks the ad-hoc service and who asked.
func TestAdhoc(t *testing.T) {
	jupyter, other := startEcho(t), startEcho(t)
	r := startRendezvous(t, "")
	home := startNode(t, r, nodeOpts{Name: "home", Extra: []string{"--allow-adhoc"}})
	closed := startNode(t, r, nodeOpts{Name: "closed"}) // allow-adhoc off
	socks := freeAddr(t)
	office := startNode(t, r, nodeOpts{Name: "office", Extra: []string{"--socks5", socks}})
	if err := office.WaitPeersUp(context.Background(), 2); err != nil {
		t.Fatal(err)
	}

	// Allowed: bytes flow through a local port.
	out, err := cli(office, "map", jupyter.addr()+"@home", "0")
	if err != nil {
		t.Fatalf("map ad-hoc: %v: %s", err, out)
	}
	listen := regexp.MustCompile(`mapped (\S+)/tcp`).FindStringSubmatch(out)
	if listen == nil {
		t.Fatalf("map output %q", out)
	}
	if err := tryEcho(listen[1], "hello jupyter"); err != nil {
		t.Fatal(err)
	}
	waitLog(t, home.Proc, regexp.MustCompile(`ad-hoc service granted" serveid=\d+ target=`+regexp.QuoteMeta(jupyter.addr())+` proto=tcp asked_by="office`), 10*time.Second)
	ah := adhocServices(t, home)
	if len(ah) != 1 || ah[0].Target != jupyter.addr() || !ah[0].AdHoc || !strings.Contains(ah[0].Ref, "office") {
		t.Fatalf("home's ad-hoc services: %+v", ah)
	}
	if out, err := cli(home, "serve", "ls"); err != nil || !regexp.MustCompile(`ad-hoc \((expires in \d+m\d+s|in use)\).*adhoc asked by office`).MatchString(out) {
		t.Errorf("home's serve ls does not mark the ad-hoc service: %v\n%s", err, out)
	}
	waitUntil(t, 10*time.Second, func() error {
		out, err := cli(office, "services")
		if err != nil || !strings.Contains(out, "ad-hoc "+jupyter.addr()+" for office") {
			return fmt.Errorf("office's services do not show the ad-hoc one: %v\n%s", err, out)
		}
		return nil
	})

	// The same target by name through the SOCKS5 entry: the grant is reused.
	_, port, _ := net.SplitHostPort(jupyter.addr())
	sd, err := proxy.SOCKS5("tcp", socks, nil, proxy.Direct)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sd.Dial("tcp", "home.adhoc.mesh:"+port)
	if err != nil {
		t.Fatalf("SOCKS5 to home.adhoc.mesh:%s: %v", port, err)
	}
	echoOnce(t, c, "through the entry")
	c.Close()
	if _, err := sd.Dial("tcp", "closed.adhoc.mesh:"+port); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Errorf("SOCKS5 to a node that refuses ad-hoc access: %v, want a not-allowed reply", err)
	}

	for _, tc := range []struct {
		name, target, want string
	}{
		{"not allowed", other.addr() + "@closed", "not allowed: node closed does not allow ad-hoc access"},
		{"not loopback", "192.0.2.1:22@home", "not loopback: node home allows ad-hoc access to its loopback only"},
		{"quota", other.addr() + "@home", "quota full: node home has 1 ad-hoc services, its adhoc-max"},
		{"nothing listening", freeAddr(t) + "@home", "nothing listening at"},
		{"no such node", other.addr() + "@nowhere", `no node "nowhere"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := cli(office, "map", tc.target, "0")
			if err == nil || !strings.Contains(out, tc.want) {
				t.Fatalf("map %s: %v %q; want %q", tc.target, err, out, tc.want)
			}
		})
	}
	_ = closed
}

// TestAdhocExpiry: an ad-hoc service never used goes after the unused
// expiry; one that was used goes the idle expiry after its last connection
// closed, not while one is open; a mapping asks again and works after that.
func TestAdhocExpiry(t *testing.T) {
	echo := startEcho(t)
	r := startRendezvous(t, "")
	home := startNode(t, r, nodeOpts{Name: "home", Extra: []string{"--allow-adhoc", "--adhoc-max", "2",
		"--adhoc-unused-expiry", "2s", "--adhoc-idle-expiry", "3s"}})
	office := startNode(t, r, nodeOpts{Name: "office"})
	ctx := context.Background()
	if err := office.WaitPeersUp(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// Never used: gone after 2 s.
	if _, err := office.Ctl.AddMapping(ctx, api.MappingRequest{Target: "127.0.0.1:9@home", Proto: "udp"}); err != nil {
		t.Fatal(err)
	}
	waitLog(t, home.Proc, regexp.MustCompile(`ad-hoc service expired" .*why="never used"`), 15*time.Second)

	// Used: stays while a connection is open, goes 3 s after it closed.
	mi, err := office.Ctl.AddMapping(ctx, api.MappingRequest{Target: echo.addr() + "@home"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", mi.Listen)
	if err != nil {
		t.Fatal(err)
	}
	echoOnce(t, c, "open")
	time.Sleep(4 * time.Second) // past both expiries, with the connection open
	if len(adhocServices(t, home)) != 1 {
		t.Fatalf("the ad-hoc service went while a connection was open: %+v", adhocServices(t, home))
	}
	echoOnce(t, c, "still open")
	c.Close()
	waitLog(t, home.Proc, regexp.MustCompile(`ad-hoc service expired" .*why="idle since its last connection closed"`), 15*time.Second)
	if n := len(adhocServices(t, home)); n != 0 {
		t.Fatalf("%d ad-hoc services left", n)
	}
	// The mapping asks again on its next connection.
	if err := tryEcho(mi.Listen, "granted again"); err != nil {
		t.Fatal(err)
	}
}
