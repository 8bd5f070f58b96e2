package overlay

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/relay"
)

// Relay is how a node reaches the members of its group through the
// rendezvous: pkg/relay's Client in a running node (New builds one from
// Config unless Config.Relay is set), an in-memory hub in tests. Run connects
// (and reconnects) until ctx ends, reporting to h what arrives; Send never
// blocks for long (a full queue drops: packet loss).
type Relay interface {
	Run(ctx context.Context, h RelayHandler) error
	Send(dst identity.PublicKey, pkt []byte) error
	Status() relay.Status
	// STUNServers are the rendezvous' STUN ports as host:port (none: no STUN).
	STUNServers() []string
}

// RelayHandler is what a Relay reports, on its own goroutine and in order: a
// packet's bytes are valid only during the call.
type RelayHandler interface {
	HandlePacket(src identity.PublicKey, pkt []byte, more bool)
	HandlePresence(ev relay.PresenceEvent)
	HandleGroupInfo(gi relay.GroupInfo)
}

// clientRelay adapts a relay.Client, whose callbacks are fixed when it is
// built, to Relay: they forward to the handler Run is given.
type clientRelay struct {
	*relay.Client
	h atomic.Pointer[RelayHandler]
}

// newClientRelay builds the rendezvous client of cfg's node.
func newClientRelay(cfg *Config, group identity.Group) (*clientRelay, error) {
	r := &clientRelay{}
	c, err := relay.NewClient(relay.ClientConfig{
		Addr:      cfg.Rendezvous,
		Transport: cfg.Transport,
		Group:     group,
		Key:       cfg.Key,
		AuthKey:   cfg.AuthKey,
		Logger:    cfg.Logger,
		OnPacket: func(src identity.PublicKey, pkt []byte, more bool) {
			if h := r.h.Load(); h != nil {
				(*h).HandlePacket(src, pkt, more)
			}
		},
		OnPresence: func(ev relay.PresenceEvent) {
			if h := r.h.Load(); h != nil {
				(*h).HandlePresence(ev)
			}
		},
		OnGroupInfo: func(gi relay.GroupInfo) {
			if h := r.h.Load(); h != nil {
				(*h).HandleGroupInfo(gi)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("rendezvous client: %w", err)
	}
	r.Client = c
	return r, nil
}

func (r *clientRelay) Run(ctx context.Context, h RelayHandler) error {
	r.h.Store(&h)
	return r.Client.Run(ctx)
}
