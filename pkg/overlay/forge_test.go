package overlay

import (
	"testing"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/identity"
)

// TestForgedNoticeChangesNothing: a member that gossips another member's entry
// at a made-up version (2^64-1) cannot overwrite it: receivers fetch the entry
// from its owner, keep the owner's own version, and take the owner's next
// change as usual.
func TestForgedNoticeChangesNothing(t *testing.T) {
	hub := newMemHub()
	ka, kb := newTestKey(t), newTestKey(t)
	a, _ := runMemNode(t, hub, "a", ka, Service{ID: 7, Name: "real", Proto: "tcp", Target: "127.0.0.1:1"})
	b, _ := runMemNode(t, hub, "b", kb)
	waitFor(t, "b sees a's entry", func() bool { return b.catalog.version(ka.Public()) != 0 })
	real := b.catalog.version(ka.Public())

	g := b.gossip.Load()
	// A whole forged entry (what gossip carried before) is not even parsed.
	forged, _ := marshalEntry(catalogEntry{Owner: ka.Public(), Name: "a", Version: 1<<64 - 1,
		Services: []Service{{ID: 9, Name: "evil", Proto: "tcp"}}})
	g.NotifyMsg(append([]byte{1}, forged...))
	g.NotifyMsg(marshalGossipNotice(notice{Owner: ka.Public(), Version: 1<<64 - 1}))
	waitFor(t, "the fetches the forged notice started to end", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		_, running := g.wanted[ka.Public()]
		return !running
	})
	if v := b.catalog.version(ka.Public()); v != real {
		t.Fatalf("b holds version %d after a forged notice, want a's own %d", v, real)
	}
	if got := b.catalog.find(func(_ identity.PublicKey, _ string, s Service) bool { return s.Name == "evil" }); len(got) != 0 {
		t.Fatalf("b took a forged service: %+v", got)
	}
	if _, err := a.AddService(api.Service{ID: 8, Name: "later", Proto: "tcp", Target: "127.0.0.1:2"}, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b takes a's next change", func() bool { return b.catalog.version(ka.Public()) > real })
	if got := b.catalog.find(func(_ identity.PublicKey, _ string, s Service) bool { return s.Name == "later" }); len(got) != 1 {
		t.Fatalf("b's view of a: %+v", got)
	}
}
