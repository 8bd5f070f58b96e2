package overlay

import (
	"context"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
)

// The link table keeps two budgets. Links to peers that proved the group secret
// (a session was established once) are bounded by MaxPeers. Links to peers that
// never did have a small budget of their own, MaxPendingLinks: a full one evicts
// its oldest member, so a burst of keys that never authenticate (from a broken
// or hostile rendezvous, or members with a wrong setup) cannot crowd out the
// group. The janitor drops links nobody needs any more.

// janitorEvery is how often the janitor looks for links nobody needs.
const janitorEvery = 15 * time.Second

// linkFor returns the link to peer, creating it when needed. It returns nil when
// the link table is full, or when the node is closing and has no link to peer
// (existing links stay usable while it leaves the group).
func (n *Node) linkFor(peer identity.PublicKey, name string) *link {
	if peer == n.pub {
		return nil
	}
	n.mu.Lock()
	if l, ok := n.links[peer]; ok {
		n.mu.Unlock()
		return l
	}
	if n.closing {
		n.mu.Unlock()
		return nil
	}
	var oldest *link
	pending, up := 0, 0
	for _, l := range n.links {
		if l.everUp.Load() {
			up++
			continue
		}
		pending++
		if oldest == nil || l.created.Before(oldest.created) {
			oldest = l
		}
	}
	if up >= n.cfg.MaxPeers && pending >= n.cfg.MaxPendingLinks {
		n.mu.Unlock()
		n.warn("link table full", "link table full; ignoring peer", "peer", peer.Short(), "max_peers", n.cfg.MaxPeers)
		return nil
	}
	evict := pending >= n.cfg.MaxPendingLinks
	if evict {
		delete(n.links, oldest.peer)
	}
	l := newLink(n, peer, name)
	n.links[peer] = l
	n.mu.Unlock()
	if evict {
		oldest.close()
		n.warn("pending links full", "too many peers that never proved the group secret; dropping the oldest link",
			"dropped", oldest.peer.Short(), "max_pending_links", n.cfg.MaxPendingLinks)
	}
	return l
}

// janitor drops, every janitorEvery, the links nobody needs: to peers neither at
// the rendezvous nor members of the group, with no open stream, that sent nothing
// authentic for LinkGrace (or never did since the link was made that long ago).
// maybeDropLink handles peers that leave; this catches links made for peers
// that never were present, or whose departure nobody noticed.
func (n *Node) janitor(ctx context.Context) {
	t := time.NewTicker(janitorEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.sweepLinks(time.Now())
	}
}

// sweepLinks drops the unneeded links (see janitor) and returns how many.
func (n *Node) sweepLinks(now time.Time) int {
	g := n.gossip.Load()
	needed := func(k identity.PublicKey) bool {
		_, present := n.present[k]
		return present || g != nil && g.isMember(k)
	}
	var idle []*link
	n.mu.Lock()
	if n.closing {
		n.mu.Unlock()
		return 0
	}
	for k, l := range n.links {
		last := l.created
		if ns := l.lastSeen.Load(); ns != 0 {
			last = time.Unix(0, ns)
		}
		if !needed(k) && now.Sub(last) >= n.cfg.LinkGrace {
			idle = append(idle, l)
		}
	}
	n.mu.Unlock()
	// A link's lock is never taken under the node's: look at streams between.
	var drop []*link
	for _, l := range idle {
		if l.openStreams() == 0 {
			drop = append(drop, l)
		}
	}
	n.mu.Lock()
	kept := drop[:0]
	for _, l := range drop {
		if n.links[l.peer] == l && !needed(l.peer) {
			delete(n.links, l.peer)
			kept = append(kept, l)
		}
	}
	n.mu.Unlock()
	for _, l := range kept {
		l.close()
		n.log.Debug("link dropped: the peer is gone", "peer", l.peer.Short(), "name", l.peerName())
	}
	return len(kept)
}
