package seal

import (
	"errors"
	"testing"
	"time"
)

// TestHandshakeBudget: channels sharing a budget answer at most its burst of
// strangers at once and then its rate; a peer that had a session is not
// counted, so it rekeys however spent the budget is.
func TestHandshakeBudget(t *testing.T) {
	clk := newFakeClock()
	budget := NewHandshakeBudget(3) // burst 6
	var pairs []*testPair
	for range 10 {
		pairs = append(pairs, newTestPair(t, pairOpts{clock: clk, tweak: func(c *ChannelConfig) { c.Budget = budget }}))
	}
	answered := func() int {
		n := 0
		for _, p := range pairs {
			n += len(p.ba.capturedOf(typeResponse))
		}
		return n
	}
	for _, p := range pairs {
		p.a.ch.Initiate()
	}
	if got := answered(); got != 6 {
		t.Fatalf("%d strangers answered at once, want the burst of 6", got)
	}
	if budget.Refused() != 4 {
		t.Fatalf("refused %d, want 4", budget.Refused())
	}
	for _, p := range pairs[6:] {
		if _, _, _, errs := p.b.snapshotCallbacks(); len(errs) == 0 || !errors.Is(errs[len(errs)-1], ErrRateLimited) {
			t.Fatalf("a refused stranger's channel reports %v", errs)
		}
	}
	// A second later, 3 more fit (the refused initiators retry after
	// RetryInterval; here they initiate again by hand).
	clk.Advance(time.Second)
	for _, p := range pairs[6:] {
		p.a.ch.Close()
		p.a.ch = p.newChannel(t, p.a, NoiseChaChaPoly(), p.opts.pskA, p.b.key.Public(), []byte("again"))
		p.a.ch.Initiate()
	}
	if got := answered(); got != 9 {
		t.Fatalf("%d answered after a second, want 9", got)
	}
	// Known peers (a session done) are not strangers: with the budget spent,
	// pair 0 still rekeys.
	if !pairs[0].a.ch.Status().Established || !pairs[0].b.ch.Status().Established {
		t.Fatal("pair 0 has no session")
	}
	pairs[0].a.ch.Close()
	pairs[0].a.ch = pairs[0].newChannel(t, pairs[0].a, NoiseChaChaPoly(), pairs[0].opts.pskA, pairs[0].b.key.Public(), []byte("restarted"))
	pairs[0].a.ch.Initiate()
	if got := answered(); got != 10 {
		t.Fatalf("a known peer's initiation was not answered with the budget spent (%d answered)", got)
	}
}
