package overlay

import (
	"errors"
	"sync/atomic"

	"github.com/meshnode/meshnode/pkg/ice"
	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/seal"
)

// route is where a link's sealed packets go, and the only thing that changes
// under a link when its path does: the direct path ICE found (the link's
// pathFinder sets and clears it, path.go), else the relay. KCP above never
// notices a switch, so open streams survive both ways.
type route struct {
	relay  Relay
	peer   identity.PublicKey
	direct atomic.Pointer[ice.Path]
}

// send transmits one sealed packet. Failures are packet loss: the layers above
// retransmit.
func (r *route) send(pkt []byte) error {
	p := r.direct.Load()
	if p == nil {
		return r.relay.Send(r.peer, pkt)
	}
	err := p.Send(pkt)
	if seal.IsHandshake(pkt) {
		// Handshakes also take the relay: a peer that restarted is not on this
		// path any more and could never complete one here. Duplicates are
		// harmless (initiations carry timestamps; a second response finds no
		// handshake waiting). The packet is lost only if both routes lose it.
		rerr := r.relay.Send(r.peer, pkt)
		if err == nil {
			return nil
		}
		return rerr
	}
	if err == nil || !errors.Is(err, ice.ErrClosed) {
		return err
	}
	// The path just closed; the pathFinder switches back to the relay. This
	// packet takes the relay already.
	return r.relay.Send(r.peer, pkt)
}

// isDirect reports whether packets take a direct path.
func (r *route) isDirect() bool { return r.direct.Load() != nil }

// setDirect switches to p (nil: the relay) and returns the path it replaces.
func (r *route) setDirect(p *ice.Path) *ice.Path { return r.direct.Swap(p) }
