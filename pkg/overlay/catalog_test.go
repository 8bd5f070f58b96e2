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
	n.catalog.merge(catalogEntry{Owner: p1, Name: "office", Version: 1, Services: []Service{{ID: 700, Name: "ssh", Proto: "tcp"}, {ID: 800, Name: "web", Proto: "tcp"}}})
	n.catalog.merge(catalogEntry{Owner: p2, Name: "home", Version: 1, Services: []Service{{ID: 800, Name: "web", Proto: "tcp"}}})
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

func TestCatalogVersionsAndFences(t *testing.T) {
	c := newCatalog()
	p := peerKey(t)
	entry := func(v uint64) catalogEntry {
		return catalogEntry{Owner: p, Name: "n", Version: v, Services: []Service{{ID: 1, Proto: "tcp"}}}
	}
	if !c.merge(entry(5)) {
		t.Fatal("first entry refused")
	}
	if c.merge(entry(4)) || c.merge(entry(5)) {
		t.Fatal("an entry not newer than the held one was taken")
	}
	ch := c.wait()
	if !c.merge(entry(6)) {
		t.Fatal("newer entry refused")
	}
	select {
	case <-ch:
	default:
		t.Fatal("waiters not woken by a change")
	}
	c.remove(p)
	if got := c.find(func(identity.PublicKey, string, Service) bool { return true }); len(got) != 0 {
		t.Fatalf("removed owner still listed: %v", got)
	}
	if c.merge(entry(6)) {
		t.Fatal("stale gossip of a departed owner brought it back")
	}
	if !c.merge(entry(7)) {
		t.Fatal("the departed owner's newer entry (it restarted) refused")
	}
	c.remove(p)
	c.unfence(p)
	if !c.merge(entry(7)) {
		t.Fatal("an unfenced owner's entry refused")
	}
}

func TestClaimWins(t *testing.T) {
	a, b := peerKey(t), peerKey(t)
	if b.Less(a) {
		a, b = b, a
	}
	early, late := Service{ID: 3, Claimed: 100}, Service{ID: 3, Claimed: 200}
	for _, tc := range []struct {
		x, y   Service
		xo, yo identity.PublicKey
		want   bool
	}{
		{early, late, b, a, true},  // earlier claim wins, whatever the key
		{late, early, a, b, false}, // and loses the other way round
		{early, early, a, b, true}, // tie: lower key
		{early, early, b, a, false},
	} {
		if got := claimWins(tc.x, tc.xo, tc.y, tc.yo); got != tc.want {
			t.Errorf("claimWins(%d@%s, %d@%s) = %v", tc.x.Claimed, tc.xo.Short(), tc.y.Claimed, tc.yo.Short(), got)
		}
		if got := claimWins(tc.y, tc.yo, tc.x, tc.xo); got == tc.want {
			t.Errorf("claimWins is not antisymmetric for %+v", tc)
		}
	}
}

func TestParseTargetErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "want SERVEID"},
		{"@x", "want SERVEID, NAME@NODE or IP:PORT@NODE"},
		{"localhost:80@x", "want IP:PORT@NODE"},
		{"127.0.0.1:0@x", "want IP:PORT@NODE"},
		{"ssh@", "want SERVEID, NAME@NODE or IP:PORT@NODE"},
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
		{"rendezvous", func(c *Config) { c.Rendezvous = "nope" }, `tcp transport: address "nope": want host:port`},
		{"rendezvous URL over tcp", func(c *Config) { c.Rendezvous = "wss://vps/r" }, "need the websocket transport"},
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
