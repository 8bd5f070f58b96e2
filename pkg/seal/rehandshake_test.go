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

	if err := p.a.ch.Rehandshake([]byte("epoch 2")); err != nil {
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
	if err := p.a.ch.Rehandshake(make([]byte, MaxHello+1)); err == nil {
		t.Fatal("oversized hello accepted")
	}
	p.a.ch.Close()
	if err := p.a.ch.Rehandshake(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Rehandshake after Close: %v", err)
	}
}
