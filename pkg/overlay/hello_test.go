package overlay

import (
	"testing"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/identity"
)

// TestHelloCarriesCatalogOnlyInResponses: a link's handshake responses (which
// only group members can read) carry the node's catalog entry, without
// service targets; its initiations (readable by whoever holds the peer's key)
// never do; a service added later reaches the responses.
func TestHelloCarriesCatalogOnlyInResponses(t *testing.T) {
	n := testNode(t, Service{ID: 700, Name: "ssh", Target: "127.0.0.1:22"})
	n.setHelloEntry(n.localEntry())
	peer := peerKey(t)
	l := n.linkFor(peer, "p")
	t.Cleanup(l.close)

	entryOf := func(what string, b []byte) (catalogEntry, bool) {
		t.Helper()
		h, err := parseHello(b)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if h.Entry == nil {
			return catalogEntry{}, false
		}
		e, err := parseEntry(h.Entry)
		if err != nil {
			t.Fatalf("%s: entry: %v", what, err)
		}
		return e, true
	}
	init, resp := l.hello()
	if _, ok := entryOf("initiation", init); ok {
		t.Fatal("an initiation hello carries the catalog entry")
	}
	e, ok := entryOf("response", resp)
	if !ok || e.Owner != n.pub || len(e.Services) != 1 || e.Services[0].ID != 700 || e.Services[0].Target != "" {
		t.Fatalf("response hello's entry: %+v (present %v)", e, ok)
	}

	if _, err := n.AddService(api.Service{ID: 701, Name: "web", Target: "127.0.0.1:80"}, false); err != nil {
		t.Fatal(err)
	}
	_, resp = l.hello()
	if e, ok := entryOf("response after AddService", resp); !ok || len(e.Services) != 2 {
		t.Fatalf("response hello after AddService: %+v", e)
	}
}

// TestTakeEntry: the entry a peer's hello carries goes into the catalog only
// when it is that peer's own and well formed.
func TestTakeEntry(t *testing.T) {
	n := testNode(t)
	k, err := identity.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	peer := k.Public()
	l := n.linkFor(peer, "p")
	t.Cleanup(l.close)
	entry := func(owner identity.PublicKey, id ServeID) []byte {
		b, err := marshalEntry(catalogEntry{Owner: owner, Name: "p", Version: uint64(id), Services: []Service{{ID: id, Name: "svc", Proto: "tcp"}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	l.takeEntry(entry(peerKey(t), 800)) // another node's
	l.takeEntry([]byte(`{"owner":`))    // junk
	if _, err := n.resolve(target{id: 800}); err == nil {
		t.Fatal("an entry of another owner was merged")
	}
	l.takeEntry(entry(peer, 801))
	r, err := n.resolve(target{id: 801})
	if err != nil || r.owner.peer != peer {
		t.Fatalf("the peer's own entry: %+v, %v", r, err)
	}
}
