package overlay

import (
	"sync"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
)

// eventBus fans events out to subscribers. A slow subscriber loses events
// (its channel is bounded) rather than slowing the node.
type eventBus struct {
	mu   sync.Mutex
	subs map[chan api.Event]struct{}
}

const (
	eventQueue   = 256
	maxEventSubs = 16
)

func newEventBus() *eventBus { return &eventBus{subs: make(map[chan api.Event]struct{})} }

func (b *eventBus) publish(e api.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.subs {
		select {
		case c <- e:
		default:
		}
	}
}

// Subscribe returns a channel of events and a function that ends the
// subscription; ok is false when too many subscribers are attached.
func (n *Node) Subscribe() (events <-chan api.Event, cancel func(), ok bool) {
	b := n.events
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.subs) >= maxEventSubs {
		return nil, nil, false
	}
	c := make(chan api.Event, eventQueue)
	b.subs[c] = struct{}{}
	return c, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.subs[c]; ok {
			delete(b.subs, c)
			close(c)
		}
	}, true
}
