package relay

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/meshnode/meshnode/pkg/identity"
)

// group is the set of connected members of one namespace: one group key (a group
// name with one secret). Membership changes hold Server.mu and then group.mu; the
// forward path holds only group.mu for reading. Presence frames are queued while
// holding group.mu, so every member's queue sees joins and leaves in the order the
// member map changed.
type group struct {
	key     identity.GroupKey
	id      identity.GroupID
	limiter *rate.Limiter // GroupRelayRate; nil = none
	mu      sync.RWMutex
	members map[identity.PublicKey]*serverConn

	lastInfo time.Time // last GroupInfo to the members (under Server.mu)
}

func (g *group) size() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.members)
}

// groupInfoEvery bounds how often the members of a namespace hear that others use
// their group name with another secret.
const groupInfoEvery = time.Minute

// joinResult is what join did.
type joinResult int

const (
	joinedNew     joinResult = iota
	joinedReplace            // replaced a member with the same key (returned)
	joinFull                 // the group has MaxGroupMembers
	joinClash                // another live connection holds the key: probe it first
)

// join makes c a member of its namespace: c's queue gets Welcome, ServerInfo (when
// the server announces anything), the current members, PeersEnd and GroupInfo
// (when others use the name with another key); the others get PeerPresent for c.
//
// A member with the same key and instance (the same process reconnecting) is
// replaced and returned (the caller closes it) without Gone/Present toward the
// others. A member with the same key and another instance is a clash: join does
// nothing and returns it, unless force (the caller probed it and it is dead).
func (s *Server) join(c *serverConn, force bool) (joinResult, *serverConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[c.groupKey]
	if g != nil {
		g.mu.RLock()
		old := g.members[c.key]
		n := len(g.members)
		g.mu.RUnlock()
		if old != nil && old.instance != c.instance && !force {
			return joinClash, old
		}
		if old == nil && s.cfg.MaxGroupMembers > 0 && n >= s.cfg.MaxGroupMembers {
			return joinFull, nil
		}
	} else {
		g = &group{key: c.groupKey, id: c.groupID, members: make(map[identity.PublicKey]*serverConn)}
		if r := s.cfg.GroupRelayRate; r > 0 {
			g.limiter = rate.NewLimiter(rate.Limit(r), int(max(r/4, headerLen+MaxFrameLen)))
		}
		s.groups[c.groupKey] = g
		if s.names[c.groupID] == nil {
			s.names[c.groupID] = make(map[*group]struct{})
		}
		s.names[c.groupID][g] = struct{}{}
	}
	c.group = g

	g.mu.Lock()
	old := g.members[c.key]
	g.members[c.key] = c
	c.sendEmpty(frameWelcome)
	if s.info != nil {
		c.sendRaw(s.info)
	}
	for k, m := range g.members {
		if m != c {
			c.sendPeerPresent(k)
		}
	}
	c.sendEmpty(framePeersEnd)
	if old == nil {
		for _, m := range g.members {
			if m != c {
				m.sendPeerPresent(c.key)
			}
		}
	}
	g.mu.Unlock()
	s.tellOthersLocked(g, c)
	if old != nil {
		return joinedReplace, old
	}
	return joinedNew, nil
}

// tellOthersLocked sends GroupInfo to c when other namespaces use its group name,
// and (at most once a groupInfoEvery each) to the members of those namespaces.
func (s *Server) tellOthersLocked(g *group, c *serverConn) {
	same := s.names[g.id]
	if len(same) < 2 {
		return
	}
	total := 0
	for o := range same {
		total += o.size()
	}
	c.sendGroupInfo(total - g.size())
	now := time.Now()
	for o := range same {
		if o == g || now.Sub(o.lastInfo) < groupInfoEvery {
			continue
		}
		o.lastInfo = now
		o.mu.RLock()
		others := total - len(o.members)
		for _, m := range o.members {
			m.sendGroupInfo(others)
		}
		o.mu.RUnlock()
	}
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
	if empty && s.groups[g.key] == g {
		delete(s.groups, g.key)
		if same := s.names[g.id]; same != nil {
			delete(same, g)
			if len(same) == 0 {
				delete(s.names, g.id)
			}
		}
	}
}

// clashMessage is the Error a node gets when its key is connected from another
// live process.
func clashMessage(old *serverConn) string {
	return fmt.Sprintf("node key already connected from %s since %s: a copied state dir or a cloned machine? "+
		"Every node needs its own state dir (its own node key)", old.remote, old.start.UTC().Format(time.RFC3339))
}
