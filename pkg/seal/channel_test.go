package seal

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/meshnode/meshnode/pkg/identity"
)

func TestNewChannelChecksConfig(t *testing.T) {
	k, r := mustKey(t), mustKey(t).Public()
	send := func([]byte) error { return nil }
	ok := ChannelConfig{Cipher: NoiseChaChaPoly(), Local: k, Remote: r, Send: send}
	for _, tc := range []struct {
		name string
		mod  func(*ChannelConfig)
		want string
	}{
		{"valid", func(*ChannelConfig) {}, ""},
		{"no cipher", func(c *ChannelConfig) { c.Cipher = nil }, "no cipher"},
		{"no local key", func(c *ChannelConfig) { c.Local = identity.PrivateKey{} }, "no local key"},
		{"no remote key", func(c *ChannelConfig) { c.Remote = identity.PublicKey{} }, "no remote key"},
		{"no send", func(c *ChannelConfig) { c.Send = nil }, "no Send"},
		{"hello too long", func(c *ChannelConfig) { c.Hello = make([]byte, MaxHello+1) }, "exceeds 1024"},
		{"reject before rekey", func(c *ChannelConfig) { c.RekeyAfter, c.RejectAfter = 10, 5 }, "must exceed RekeyAfter"},
		{"negative", func(c *ChannelConfig) { c.RetryInterval = -1 }, "negative"},
		{"low-order remote", func(c *ChannelConfig) { c.Remote = identity.PublicKey{1} }, "static key agreement"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mod(&cfg)
			ch, err := NewChannel(cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				ch.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestHandshakeAndData: a handshake, then data both ways, byte-identical, for
// both suites and plaintext sizes from empty-ish to large.
func TestHandshakeAndData(t *testing.T) {
	for _, suite := range suites() {
		t.Run(suite.Name(), func(t *testing.T) {
			p := newTestPair(t, pairOpts{suiteA: suite, clock: newFakeClock()})
			p.establish(t)
			estA, _, _, _ := p.a.snapshotCallbacks()
			estB, _, _, _ := p.b.snapshotCallbacks()
			if len(estA) != 1 || len(estB) != 1 {
				t.Fatalf("OnEstablished A=%d B=%d times, want 1 each", len(estA), len(estB))
			}
			if string(estA[0].RemoteHello) != "hello from B" || !estA[0].Initiator || estA[0].Suite != suite.Name() {
				t.Fatalf("A's Established = %+v", estA[0])
			}
			if string(estB[0].RemoteHello) != "hello from A" || estB[0].Initiator || estB[0].Suite != suite.Name() {
				t.Fatalf("B's Established = %+v", estB[0])
			}
			for _, dir := range []struct {
				from, to *endpoint
			}{{p.a, p.b}, {p.b, p.a}} {
				var want [][]byte
				for i, n := range []int{1, 2, 16, 100, 1350, 1400, 9000} {
					m := msg(dir.from.name, i, n)
					want = append(want, m)
					if err := dir.from.ch.Seal(m); err != nil {
						t.Fatalf("%s.Seal: %v", dir.from.name, err)
					}
				}
				got := dir.to.takeGot()
				if len(got) != len(want) {
					t.Fatalf("%s got %d messages, want %d", dir.to.name, len(got), len(want))
				}
				for i := range want {
					if !bytes.Equal(got[i], want[i]) {
						t.Fatalf("%s message %d differs", dir.to.name, i)
					}
				}
			}
			for _, e := range []*endpoint{p.a, p.b} {
				_, _, _, errs := e.snapshotCallbacks()
				if len(errs) != 0 {
					t.Fatalf("%s Receive errors: %v", e.name, errs)
				}
				st := e.ch.Status()
				if !st.Established || st.Suite != suite.Name() || st.Sessions != 1 || st.LastError != "" || st.Handshaking {
					t.Fatalf("%s status %+v", e.name, st)
				}
			}
		})
	}
}

// TestReceiveAppendsToDst: the plaintext is appended to dst, and a keepalive
// (empty plaintext) returns nothing.
func TestReceiveAppendsToDst(t *testing.T) {
	p := newTestPair(t, pairOpts{clock: newFakeClock()})
	p.establish(t)
	p.ab.setHold(true)
	if err := p.a.ch.Seal([]byte("payload")); err != nil {
		t.Fatal(err)
	}
	if err := p.a.ch.Seal(nil); err != nil {
		t.Fatal(err)
	}
	out, err := p.b.ch.Receive([]byte("prefix:"), p.ab.pop())
	if err != nil || string(out) != "prefix:payload" {
		t.Fatalf("Receive = %q, %v", out, err)
	}
	out, err = p.b.ch.Receive([]byte("prefix:"), p.ab.pop())
	if err != nil || out != nil {
		t.Fatalf("keepalive: Receive = %q, %v; want nil, nil", out, err)
	}
}

func TestSealWithoutSession(t *testing.T) {
	p := newTestPair(t, pairOpts{clock: newFakeClock()})
	p.ab.setHold(true)
	if err := p.a.ch.Seal([]byte("x")); !errors.Is(err, ErrNoSession) {
		t.Fatalf("Seal = %v, want ErrNoSession", err)
	}
	if err := p.a.ch.Seal([]byte("y")); !errors.Is(err, ErrNoSession) {
		t.Fatalf("Seal = %v, want ErrNoSession", err)
	}
	// Exactly one initiation went out: the second Seal found it in flight.
	if n := p.ab.pending(); n != 1 || p.ab.queue[0][0] != typeInitiation {
		t.Fatalf("%d packets sent, want one initiation", n)
	}
	if !p.a.ch.Status().Handshaking {
		t.Fatal("status does not show the handshake")
	}
	flush(p.ab, p.ba)
	p.ab.setHold(false)
	if err := p.a.ch.Seal([]byte("z")); err != nil {
		t.Fatalf("after the handshake: %v", err)
	}
	if got := p.b.takeGot(); len(got) != 1 || string(got[0]) != "z" {
		t.Fatalf("B got %q", got)
	}
}
