package overlay

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/relay"
)

// memHub is an in-memory rendezvous for overlay tests: a Relay per node of one
// process, no sockets. Each node's packets and presence events arrive in order
// on a goroutine of its own, as from pkg/relay's Client; a full inbox drops, as
// a full queue would.
type memHub struct {
	mu   sync.Mutex
	ends map[identity.PublicKey]*memRelay
}

func newMemHub() *memHub { return &memHub{ends: make(map[identity.PublicKey]*memRelay)} }

// relay returns the Relay of the node with key.
func (h *memHub) relay(key identity.PublicKey) *memRelay {
	return &memRelay{hub: h, key: key, in: make(chan memMsg, 4096)}
}

type memMsg struct {
	src  identity.PublicKey
	pkt  []byte
	pres *relay.PresenceEvent
}

type memRelay struct {
	hub *memHub
	key identity.PublicKey
	in  chan memMsg

	mu    sync.Mutex
	since time.Time
	up    bool
}

var errNotHere = errors.New("no such node at the in-memory rendezvous")

func (r *memRelay) Run(ctx context.Context, h RelayHandler) error {
	r.hub.mu.Lock()
	r.hub.ends[r.key] = r
	for k, o := range r.hub.ends {
		if o != r {
			o.push(memMsg{pres: &relay.PresenceEvent{Kind: relay.PeerJoined, Key: r.key}})
			r.push(memMsg{pres: &relay.PresenceEvent{Kind: relay.PeerJoined, Key: k}})
		}
	}
	r.hub.mu.Unlock()
	r.setUp(true)
	defer func() {
		r.setUp(false)
		r.hub.mu.Lock()
		delete(r.hub.ends, r.key)
		for _, o := range r.hub.ends {
			o.push(memMsg{pres: &relay.PresenceEvent{Kind: relay.PeerLeft, Key: r.key}})
		}
		r.hub.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-r.in:
			if m.pres != nil {
				h.HandlePresence(*m.pres)
			} else {
				h.HandlePacket(m.src, m.pkt, false)
			}
		}
	}
}

func (r *memRelay) push(m memMsg) {
	select {
	case r.in <- m:
	default: // dropped, as by a full queue
	}
}

func (r *memRelay) setUp(up bool) {
	r.mu.Lock()
	r.up, r.since = up, time.Now()
	r.mu.Unlock()
}

func (r *memRelay) Send(dst identity.PublicKey, pkt []byte) error {
	r.hub.mu.Lock()
	o := r.hub.ends[dst]
	r.hub.mu.Unlock()
	if o == nil {
		return errNotHere
	}
	o.push(memMsg{src: r.key, pkt: append([]byte(nil), pkt...)})
	return nil
}

func (r *memRelay) Status() relay.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return relay.Status{Connected: r.up, Since: r.since, Addr: "memory", Transport: "memory"}
}

func (r *memRelay) STUNServers() []string { return nil }

// runMemNode runs a node on hub until the test ends or stop is called.
func runMemNode(t testing.TB, hub *memHub, name string, key identity.PrivateKey, services ...Service) (n *Node, stop func()) {
	t.Helper()
	n, err := New(Config{Group: "g", Secret: "a-long-enough-secret", Relay: hub.relay(key.Public()), Name: name, Key: key,
		Services: services, Logger: testLogger(t).With("node", name), ICEInterfaces: []string{"lo"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return n, stop
}
