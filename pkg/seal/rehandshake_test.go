package seal

import (
	"errors"
	"testing"
)

// TestRehandshake: with a fresh session current, Rehandshake still runs a new
// handshake and the peer receives the new hello; data flows on; the replay memory
// survives, so the first initiation replayed afterwards is refused.
func TestRehandshake(t *testing.T) {
	p := newTestPair(t, pairOpts{clock: newFakeClock()})
	p.establish(t)
	firstInit := p.ab.capturedOf(typeInitiation)[0]

	if err := p.a.ch.Rehandshake([]byte("epoch 2"), nil); err != nil {
		t.Fatal(err)
	}
	flush(p.ab, p.ba)
	estB, _, _, _ := p.b.snapshotCallbacks()
	if len(estB) != 2 || string(estB[1].RemoteHello) != "epoch 2" {
		t.Fatalf("B's Established after Rehandshake: %+v", estB)
	}
	if err := p.a.ch.Seal([]byte("after")); err != nil {
		t.Fatal(err)
	}
	if got := p.b.takeGot(); len(got) != 1 || string(got[0]) != "after" {
		t.Fatalf("B got %q", got)
	}
	if _, err := p.b.ch.Receive(nil, firstInit); !errors.Is(err, ErrReplay) {
		t.Fatalf("replayed first initiation: %v, want ErrReplay", err)
	}
	if err := p.a.ch.Rehandshake(make([]byte, MaxHello+1), nil); err == nil {
		t.Fatal("oversized hello accepted")
	}
	p.a.ch.Close()
	if err := p.a.ch.Rehandshake(nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Rehandshake after Close: %v", err)
	}
}

// TestResponseHello: an initiator receives the responder's ResponseHello, a
// responder the initiator's Hello; SetHello changes what the next handshake
// carries without starting one.
func TestResponseHello(t *testing.T) {
	p := newTestPair(t, pairOpts{clock: newFakeClock(), tweak: func(c *ChannelConfig) {
		c.ResponseHello = append(append([]byte(nil), c.Hello...), " (response)"...)
	}})
	p.establish(t)
	estA, _, _, _ := p.a.snapshotCallbacks()
	estB, _, _, _ := p.b.snapshotCallbacks()
	if len(estA) != 1 || string(estA[0].RemoteHello) != "hello from B (response)" {
		t.Fatalf("initiator A's Established: %+v", estA)
	}
	if len(estB) != 1 || string(estB[0].RemoteHello) != "hello from A" {
		t.Fatalf("responder B's Established: %+v", estB)
	}

	if err := p.b.ch.SetHello([]byte("B2"), []byte("B2 response")); err != nil {
		t.Fatal(err)
	}
	if n := len(p.ba.capturedOf(typeInitiation)) + len(p.ab.capturedOf(typeInitiation)); n != 1 {
		t.Fatalf("SetHello started a handshake: %d initiations in all", n)
	}
	if err := p.a.ch.Rehandshake([]byte("A2"), nil); err != nil {
		t.Fatal(err)
	}
	flush(p.ab, p.ba)
	estA, _, _, _ = p.a.snapshotCallbacks()
	estB, _, _, _ = p.b.snapshotCallbacks()
	if len(estA) != 2 || string(estA[1].RemoteHello) != "B2 response" {
		t.Fatalf("A's Established after B's SetHello: %+v", estA)
	}
	if len(estB) != 2 || string(estB[1].RemoteHello) != "A2" {
		t.Fatalf("B's Established after A's Rehandshake without a response hello: %+v", estB)
	}
	for _, bad := range [][2][]byte{{make([]byte, MaxHello+1), nil}, {nil, make([]byte, MaxHello+1)}} {
		if err := p.a.ch.SetHello(bad[0], bad[1]); err == nil {
			t.Fatalf("oversized hellos (%d, %d bytes) accepted", len(bad[0]), len(bad[1]))
		}
	}
}
