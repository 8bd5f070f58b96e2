package relay

import (
	"sort"
	"time"

	"github.com/meshnode/meshnode/pkg/identity"
)

// What the rendezvous' operator sees and does (cmd/rendezvous' admin API):
// the connected nodes by key, address and traffic volume, and disconnecting
// one. Nothing here reveals what nodes send: the server holds sealed
// datagrams only, and group names never reach it.

// NodeInfo describes one connected (joined) node.
type NodeInfo struct {
	Key      identity.PublicKey
	GroupKey identity.GroupKey // the namespace: a hash of the group's admission key, not its name
	Remote   string            // the address the node connects from
	Since    time.Time         // when its connection was accepted
	// BytesSent is the datagram payload relayed from the node to others,
	// BytesReceived from others to it.
	BytesSent, BytesReceived uint64
}

// Nodes lists the joined nodes, by key.
func (s *Server) Nodes() []NodeInfo {
	s.mu.Lock()
	out := make([]NodeInfo, 0, len(s.conns))
	for c := range s.conns {
		if !c.joined.Load() || c.group == nil {
			continue
		}
		out = append(out, NodeInfo{
			Key: c.key, GroupKey: c.groupKey, Remote: c.remote, Since: c.start,
			BytesSent: c.relayedOut.Load(), BytesReceived: c.relayedIn.Load(),
		})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key.Less(out[j].Key) })
	return out
}

// Disconnect closes the connections of the joined node key (an Error with
// CodeDisconnected goes first, so the node logs why). The node's reconnect
// backoff applies as after any lost connection: to keep a node out, revoke its
// auth key. It returns how many connections it closed (0: no such node).
func (s *Server) Disconnect(key identity.PublicKey) int {
	s.mu.Lock()
	var victims []*serverConn
	for c := range s.conns {
		if c.joined.Load() && c.group != nil && c.key == key {
			victims = append(victims, c)
		}
	}
	s.mu.Unlock()
	for _, c := range victims {
		s.log.Info("disconnecting node", "node", c.key.Short(), "remote", c.remote, "reason", "the operator asked (admin API)")
		c.closeWithError(CodeDisconnected, "disconnected by the rendezvous' operator", time.Second)
	}
	return len(victims)
}

// countRejection counts a refused connection by the code it was told.
func (s *Server) countRejection(code Code) {
	if int(code) < len(s.rejectedBy) {
		s.rejectedBy[code].Add(1)
	}
}

// rejectedByCode is rejectedBy without the zero counts.
func (s *Server) rejectedByCode() map[Code]uint64 {
	m := make(map[Code]uint64)
	for i := range s.rejectedBy {
		if n := s.rejectedBy[i].Load(); n > 0 {
			m[Code(i)] = n
		}
	}
	return m
}
