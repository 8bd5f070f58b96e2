package relay

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
)

func TestRelayWithinGroupOnly(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, ServerConfig{}, "")
	a := startClient(t, srv.addr, "home", "alice", nil)
	a.waitState(t, true)
	b := startClient(t, srv.addr, "home", "bob", nil)
	b.waitState(t, true)
	c := startClient(t, srv.addr, "office", "carol", nil)
	c.waitState(t, true)

	a.waitEvent(t, PeerJoined, b.pub)
	b.waitEvent(t, PeerJoined, a.pub)
	if p := a.Peers(); len(p) != 1 || p[0] != b.pub {
		t.Fatalf("a.Peers() = %+v", p)
	}
	srv.log.waitLog(t, "level=INFO", `msg="node joined"`, "group="+identity.DeriveGroupID("home").Short(),
		"gk="+testGroup(t, "home").Key.Short(), short(a.pub), "remote=127.0.0.1:")

	// Datagrams both ways, byte-identical, all sizes up to the limit.
	for _, n := range []int{0, 1, 1350, 4000, MaxDatagramLen} {
		p := payload(n, byte(n))
		a.sendRetry(t, b.pub, p)
		if got := b.waitPacket(t); got.src != a.pub || !bytes.Equal(got.payload, p) {
			t.Fatalf("a->b %d bytes: got %d bytes from %s", n, len(got.payload), got.src.Short())
		}
		b.sendRetry(t, a.pub, p)
		if got := a.waitPacket(t); got.src != b.pub || !bytes.Equal(got.payload, p) {
			t.Fatalf("b->a %d bytes: got %d bytes from %s", n, len(got.payload), got.src.Short())
		}
	}
	if err := a.Send(b.pub, make([]byte, MaxDatagramLen+1)); !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("oversized Send: %v", err)
	}

	// carol (another group) cannot reach them; the server drops and counts it.
	dropped := srv.Stats().DroppedUnknownDst
	c.sendRetry(t, a.pub, []byte("hello from office"))
	waitFor(t, "the drop to be counted", func() bool { return srv.Stats().DroppedUnknownDst == dropped+1 })
	select {
	case p := <-a.packets:
		t.Fatalf("a received %q from %s across groups", p.payload, p.src.Short())
	default:
	}
	// ... and sees neither their presence nor their traffic.
	c.noEvents(t)
	if p := c.Peers(); len(p) != 0 {
		t.Fatalf("carol sees %+v", p)
	}
	select {
	case p := <-c.packets:
		t.Fatalf("carol received %d bytes", len(p.payload))
	default:
	}

	st := srv.Stats()
	if st.Groups != 2 || st.Conns != 3 || st.FramesRelayed != 10 {
		t.Fatalf("stats %+v", st)
	}
	if s := a.Status(); !s.Connected || s.PacketsOut != 5 || s.PacketsIn != 5 || s.BytesIn != uint64(1+1350+4000+MaxDatagramLen) {
		t.Fatalf("a.Status() = %+v", s)
	}

	// bob leaves: alice learns it.
	b.stop()
	a.waitEvent(t, PeerLeft, b.pub)
	srv.log.waitLog(t, `msg="node left"`, short(b.pub), `reason="client closed the connection"`, "duration=")
}

func TestPresenceListAndPeersEnd(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, ServerConfig{}, "")
	a := startClient(t, srv.addr, "home", "alice", nil)
	b := startClient(t, srv.addr, "home", "bob", nil)
	a.waitEvent(t, PeerJoined, b.pub)
	b.waitEvent(t, PeerJoined, a.pub)

	rc := joinRaw(t, srv.addr, "home", identity.PrivateKey{})
	seen := map[identity.PublicKey]bool{}
	for {
		typ, body := rc.next(t)
		if typ == framePeersEnd {
			break
		}
		if typ != framePeerPresent {
			t.Fatalf("got %v before PeersEnd", typ)
		}
		k, err := parsePeerPresent(body)
		if err != nil {
			t.Fatal(err)
		}
		seen[k] = true
	}
	if len(seen) != 2 || !seen[a.pub] || !seen[b.pub] {
		t.Fatalf("initial list %v", seen)
	}
	a.waitEvent(t, PeerJoined, rc.pub)
	b.waitEvent(t, PeerJoined, rc.pub)

	// Datagrams reach a raw member as Recv frames and it can answer.
	a.sendRetry(t, rc.pub, []byte("to raw"))
	typ, body := rc.next(t)
	src, p, err := parseDatagram(typ, body)
	if typ != frameRecv || err != nil || src != a.pub || string(p) != "to raw" {
		t.Fatalf("raw got %v %q from %s (%v)", typ, p, src.Short(), err)
	}
	rc.write(t, sendFrame(b.pub, []byte("from raw")))
	if got := b.waitPacket(t); got.src != rc.pub || string(got.payload) != "from raw" {
		t.Fatalf("b got %q", got.payload)
	}

	// A datagram to a node that is not in the group is answered with PeerGone.
	stranger := newKey(t).Public()
	rc.write(t, sendFrame(stranger, []byte("anyone?")))
	typ, body = rc.next(t)
	if k, err := parsePeerGone(body); typ != framePeerGone || err != nil || k != stranger {
		t.Fatalf("answer to an unknown dst: %v %x", typ, body)
	}

	rc.Close()
	a.waitEvent(t, PeerLeft, rc.pub)
	b.waitEvent(t, PeerLeft, rc.pub)
}

func TestBadProofRejected(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, ServerConfig{}, "")
	a := startClient(t, srv.addr, "home", "alice", nil)
	b := startClient(t, srv.addr, "home", "bob", nil)
	a.waitEvent(t, PeerJoined, b.pub)
	b.waitEvent(t, PeerJoined, a.pub)

	// mallory claims alice's key but signs with her own.
	rc := dialRaw(t, srv.addr)
	rc.write(t, []byte(Magic))
	typ, body := rc.next(t)
	sh, err := parseServerHello(body)
	if typ != frameServerHello || err != nil {
		t.Fatalf("%v %v", typ, err)
	}
	mallory := newKey(t)
	dh, _ := mallory.SharedSecret(sh.ephPub)
	home := testGroup(t, "home")
	ch := clientHello{version: ProtocolVersion, group: home.ID, groupKey: home.Key, key: a.pub}
	ch.proof = computeProof(dh, &sh.challenge, &ch)
	ch.groupSig, _ = home.SignAdmission(admissionMessage(&sh.challenge, &ch.key, &ch.group))
	rc.write(t, appendClientHello(nil, ch))
	if msg := rc.expectClosed(t); !strings.Contains(msg, "authentication failed") {
		t.Fatalf("Error = %q", msg)
	}
	srv.log.waitLog(t, "level=WARN", `msg="connection rejected"`, "remote="+rc.LocalAddr().String(), "bad proof for node "+a.pub.Short())

	// alice is still the member, and relaying goes on.
	a.noEvents(t)
	b.noEvents(t)
	a.sendRetry(t, b.pub, []byte("still here"))
	if got := b.waitPacket(t); got.src != a.pub {
		t.Fatal("wrong source")
	}
	if srv.Stats().Rejected != 1 {
		t.Fatalf("stats %+v", srv.Stats())
	}
}

func TestVersionMismatch(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, ServerConfig{}, "")
	rc := dialRaw(t, srv.addr)
	rc.write(t, []byte(Magic))
	rc.next(t)
	rc.write(t, cat(hdr(frameClientHello, 3), []byte{0, 3, 0}))
	if msg := rc.expectClosed(t); msg != "protocol version mismatch: server 2, client 3" {
		t.Fatalf("Error = %q", msg)
	}
	srv.log.waitLog(t, "level=WARN", "connection rejected", "protocol version mismatch: server 2, client 3")

	// The client side: a server that speaks version 3.
	ln := fakeServer(t, func(fs *fakeConn) {
		fs.readMagic()
		fs.write(cat(hdr(frameServerHello, 3), []byte{0, 3, 0}))
	})
	c := startClient(t, ln, "home", "alice", nil)
	c.log.waitLog(t, "level=WARN", `msg="rendezvous connection failed"`, `err="protocol version mismatch: server 3, client 2"`, "retry_in=")
}

func TestGarbageClosesOnlyThatConnection(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, ServerConfig{}, "")
	a := startClient(t, srv.addr, "home", "alice", nil)
	b := startClient(t, srv.addr, "home", "bob", nil)
	a.waitEvent(t, PeerJoined, b.pub)
	b.waitEvent(t, PeerJoined, a.pub)

	// Before the handshake.
	for _, tc := range []struct{ name, send, log string }{
		{"http", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "looks like HTTP"},
		{"tls", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc", "starts a TLS handshake"},
		{"junk", "hello world", `bad magic \"hello wo\"`},
		{"oversized hello", Magic + string(hdr(frameClientHello, 1000)), "ClientHello frame of 1000 bytes exceeds"},
		{"short hello", Magic + string(hdr(frameClientHello, 3)) + "\x00\x02\x00", "ClientHello is 3 bytes, want 242"},
		{"wrong frame", Magic + string(hdr(frameSend, 0)), "expected a ClientHello, got Send"},
	} {
		rc := dialRaw(t, srv.addr)
		rc.write(t, []byte(tc.send))
		rc.expectClosed(t)
		srv.log.waitLog(t, "level=WARN", "connection rejected", "remote="+rc.LocalAddr().String(), tc.log)
	}

	// After joining.
	for _, tc := range []struct {
		name, log string
		send      []byte
	}{
		{"oversized frame", "Send frame of 70000 bytes exceeds the 65536-byte limit", hdr(frameSend, 70000)},
		{"unknown type", "unexpected type 0x05 frame from a client", hdr(0x05, 0)},
		{"server-only type", "unexpected PeerGone frame from a client", hdr(framePeerGone, 32)},
		{"short send", "Send of 3 bytes is shorter than a key", cat(hdr(frameSend, 3), []byte{1, 2, 3})},
		{"bad ping", "Ping is 2 bytes, want 8", cat(hdr(framePing, 2), []byte{1, 2})},
	} {
		rc := joinRaw(t, srv.addr, "home", identity.PrivateKey{})
		rc.write(t, tc.send)
		rc.expectClosed(t)
		srv.log.waitLog(t, "level=WARN", `msg="node left"`, short(rc.pub), tc.log)
	}

	// A frame cut short by the client closing.
	// (Read the presence list first: closing with unread data would reset the
	// connection and discard the partial frame.)
	rc := joinRaw(t, srv.addr, "home", identity.PrivateKey{})
	for typ := frameType(0); typ != framePeersEnd; typ, _ = rc.next(t) {
	}
	rc.write(t, cat(hdr(frameSend, 100), make([]byte, 40)))
	rc.Close()
	srv.log.waitLog(t, "level=WARN", `msg="node left"`, short(rc.pub), "in the middle of a frame")

	// Optional frame types are skipped; the connection keeps working.
	rc = joinRaw(t, srv.addr, "home", identity.PrivateKey{})
	rc.write(t, cat(hdr(0x90, 5), []byte("hint!"), hdr(framePing, 8), []byte("pingpong")))
	for {
		typ, body := rc.next(t)
		if typ == framePong {
			if string(body) != "pingpong" {
				t.Fatalf("pong %q", body)
			}
			break
		}
	}

	// a and b never noticed anything but joins and leaves.
	a.sendRetry(t, b.pub, []byte("ok"))
	if got := b.waitPacket(t); string(got.payload) != "ok" {
		t.Fatal("relay broken")
	}
	if !a.Status().Connected || !b.Status().Connected {
		t.Fatal("a well-behaved client lost its connection")
	}
}

func TestReplacedByNewerConnection(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, ServerConfig{}, "")
	b := startClient(t, srv.addr, "home", "bob", nil)
	b.waitState(t, true)

	key := newKey(t)
	old := joinRaw(t, srv.addr, "home", key)
	b.waitEvent(t, PeerJoined, key.Public())

	// Another process with the same key (another instance) while the raw one is
	// silent: the server probes the old connection, which does not answer its
	// Ping, and replaces it.
	a := startClient(t, srv.addr, "home", "alice", func(c *ClientConfig) { c.Key = key })
	a.waitState(t, true)
	msg := old.expectClosed(t)
	if !strings.HasPrefix(msg, "replaced by a newer connection from 127.0.0.1:") {
		t.Fatalf("old connection got Error %q", msg)
	}
	srv.log.waitLog(t, `msg="node left"`, short(a.pub), `reason="replaced by a newer connection from 127.0.0.1:`)
	srv.log.waitLog(t, `msg="replacing a connection that did not answer"`, short(a.pub))

	// The new connection relays; bob saw no leave/join pair.
	a.sendRetry(t, b.pub, []byte("new conn"))
	if got := b.waitPacket(t); got.src != a.pub || string(got.payload) != "new conn" {
		t.Fatalf("b got %q", got.payload)
	}
	b.noEvents(t)
	if p := b.Peers(); len(p) != 1 || p[0] != a.pub {
		t.Fatalf("b.Peers() = %+v", p)
	}
	if st := srv.Stats(); st.Conns != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMaxConns(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, ServerConfig{MaxConns: 2}, "")
	joinRaw(t, srv.addr, "home", identity.PrivateKey{})
	joinRaw(t, srv.addr, "home", identity.PrivateKey{})
	c := startClient(t, srv.addr, "home", "three", nil)
	c.log.waitLog(t, "rendezvous connection failed", `err="the rendezvous refused this node: server full (2 connections); try again later"`)
	srv.log.waitLog(t, "level=WARN", "connection rejected", "server full (2 connections")
	if srv.Stats().Rejected == 0 {
		t.Fatal("rejection not counted")
	}
}

func TestIdleTimeoutAndPings(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, ServerConfig{IdleTimeout: 300 * time.Millisecond}, "")
	// A client pinging every 100 ms stays; a silent raw connection is closed.
	a := startClient(t, srv.addr, "home", "alice", func(c *ClientConfig) { c.PingInterval = 100 * time.Millisecond })
	a.waitState(t, true)
	rc := joinRaw(t, srv.addr, "home", identity.PrivateKey{})
	start := time.Now()
	rc.expectClosed(t)
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("closed after %v, before the idle timeout", d)
	}
	srv.log.waitLog(t, "level=INFO", `msg="node left"`, short(rc.pub), "idle timeout: nothing received for 300ms")

	time.Sleep(400 * time.Millisecond)
	select {
	case st := <-a.states:
		t.Fatalf("pinging client changed state: %+v", st)
	default:
	}
	if st := a.Status(); !st.Connected || st.RTT <= 0 || st.RTT > time.Second {
		t.Fatalf("status %+v", st)
	}
}

func TestClientDetectsDeadServer(t *testing.T) {
	checkGoroutines(t)
	hold := make(chan struct{})
	defer close(hold)
	addr := fakeServer(t, func(fs *fakeConn) {
		fs.acceptHandshake()
		<-hold // then never say anything again
	})
	a := startClient(t, addr, "home", "alice", func(c *ClientConfig) { c.PingInterval = 100 * time.Millisecond })
	a.waitState(t, true)
	start := time.Now()
	st := a.waitState(t, false)
	if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
		t.Fatalf("declared dead after %v", d)
	}
	if st.Err == nil || !strings.Contains(st.Err.Error(), "no frame from the rendezvous for 250ms") {
		t.Fatalf("state error %v", st.Err)
	}
	a.log.waitLog(t, "level=WARN", `msg="lost rendezvous connection"`, "no frame from the rendezvous", "retry_in=")
}

func TestClientErrors(t *testing.T) {
	checkGoroutines(t)
	srv := startServer(t, ServerConfig{}, "")
	addr := srv.addr
	srv.stop()
	a := startClient(t, addr, "home", "alice", nil)
	a.log.waitLog(t, "level=WARN", `msg="rendezvous connection failed"`, "connection refused", "rendezvous="+addr)
	if err := a.Send(newKey(t).Public(), []byte("x")); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Send while down: %v", err)
	}
	if st := a.Status(); st.Connected || !strings.Contains(st.LastError, "connection refused") {
		t.Fatalf("status %+v", st)
	}
	select {
	case st := <-a.states:
		t.Fatalf("state change without a connection: %+v", st)
	default:
	}
	for _, secret := range []string{base64.StdEncoding.EncodeToString(a.key[:]), hex.EncodeToString(a.key[:])} {
		if strings.Contains(a.log.String(), secret) {
			t.Fatal("the log shows the private key")
		}
	}

	// A server that answers with TLS or HTTP is named as such.
	for _, tc := range []struct{ answer, want string }{
		{"\x15\x03\x01\x00\x02\x02\x0a", "answered with TLS; use the TLS transport"},
		{"HTTP/1.1 400 Bad Request\r\n\r\n", "answered with HTTP"},
		{string(appendError(nil, CodeProtocol, "go away")), "the rendezvous refused this node: protocol error: go away"},
	} {
		addr := fakeServer(t, func(fs *fakeConn) {
			fs.readMagic()
			fs.write([]byte(tc.answer))
		})
		c := startClient(t, addr, "home", "x", nil)
		c.log.waitLog(t, "rendezvous connection failed", tc.want)
		c.stop()
	}
}

func TestNewClientValidates(t *testing.T) {
	key := newKey(t)
	group := testGroup(t, "home")
	for _, tc := range []struct {
		name string
		edit func(*ClientConfig)
		want string
	}{
		{"ok", func(*ClientConfig) {}, ""},
		{"no addr", func(c *ClientConfig) { c.Addr = "" }, "no rendezvous address"},
		{"no port", func(c *ClientConfig) { c.Addr = "example.com" }, `"example.com": want host:port`},
		{"no key", func(c *ClientConfig) { c.Key = identity.PrivateKey{} }, "no node key"},
		{"no group", func(c *ClientConfig) { c.Group = identity.Group{} }, "no group"},
		{"public group", func(c *ClientConfig) { c.Group = identity.Group{ID: group.ID, Key: group.Key} }, "no group"},
		{"tiny ping", func(c *ClientConfig) { c.PingInterval = time.Millisecond }, "ping interval 1ms is below 10ms"},
		{"backoff", func(c *ClientConfig) { c.MinBackoff, c.MaxBackoff = time.Second, time.Millisecond }, "backoff range 1s..1ms is invalid"},
		{"queue", func(c *ClientConfig) { c.SendQueueBytes = 1000 }, "send queue of 1000 bytes"},
	} {
		cfg := ClientConfig{Addr: "127.0.0.1:7749", Key: key, Group: group}
		tc.edit(&cfg)
		_, err := NewClient(cfg)
		if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), key.String()) {
			t.Errorf("%s: error mentions the key", tc.name)
		}
	}
}
