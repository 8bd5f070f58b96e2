package relay

import (
	"sync"

	"github.com/meshnode/meshnode/pkg/identity"
)

// group is the set of connected members of one GroupID. Membership changes hold
// Server.mu and then group.mu; the forward path holds only group.mu for reading.
// Presence frames are queued while holding group.mu, so every member's queue sees
// joins and leaves in the order the member map changed.
type group struct {
	id      identity.GroupID
	mu      sync.RWMutex
	members map[identity.PublicKey]*serverConn
}

func (g *group) size() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.members)
}

// join makes c a member of its group: c's queue gets Welcome, ServerInfo (when the
// server announces anything), the current members
// and PeersEnd; the others get PeerPresent for c. A member with the same key is
// replaced and returned (the caller closes it) without Gone/Present toward the
// others, unless its name changed (then they get a PeerPresent with the new name).
func (s *Server) join(c *serverConn) (replaced *serverConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[c.groupID]
	if g == nil {
		g = &group{id: c.groupID, members: make(map[identity.PublicKey]*serverConn)}
		s.groups[c.groupID] = g
	}
	c.group = g

	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.members[c.key]
	g.members[c.key] = c
	c.sendEmpty(frameWelcome)
	if s.info != nil {
		c.sendRaw(s.info)
	}
	for k, m := range g.members {
		if m != c {
			c.sendPeerPresent(k, m.name)
		}
	}
	c.sendEmpty(framePeersEnd)
	if old == nil || old.name != c.name {
		for _, m := range g.members {
			if m != c && m != old {
				m.sendPeerPresent(c.key, c.name)
			}
		}
	}
	return old
}

// leave removes c from its group, if it is still the member for its key, and tells
// the others. An emptied group is forgotten.
func (s *Server) leave(c *serverConn) {
	g := c.group
	if g == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g.mu.Lock()
	if g.members[c.key] == c {
		delete(g.members, c.key)
		for _, m := range g.members {
			m.sendPeerGone(c.key)
		}
	}
	empty := len(g.members) == 0
	g.mu.Unlock()
	if empty && s.groups[g.id] == g {
		delete(s.groups, g.id)
	}
}
