package overlay

import (
	"strings"
	"testing"

	"github.com/meshnode/meshnode/pkg/identity"
)

func testNode(t *testing.T, services ...Service) *Node {
	t.Helper()
	k, err := identity.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{Group: "g", Secret: "a-long-enough-secret", Rendezvous: "127.0.0.1:9", Name: "self", Key: k, Services: services})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func peerKey(t *testing.T) identity.PublicKey {
	k, err := identity.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.Public()
}

func TestResolve(t *testing.T) {
	n := testNode(t, Service{ID: 5, Name: "mine", Proto: "tcp", Target: "127.0.0.1:1"})
	p1, p2 := peerKey(t), peerKey(t)
	n.catalog.update(p1, "office", catalogMsg{Version: 1, Services: []Service{{ID: 700, Name: "ssh", Proto: "tcp"}, {ID: 800, Name: "web", Proto: "tcp"}}})
	n.catalog.update(p2, "home", catalogMsg{Version: 1, Services: []Service{{ID: 800, Name: "web", Proto: "tcp"}}})
	for _, tc := range []struct {
		target    string
		wantPeer  *identity.PublicKey
		wantLocal bool
		wantErr   string
	}{
		{target: "700", wantPeer: &p1},
		{target: "5", wantLocal: true},
		{target: "mine@self", wantLocal: true},
		{target: "ssh@office", wantPeer: &p1},
		{target: "web@home", wantPeer: &p2},
		{target: "web@" + p2.String()[:6], wantPeer: &p2},
		{target: "800", wantErr: "served by 2 nodes"},
		{target: "900", wantErr: "unknown serveid 900"},
		{target: "ssh@home", wantErr: `no service named "ssh" on a node "home"`},
	} {
		tg, err := parseTarget(tc.target)
		if err != nil {
			t.Fatalf("%s: %v", tc.target, err)
		}
		r, err := n.resolve(tg)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: %v, want %q", tc.target, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.target, err)
		case tc.wantLocal != (r.local != nil):
			t.Errorf("%s: local=%v", tc.target, r.local != nil)
		case tc.wantPeer != nil && r.owner.peer != *tc.wantPeer:
			t.Errorf("%s: owner %s", tc.target, r.owner.peer.Short())
		}
	}
}

func TestCatalogVersions(t *testing.T) {
	c := newCatalog()
	p := peerKey(t)
	if !c.update(p, "n", catalogMsg{Version: 5, Services: []Service{{ID: 1, Proto: "tcp"}}}) {
		t.Fatal("first update refused")
	}
	if c.update(p, "n", catalogMsg{Version: 4}) {
		t.Fatal("an older catalog replaced a newer one")
	}
	ch := c.wait()
	if !c.update(p, "n", catalogMsg{Version: 6}) {
		t.Fatal("newer update refused")
	}
	select {
	case <-ch:
	default:
		t.Fatal("waiters not woken by a change")
	}
	c.remove(p)
	if got := c.find(func(identity.PublicKey, string, Service) bool { return true }); len(got) != 0 {
		t.Fatalf("removed peer still listed: %v", got)
	}
}

func TestParseTargetErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "want SERVEID"},
		{"@x", "want SERVEID or NAME@NODE"},
		{"ssh@", "want SERVEID or NAME@NODE"},
		{"s h@x", "only letters"},
		{"1000", "out of range"},
	} {
		if _, err := parseTarget(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	k, _ := identity.GeneratePrivateKey()
	good := Config{Group: "g", Secret: "a-long-enough-secret", Rendezvous: "127.0.0.1:9", Name: "n", Key: k}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"group", func(c *Config) { c.Group = "" }, "group name is empty"},
		{"secret", func(c *Config) { c.Secret = "x" }, "too short"},
		{"rendezvous", func(c *Config) { c.Rendezvous = "nope" }, "rendezvous address"},
		{"key", func(c *Config) { c.Key = identity.PrivateKey{} }, "no node key"},
		{"name", func(c *Config) { c.Name = "a b" }, "node name"},
		{"dup service", func(c *Config) {
			c.Services = []Service{{ID: 1, Proto: "tcp", Target: "h:1"}, {ID: 1, Proto: "tcp", Target: "h:2"}}
		}, "already served"},
	} {
		cfg := good
		tc.mod(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
