package seal

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// node suite settings as cmd/meshnode builds them.
type suiteSet struct {
	prefer  Cipher
	accept  []Cipher
	decline []string
}

func autoSet(aes bool) suiteSet {
	p, a, d := autoSuites(aes)
	return suiteSet{p, a, d}
}

// TestSuiteFallback: nodes on "auto" agree on AES-GCM where both have AES
// hardware and on ChaCha20-Poly1305 where either lacks it or is set to
// ChaCha (an older node), whoever initiates, and data flows on the agreed
// suite. Only a node that cannot fall back reports a mismatch.
func TestSuiteFallback(t *testing.T) {
	var (
		autoAES  = autoSet(true)
		autoSoft = autoSet(false)
		chacha   = suiteSet{prefer: NoiseChaChaPoly()}
		aes      = suiteSet{prefer: NoiseAESGCM()}
	)
	for _, tc := range []struct {
		name string
		a, b suiteSet
		want string // the suite both use; "" none
		// Which sides report ErrSuiteMismatch when A initiates / when B
		// initiates (both initiating: the union).
		failWhenA, failWhenB [2]bool
	}{
		{name: "auto with AES both", a: autoAES, b: autoAES, want: SuiteAESGCM},
		{name: "auto with AES, peer without", a: autoAES, b: autoSoft, want: SuiteChaChaPoly},
		{name: "auto without AES, peer with", a: autoSoft, b: autoAES, want: SuiteChaChaPoly},
		// An older node or one set to chacha20poly1305 refuses A's AES-GCM
		// initiation and says so, as it always did; A falls back quietly.
		{name: "auto with AES, peer chacha only", a: autoAES, b: chacha, want: SuiteChaChaPoly,
			failWhenA: [2]bool{false, true}},
		{name: "auto with AES, peer aes only", a: autoAES, b: aes, want: SuiteAESGCM},
		// A declines B's AES-GCM quietly (B reports it); A's ChaCha
		// initiation fails at B, and both report that.
		{name: "auto without AES, peer aes only", a: autoSoft, b: aes,
			failWhenA: [2]bool{true, true}, failWhenB: [2]bool{false, true}},
		{name: "chacha vs aes (no fallback)", a: chacha, b: aes,
			failWhenA: [2]bool{true, true}, failWhenB: [2]bool{true, true}},
	} {
		for _, who := range []string{"A", "B", "both"} {
			t.Run(tc.name+"/"+who+" initiates", func(t *testing.T) {
				p := newTestPair(t, pairOpts{clock: newFakeClock(),
					suiteA: tc.a.prefer, acceptA: tc.a.accept, declineA: tc.a.decline,
					suiteB: tc.b.prefer, acceptB: tc.b.accept, declineB: tc.b.decline})
				p.ab.setHold(true)
				p.ba.setHold(true)
				if who != "B" {
					p.a.ch.Initiate()
				}
				if who != "A" {
					p.b.ch.Initiate()
				}
				flush(p.ab, p.ba)

				var wantFail [2]bool
				for i := range wantFail {
					wantFail[i] = who != "B" && tc.failWhenA[i] || who != "A" && tc.failWhenB[i]
				}
				for i, e := range []*endpoint{p.a, p.b} {
					_, fails, _, _ := e.snapshotCallbacks()
					for _, f := range fails {
						if !errors.Is(f, ErrSuiteMismatch) {
							t.Fatalf("%s: unexpected failure %v", e.name, f)
						}
					}
					if got := len(fails) > 0; got != wantFail[i] {
						t.Fatalf("%s: failures %v, want a mismatch reported: %v", e.name, fails, wantFail[i])
					}
				}
				if tc.want == "" {
					for _, e := range []*endpoint{p.a, p.b} {
						if e.ch.Status().Established {
							t.Fatalf("%s: established across a suite mismatch", e.name)
						}
						if err := e.ch.Seal([]byte("x")); !errors.Is(err, ErrNoSession) {
							t.Fatalf("%s: Seal = %v, want ErrNoSession", e.name, err)
						}
					}
					return
				}
				for _, e := range []*endpoint{p.a, p.b} {
					st := e.ch.Status()
					if !st.Established || st.Suite != tc.want {
						_, f, _, errs := e.snapshotCallbacks()
						t.Fatalf("%s: established %v on %q, want %q (failures %v, errors %v)", e.name, st.Established, st.Suite, tc.want, f, errs)
					}
					if st.LastError != "" {
						t.Fatalf("%s: LastError %q after the fallback", e.name, st.LastError)
					}
					est, _, _, _ := e.snapshotCallbacks()
					for _, x := range est {
						if x.Suite != tc.want {
							t.Fatalf("%s: OnEstablished with suite %q, want %q", e.name, x.Suite, tc.want)
						}
					}
				}
				// Data both ways on the agreed suite.
				for _, e := range []*endpoint{p.a, p.b} {
					if err := e.ch.Seal([]byte("on " + tc.want + " from " + e.name)); err != nil {
						t.Fatalf("%s: Seal: %v", e.name, err)
					}
				}
				flush(p.ab, p.ba)
				for _, e := range []*endpoint{p.a, p.b} {
					got := e.takeGot()
					if len(got) != 1 || !bytes.HasPrefix(got[0], []byte("on "+tc.want)) {
						t.Fatalf("%s received %q", e.name, got)
					}
				}
			})
		}
	}
}

// TestSuiteFallbackSticks: after falling back, rekeys keep the peer's suite
// (one refusal per channel, not per handshake).
func TestSuiteFallbackSticks(t *testing.T) {
	clk := newFakeClock()
	p := newTestPair(t, pairOpts{clock: clk, suiteA: NoiseAESGCM(), acceptA: []Cipher{NoiseChaChaPoly()}, suiteB: NoiseChaChaPoly()})
	p.establish(t)
	rejects := func() int { return len(p.ba.capturedOf(typeReject)) }
	if n := rejects(); n != 1 {
		t.Fatalf("%d rejects on the first handshake, want 1", n)
	}
	clk.Advance(DefaultRekeyAfter + 1)
	if err := p.a.ch.Seal([]byte("rekey")); err != nil {
		t.Fatal(err)
	}
	flush(p.ab, p.ba)
	if n := rejects(); n != 1 {
		t.Fatalf("%d rejects after the rekey, want still 1", n)
	}
	if st := p.a.ch.Status(); st.Suite != SuiteChaChaPoly || st.Sessions < 2 {
		t.Fatalf("after the rekey: %+v", st)
	}
}

// TestSuiteConfigErrors: Accept and Decline are checked.
func TestSuiteConfigErrors(t *testing.T) {
	k := mustKey(t)
	base := func() ChannelConfig {
		return ChannelConfig{Cipher: NoiseAESGCM(), Local: k, Remote: mustKey(t).Public(), Send: func([]byte) error { return nil }}
	}
	for _, tc := range []struct {
		name string
		edit func(*ChannelConfig)
		want string
	}{
		{"accept own suite", func(c *ChannelConfig) { c.Accept = []Cipher{NoiseAESGCM()} }, "accepted twice"},
		{"accept nil", func(c *ChannelConfig) { c.Accept = []Cipher{nil} }, "nil cipher"},
		{"accept and decline", func(c *ChannelConfig) {
			c.Accept = []Cipher{NoiseChaChaPoly()}
			c.Decline = []string{SuiteChaChaPoly}
		}, "both accepted and declined"},
	} {
		cfg := base()
		tc.edit(&cfg)
		if _, err := NewChannel(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
}

// brokenChaCha is a ChaCha suite that cannot start a handshake.
type brokenChaCha struct{ Cipher }

func (brokenChaCha) Name() string { return SuiteChaChaPoly }
func (brokenChaCha) NewHandshake(HandshakeConfig) (Handshake, error) {
	return nil, errors.New("the plugin is gone")
}

// TestSuiteFallbackCannotStart: when the suite the peer asks for cannot start
// a handshake here, the cycle ends with that error (not a made-up mismatch)
// and nothing is sent in it.
func TestSuiteFallbackCannotStart(t *testing.T) {
	p := newTestPair(t, pairOpts{clock: newFakeClock(), suiteA: NoiseAESGCM(),
		acceptA: []Cipher{brokenChaCha{}}, suiteB: NoiseChaChaPoly()})
	p.a.ch.Initiate()
	flush(p.ab, p.ba)
	st := p.a.ch.Status()
	if st.Established || st.Handshaking || !strings.Contains(st.LastError, "the plugin is gone") {
		t.Fatalf("A after the refusal: %+v", st)
	}
	if n := len(p.ab.capturedOf(typeInitiation)); n != 1 {
		t.Fatalf("%d initiations sent, want only the refused one", n)
	}
	if _, f, _, _ := p.a.snapshotCallbacks(); len(f) != 0 {
		t.Fatalf("A reported %v", f)
	}
}
