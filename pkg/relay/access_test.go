package relay

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
)

// keysFile builds an AuthKeys set from lines "KEY fields...", where KEY is
// replaced by the encoding of the matching secret.
func keysFile(t *testing.T, lines ...string) *AuthKeys {
	t.Helper()
	ks, err := ParseAuthKeys("test-keys", strings.Join(lines, "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func newAuthKey(t *testing.T) AuthSecret {
	t.Helper()
	k, err := GenerateAuthKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestAuthKeys: a server with keys admits only nodes that prove a valid key for
// their group, refuses the others with the reason, relays nothing for them, and
// never sees a key in clear.
func TestAuthKeys(t *testing.T) {
	checkGoroutines(t)
	good, expired, homeOnly, unknown := newAuthKey(t), newAuthKey(t), newAuthKey(t), newAuthKey(t)
	ks := keysFile(t,
		"# test keys",
		good.Encode()+" label=alice",
		expired.Encode()+" label=old expires=2020-01-01",
		homeOnly.Encode()+" label=bob groups=home,lab",
	)
	srv := startServer(t, ServerConfig{AuthKeys: ks}, "")
	withKey := func(k *AuthSecret) func(*ClientConfig) {
		return func(c *ClientConfig) { c.AuthKey = k }
	}
	a := startClient(t, srv.addr, "home", "alice", withKey(&good))
	a.waitState(t, true)
	srv.log.waitLog(t, `msg="node joined"`, short(a.pub), "auth=alice")
	b := startClient(t, srv.addr, "home", "bob", withKey(&homeOnly))
	b.waitState(t, true)
	a.waitEvent(t, PeerJoined, b.pub)

	for _, tc := range []struct {
		name, group string
		key         *AuthSecret
		code        Code
		client      string // in the client's log
		server      string // in the server's log
	}{
		{"no key", "home", nil, CodeNoAuthKey, "no auth key: this rendezvous admits only nodes with an auth key", "reason=\"no auth key\""},
		{"unknown key", "home", &unknown, CodeBadAuthKey, "bad auth key: unknown auth key", "unknown auth key id " + unknown.ID().String()},
		{"expired key", "home", &expired, CodeAuthKeyExpired, "auth key expired at 2020-01-01T00:00:00Z", "auth key old expired"},
		{"key for other groups", "office", &homeOnly, CodeAuthKeyGroup, "auth key not valid for this group", "auth key bob is not valid for group " + identity.DeriveGroupID("office").Short()},
	} {
		before := srv.Stats()
		c := startClient(t, srv.addr, tc.group, tc.name, withKey(tc.key))
		line := c.log.waitLog(t, "level=ERROR", `msg="the rendezvous refused this node"`, tc.client)
		if !strings.Contains(line, "retry_in=200ms") {
			t.Errorf("%s: a permanent refusal does not back off to the maximum: %s", tc.name, line)
		}
		srv.log.waitLog(t, "connection rejected", tc.server)
		waitFor(t, "the refusal counted", func() bool { return srv.Stats().RejectedAuth > before.RejectedAuth })
		if st := c.Status(); st.Refused != tc.code || st.Connected {
			t.Errorf("%s: status %+v, want refused %v", tc.name, st, tc.code)
		}
		// It keeps trying, slowly, and says so once.
		time.Sleep(450 * time.Millisecond)
		if n := strings.Count(c.log.String(), `msg="the rendezvous refused this node"`); n != 1 {
			t.Errorf("%s: refusal logged %d times", tc.name, n)
		}
		// Nothing it could send was relayed.
		if err := c.Send(a.pub, []byte("let me in")); !errors.Is(err, ErrNotConnected) {
			t.Errorf("%s: Send = %v", tc.name, err)
		}
		if st := srv.Stats(); st.FramesRelayed != before.FramesRelayed || st.Conns != 2 {
			t.Errorf("%s: stats %+v", tc.name, st)
		}
		c.stop()
	}
	a.noEvents(t)

	// The valid keys relay as usual.
	a.sendRetry(t, b.pub, []byte("hi bob"))
	if got := b.waitPacket(t); string(got.payload) != "hi bob" {
		t.Fatalf("b got %q", got.payload)
	}
	// No log line holds a key.
	for _, k := range []AuthSecret{good, expired, homeOnly, unknown} {
		for _, log := range []string{srv.log.String(), a.log.String(), b.log.String()} {
			if strings.Contains(log, k.Encode()) || strings.Contains(log, k.Encode()[len(authKeyPrefix):]) {
				t.Fatal("a log shows an auth key")
			}
		}
	}
}

// TestAuthKeysReload: removing a key disconnects its nodes with the reason;
// narrowing a key's groups disconnects nodes of the others; an open server that
// gets keys disconnects nodes without one; the rest stay.
func TestAuthKeysReload(t *testing.T) {
	checkGoroutines(t)
	k1, k2 := newAuthKey(t), newAuthKey(t)
	srv := startServer(t, ServerConfig{}, "")
	if !srv.OpenAccess() {
		t.Fatal("a server without keys is not open")
	}
	open := startClient(t, srv.addr, "home", "open", nil)
	one := startClient(t, srv.addr, "home", "one", func(c *ClientConfig) { c.AuthKey = &k1 })
	two := startClient(t, srv.addr, "office", "two", func(c *ClientConfig) { c.AuthKey = &k2 })
	for _, c := range []*testClient{open, one, two} {
		c.waitState(t, true)
	}

	// An open server does not check keys, so every node joined without one.
	if n := srv.SetAuthKeys(keysFile(t, k1.Encode()+" label=one", k2.Encode()+" label=two")); n != 3 {
		t.Fatalf("SetAuthKeys disconnected %d nodes, want 3", n)
	}
	open.log.waitLog(t, "the rendezvous closed the connection: no auth key: the rendezvous now requires an auth key")
	srv.log.waitLog(t, `msg="disconnecting node"`, short(open.pub))
	// Those with a key come back at once; the other is refused for good.
	open.log.waitLog(t, "level=ERROR", "the rendezvous refused this node", "no auth key")
	waitFor(t, "one and two back", func() bool { return srv.Stats().Conns == 2 })

	if n := srv.SetAuthKeys(keysFile(t, k2.Encode()+" label=two groups=home")); n != 2 {
		t.Fatalf("SetAuthKeys disconnected %d nodes, want 2", n)
	}
	one.log.waitLog(t, "auth key one was revoked")
	two.log.waitLog(t, "auth key two is no longer valid for this group")
	waitFor(t, "no nodes left", func() bool { return srv.Stats().Conns == 0 })
	// Revoked: refused at the next attempt too, as a permanent refusal.
	one.log.waitLog(t, "level=ERROR", "the rendezvous refused this node", "bad auth key")
	if st := one.Status(); st.Refused != CodeBadAuthKey {
		t.Fatalf("status %+v", st)
	}
}

// TestWrongSecretSeesNobody: nodes of one group name with different secrets land
// in different namespaces: they see no presence and cannot reach each other,
// and the server tells each how many use the name with another secret.
func TestWrongSecretSeesNobody(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, ServerConfig{}, "")
	a := startClient(t, srv.addr, "home", "alice", nil)
	b := startClient(t, srv.addr, "home", "bob", nil)
	a.waitEvent(t, PeerJoined, b.pub)
	b.waitEvent(t, PeerJoined, a.pub)

	infos := make(chan GroupInfo, 10)
	m := startClient(t, srv.addr, "home", "mallory", func(c *ClientConfig) {
		c.Group = testGroupSecret(t, "home", "not-the-secret")
		c.OnGroupInfo = func(gi GroupInfo) { infos <- gi }
	})
	m.waitState(t, true)
	select {
	case gi := <-infos:
		if gi.Others != 2 {
			t.Fatalf("GroupInfo %+v, want 2 others", gi)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no GroupInfo for a node whose secret differs")
	}
	if st := m.Status(); st.OthersInGroup != 2 {
		t.Fatalf("status %+v", st)
	}
	// The members hear it once (they are told at most once a minute).
	waitFor(t, "members told", func() bool { return a.Status().OthersInGroup == 1 && b.Status().OthersInGroup == 1 })
	m.noEvents(t)
	if p := m.Peers(); len(p) != 0 {
		t.Fatalf("mallory sees %v", p)
	}
	a.noEvents(t)

	dropped := srv.Stats().DroppedUnknownDst
	m.sendRetry(t, a.pub, []byte("knock knock"))
	waitFor(t, "the drop to be counted", func() bool { return srv.Stats().DroppedUnknownDst == dropped+1 })
	select {
	case p := <-a.packets:
		t.Fatalf("alice got %q from another namespace", p.payload)
	default:
	}
	if st := srv.Stats(); st.Groups != 2 || st.FramesRelayed != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestNodeKeyClash: a second process with the same node key is refused with an
// error that names the first connection, while the first keeps its place; when
// the first goes away, the second gets in.
func TestNodeKeyClash(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, ServerConfig{ClashProbe: time.Second}, "")
	peer := startClient(t, srv.addr, "home", "peer", nil)
	peer.waitState(t, true)
	key := newKey(t)
	first := startClient(t, srv.addr, "home", "first", func(c *ClientConfig) { c.Key = key })
	first.waitState(t, true)
	peer.waitEvent(t, PeerJoined, first.pub)

	clone := startClient(t, srv.addr, "home", "clone", func(c *ClientConfig) { c.Key = key })
	line := clone.log.waitLog(t, "level=ERROR", "the rendezvous refused this node", "node key already connected from 127.0.0.1:")
	if !strings.Contains(line, "a copied state dir or a cloned machine?") {
		t.Fatalf("the clash error does not explain itself: %s", line)
	}
	if st := clone.Status(); st.Refused != CodeNodeKeyInUse {
		t.Fatalf("clone status %+v", st)
	}
	if srv.Stats().Clashes == 0 {
		t.Fatal("clash not counted")
	}
	// No flapping: the first is still connected, and the peer saw nothing.
	time.Sleep(500 * time.Millisecond)
	select {
	case st := <-first.states:
		t.Fatalf("the first process changed state: %+v", st)
	default:
	}
	peer.noEvents(t)
	first.sendRetry(t, peer.pub, []byte("still me"))
	if got := peer.waitPacket(t); string(got.payload) != "still me" {
		t.Fatal("relay broken")
	}

	// The first one goes; the clone gets in at its next (slow) attempt.
	first.stop()
	peer.waitEvent(t, PeerLeft, key.Public())
	clone.waitState(t, true)
	peer.waitEvent(t, PeerJoined, key.Public())
}

// TestHandshakeEviction: past MaxHandshaking, the longest-handshaking connection
// is evicted, so stalled handshakes (slowloris) cannot keep a real node out.
func TestHandshakeEviction(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, ServerConfig{MaxHandshaking: 8}, "")
	// Ten stalled handshakes: the first two are evicted to make room.
	for range 10 {
		dialRaw(t, srv.addr)
	}
	waitFor(t, "two evictions", func() bool { return srv.Stats().Evicted == 2 })
	srv.log.waitLog(t, "connection rejected", "evicted: 8 connections were handshaking and this one was the oldest")
	// A real node still joins at once (evicting another stalled one).
	a := startClient(t, srv.addr, "home", "alice", nil)
	a.waitState(t, true)
	if st := srv.Stats(); st.Handshaking != 7 || st.Evicted != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPerIPLimit: one address gets at most MaxConnsPerIP connections, joined or
// not; the next is refused with the reason; a slot frees when one leaves.
func TestPerIPLimit(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, ServerConfig{MaxConnsPerIP: 3}, "")
	a := startClient(t, srv.addr, "home", "alice", nil)
	a.waitState(t, true)
	joinRaw(t, srv.addr, "home", identity.PrivateKey{})
	stalled := dialRaw(t, srv.addr)
	waitFor(t, "3 connections", func() bool { st := srv.Stats(); return st.Conns+st.Handshaking == 3 })
	rc := dialRaw(t, srv.addr)
	if msg := rc.expectClosed(t); msg != "too many connections from 127.0.0.1 (the limit is 3 per address)" {
		t.Fatalf("Error %q", msg)
	}
	srv.log.waitLog(t, "connection rejected", "too many connections from 127.0.0.1")
	stalled.Close()
	waitFor(t, "a free slot", func() bool { st := srv.Stats(); return st.Conns+st.Handshaking == 2 })
	joinRaw(t, srv.addr, "home", identity.PrivateKey{})
	if !a.Status().Connected {
		t.Fatal("a joined node lost its place")
	}
}

// TestGroupMemberCap: a group holds at most MaxGroupMembers nodes.
func TestGroupMemberCap(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, ServerConfig{MaxGroupMembers: 2}, "")
	joinRaw(t, srv.addr, "home", identity.PrivateKey{})
	joinRaw(t, srv.addr, "home", identity.PrivateKey{})
	c := startClient(t, srv.addr, "home", "third", nil)
	c.log.waitLog(t, "rendezvous connection failed", "group full: the group has 2 members, the most this rendezvous allows")
	// Other groups are not affected.
	d := startClient(t, srv.addr, "office", "other", nil)
	d.waitState(t, true)
}

// TestRefusalLogRateLimited: a client refused in a loop costs one log line per
// interval, and a summary counts the rest.
func TestRefusalLogRateLimited(t *testing.T) {
	lb := &logBuf{}
	r := refusalLog{every: 200 * time.Millisecond}
	src := netip.MustParseAddr("10.0.0.1")
	for i := range 50 {
		r.log(lb.logger(), src, "connection rejected", "n", i)
	}
	r.log(lb.logger(), netip.MustParseAddr("10.0.0.2"), "connection rejected", "n", "other")
	if n := strings.Count(lb.String(), "connection rejected"); n != 2 {
		t.Fatalf("%d lines for 51 refusals from 2 sources:\n%s", n, lb.String())
	}
	time.Sleep(250 * time.Millisecond)
	r.log(lb.logger(), src, "connection rejected", "n", "later")
	lb.waitLog(t, "refused connections not logged since the last summary", "count=49")
	lb.waitLog(t, "connection rejected", "n=later")
}
