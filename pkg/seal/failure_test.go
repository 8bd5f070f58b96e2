package seal

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestHandshakeFailures: with a wrong secret, different suites or a wrong peer
// key, both sides report the typed error (wherever the protocol lets both know),
// nothing gets established and no data flows. Both sides link up eagerly.
func TestHandshakeFailures(t *testing.T) {
	wrongKey := mustKey(t).Public()
	for _, tc := range []struct {
		name     string
		opts     pairOpts
		want     error
		wantA    bool     // A must report want
		wantB    bool     // B must report want
		mentions []string // strings both errors name
		mentionB []string // strings B's error names
	}{
		{
			name:  "wrong secret",
			opts:  pairOpts{pskA: testPSK("secret-one"), pskB: testPSK("secret-two")},
			want:  ErrSecretMismatch,
			wantA: true, wantB: true,
			mentions: []string{"group secret differs from peer"},
		},
		{
			name:  "suite mismatch",
			opts:  pairOpts{suiteA: NoiseChaChaPoly(), suiteB: NoiseAESGCM()},
			want:  ErrSuiteMismatch,
			wantA: true, wantB: true,
			mentions: []string{SuiteChaChaPoly, SuiteAESGCM},
		},
		{
			// B expects another key for A: B sees who really initiated, A learns
			// from B's authenticated reject. B's own initiations go to the wrong
			// key, so A cannot read them (ErrMalformed, no report).
			name:  "wrong remote key",
			opts:  pairOpts{remoteOfB: &wrongKey},
			want:  ErrPeerKeyMismatch,
			wantA: true, wantB: true,
			mentions: []string{"key"},
			mentionB: []string{wrongKey.Short()},
		},
	} {
		for _, both := range []bool{false, true} {
			name := tc.name + "/A initiates"
			if both {
				name = tc.name + "/both initiate"
			}
			t.Run(name, func(t *testing.T) {
				tc.opts.clock = newFakeClock()
				p := newTestPair(t, tc.opts)
				p.ab.setHold(true)
				p.ba.setHold(true)
				p.a.ch.Initiate()
				if both {
					p.b.ch.Initiate()
				}
				flush(p.ab, p.ba)
				for _, side := range []struct {
					e    *endpoint
					want bool
				}{{p.a, tc.wantA}, {p.b, tc.wantB}} {
					est, fails, got, _ := side.e.snapshotCallbacks()
					if len(est) != 0 || len(got) != 0 || side.e.ch.Status().Established {
						t.Fatalf("%s: established %d, got %d plaintexts", side.e.name, len(est), len(got))
					}
					if !side.want {
						continue
					}
					var match error
					for _, f := range fails {
						if errors.Is(f, tc.want) {
							match = f
						} else if !errors.Is(f, ErrSecretMismatch) && !errors.Is(f, ErrSuiteMismatch) && !errors.Is(f, ErrPeerKeyMismatch) {
							t.Fatalf("%s: unexpected failure %v", side.e.name, f)
						}
					}
					if match == nil {
						t.Fatalf("%s: failures %v, want %v", side.e.name, fails, tc.want)
					}
					mentions := tc.mentions
					if side.e == p.b {
						mentions = append(mentions, tc.mentionB...)
					}
					for _, m := range mentions {
						if !strings.Contains(match.Error(), m) {
							t.Errorf("%s: %q does not name %q", side.e.name, match, m)
						}
					}
					if st := side.e.ch.Status(); !strings.Contains(st.LastError, tc.want.Error()) {
						t.Errorf("%s: status LastError %q", side.e.name, st.LastError)
					}
				}
				// Data never flows, also not after further attempts.
				for range 2 {
					for _, e := range []*endpoint{p.a, p.b} {
						if err := e.ch.Seal([]byte("must not arrive")); !errors.Is(err, ErrNoSession) {
							t.Fatalf("%s.Seal = %v, want ErrNoSession", e.name, err)
						}
					}
					flush(p.ab, p.ba)
					p.clock.Advance(DefaultGiveUpAfter)
					p.a.ch.onTimer()
					p.b.ch.onTimer()
					flush(p.ab, p.ba)
				}
				for _, e := range []*endpoint{p.a, p.b} {
					if est, _, got, _ := e.snapshotCallbacks(); len(est) != 0 || len(got) != 0 {
						t.Fatalf("%s: established %d, got %d plaintexts", e.name, len(est), len(got))
					}
				}
			})
		}
	}
}

// TestFailureBacksOff: after an authenticated failure the initiator does not
// hammer the peer: Seal and Initiate are deferred until the backoff passed.
func TestFailureBacksOff(t *testing.T) {
	clk := newFakeClock()
	p := newTestPair(t, pairOpts{clock: clk, pskA: testPSK("one-secret"), pskB: testPSK("two-secret")})
	p.a.ch.Initiate()
	if _, f, _, _ := p.a.snapshotCallbacks(); len(f) != 1 || !errors.Is(f[0], ErrSecretMismatch) {
		t.Fatalf("A failures %v", f)
	}
	inits := func() int { return len(p.ab.capturedOf(typeInitiation)) }
	if inits() != 1 {
		t.Fatalf("%d initiations", inits())
	}
	p.a.ch.Initiate()
	p.a.ch.Seal([]byte("x"))
	if inits() != 1 {
		t.Fatal("a new handshake started during the backoff")
	}
	clk.Advance(2*DefaultRetryInterval + 1)
	p.a.ch.onTimer() // the deferred start
	if inits() != 2 {
		t.Fatalf("%d initiations after the backoff, want 2", inits())
	}
	// The second failure doubles the backoff.
	clk.Advance(2*DefaultRetryInterval + 1)
	p.a.ch.Initiate()
	if inits() != 2 {
		t.Fatal("the second backoff did not double")
	}
	clk.Advance(2 * DefaultRetryInterval)
	p.a.ch.onTimer()
	if inits() != 3 {
		t.Fatalf("%d initiations after the second backoff, want 3", inits())
	}
}

// TestForgedHandshakePackets: the relay cannot make either side report a failure
// or drop a handshake: rejects and responses with a bad mac, and packets reflected
// back to their sender, are refused without changing state.
func TestForgedHandshakePackets(t *testing.T) {
	p := newTestPair(t, pairOpts{clock: newFakeClock()})
	p.ab.setHold(true)
	p.ba.setHold(true)
	p.a.ch.Initiate()
	init := p.ab.pop()
	// A genuine initiation whose mac was altered: refused, not answered.
	badMAC := bytes.Clone(init)
	badMAC[len(badMAC)-1] ^= 1
	before := p.b.ch.snapshot()
	if _, err := p.b.ch.Receive(nil, badMAC); !errors.Is(err, ErrMalformed) {
		t.Fatalf("initiation with a bad mac: %v", err)
	}
	if p.b.ch.snapshot() != before || p.ba.pending() != 0 {
		t.Fatal("an initiation with a bad mac was answered")
	}
	p.b.deliver(init)
	resp := p.ba.pop()
	pi, _ := parseInitiation(init)
	pr, _ := parseResponse(resp)
	forge := func(pkt []byte) []byte { return append(pkt, make([]byte, macLen)...) }
	for _, tc := range []struct {
		name string
		to   *endpoint
		pkt  []byte
	}{
		{"reject for A's pending (suite)", p.a, forge(appendReject(nil, pi.sender, rejectSuite, "x"))},
		{"reject for A's pending (key)", p.a, forge(appendReject(nil, pi.sender, rejectPeerKey, ""))},
		{"reject for B's session (secret)", p.b, forge(appendReject(nil, pr.sender, rejectSecret, SuiteChaChaPoly))},
		{"response with a bad mac", p.a, forge(appendResponse(nil, pr.sender, pr.receiver, pr.msg))},
		{"initiation reflected to A", p.a, init},
		{"response reflected to B", p.b, resp},
		{"suite-mismatch initiation with a bad mac", p.b, forge(appendInitiation(nil, 7, "other-suite", pi.msg))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.to.ch.snapshot()
			_, err := tc.to.ch.Receive(nil, tc.pkt)
			if err == nil {
				t.Fatal("accepted")
			}
			if after := tc.to.ch.snapshot(); after != before {
				t.Fatalf("state changed:\n%s\n%s", before, after)
			}
			if _, f, _, _ := tc.to.snapshotCallbacks(); len(f) != 0 {
				t.Fatalf("failures reported: %v", f)
			}
		})
	}
	// The genuine response still completes the handshake.
	p.a.deliver(resp)
	flush(p.ab, p.ba)
	if !p.a.ch.Status().Established || !p.b.ch.Status().Established {
		t.Fatal("the handshake did not survive the forgeries")
	}
}
