package overlay

import (
	"testing"
	"time"
)

// TestLinkTableBudgets: links to peers that never authenticated have a budget of
// their own whose oldest member is evicted; authenticated links are kept; the
// janitor drops links to peers that are neither present nor members once idle
// for LinkGrace, and keeps the others.
func TestLinkTableBudgets(t *testing.T) {
	n := testNode(t)
	n.cfg.MaxPendingLinks = 4
	good := n.linkFor(peerKey(t), "")
	good.everUp.Store(true) // as after a handshake: it proved the secret
	var first *link
	for i := range 20 {
		l := n.linkFor(peerKey(t), "")
		if l == nil {
			t.Fatalf("link %d refused", i)
		}
		if first == nil {
			first = l
		}
		time.Sleep(time.Millisecond) // distinct creation times
	}
	pending, up := 0, 0
	for _, l := range n.linkList() {
		if l.everUp.Load() {
			up++
		} else {
			pending++
		}
	}
	if pending != 4 || up != 1 {
		t.Fatalf("%d pending and %d authenticated links, want 4 and 1", pending, up)
	}
	if n.existingLink(first.peer) != nil {
		t.Fatal("the oldest pending link was not evicted")
	}
	if n.existingLink(good.peer) != good {
		t.Fatal("an authenticated link was evicted")
	}

	// The janitor: a present peer's link stays, the others go once idle. (The
	// present peer's new link evicts one more pending link: 3 others remain.)
	present := n.linkFor(peerKey(t), "")
	n.mu.Lock()
	n.present[present.peer] = struct{}{}
	n.mu.Unlock()
	if got := n.sweepLinks(time.Now()); got != 0 {
		t.Fatalf("swept %d fresh links", got)
	}
	if got := n.sweepLinks(time.Now().Add(n.cfg.LinkGrace + time.Second)); got != 4 {
		t.Fatalf("swept %d idle links, want 4 (3 pending and the authenticated one)", got)
	}
	if n.existingLink(present.peer) == nil || len(n.linkList()) != 1 {
		t.Fatalf("links left: %d; the present peer's link must stay", len(n.linkList()))
	}
}
