package seal

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// session is one set of transport keys with the peer, from one handshake.
type session struct {
	localIndex  uint32 // the peer sends to this index
	remoteIndex uint32 // we send to this index
	send, recv  AEAD
	created     time.Time
	seq         uint64 // creation order within the channel (newer = larger)
	initiator   bool   // we sent the initiation
	suite       string // the suite whose handshake made it
	remoteHello []byte

	sendCounter atomic.Uint64 // next counter to use
	confirmed   atomic.Bool   // usable for sending: always for the initiator; for the responder once the initiator used it
	lastRecv    atomic.Uint64 // channel receive sequence of the last packet accepted on it (0: none)

	mu     sync.Mutex
	window replayWindow
}

// Limits on one session, as in WireGuard. A Noise counter may not reach 2^64-1;
// rejectAfterMessages stays below it with room for the replay window.
const (
	rekeyAfterMessages  = uint64(1) << 60
	rejectAfterMessages = uint64(math.MaxUint64 - (1 << 13))
)

// sessionTable is the immutable set of live sessions (at most maxSessions). A
// Channel replaces it as a whole under its mutex and publishes it through an
// atomic pointer, so Seal and Receive read it without locking.
type sessionTable struct {
	current *session // what Seal uses; nil until a session is confirmed
	live    [maxSessions]*session
}

// maxSessions is WireGuard's current, previous and next.
const maxSessions = 3

func (t *sessionTable) lookup(index uint32) *session {
	for _, s := range t.live {
		if s != nil && s.localIndex == index {
			return s
		}
	}
	return nil
}

func (t *sessionTable) contains(s *session) bool {
	for _, x := range t.live {
		if x == s {
			return true
		}
	}
	return false
}

// with returns a copy of t holding s, evicting one session if t is full. s is
// either an initiator's session, which becomes current, or an unconfirmed
// responder's session, which the peer will use as soon as our response arrives.
// The eviction keeps what is or will be in use:
//   - the session the peer last sent on (after both sides initiated at once, each
//     side may send on a different handshake's session);
//   - for an unconfirmed s: the current session, which we still send on; an older
//     unconfirmed session is replaced first, even with a slot free (its initiator
//     has moved on), so there is never more than one;
//   - for a confirmed s: an unconfirmed session (the peer's handshake in flight);
//     the current one is not needed any more once s replaces it.
//
// Expired sessions go first, then the oldest unprotected one. With three slots
// and at most two protected sessions (at most one is unconfirmed) there always is
// one.
func (t *sessionTable) with(s *session, expired func(*session) bool) (*sessionTable, *session) {
	n := *t
	v := n.victim(s, expired)
	evicted := n.live[v]
	n.live[v] = s
	return &n, evicted
}

func (t *sessionTable) victim(s *session, expired func(*session) bool) int {
	confirmed := s.confirmed.Load()
	if !confirmed {
		// At most one unconfirmed session: the initiator of an older one has
		// moved on (it retried, or completed it and sent on it first).
		for i, x := range t.live {
			if x != nil && !x.confirmed.Load() {
				return i
			}
		}
	}
	recent := -1
	var best uint64
	for i, x := range t.live {
		if x == nil {
			return i
		}
		if r := x.lastRecv.Load(); r > best {
			recent, best = i, r
		}
	}
	victim := -1
	for i, x := range t.live {
		if expired(x) {
			return i
		}
		if i == recent || (!confirmed && x == t.current) || (confirmed && !x.confirmed.Load()) {
			continue
		}
		if victim < 0 || x.seq < t.live[victim].seq {
			victim = i
		}
	}
	if victim < 0 { // not reached (see above); never evict current
		for i, x := range t.live {
			if x != t.current {
				return i
			}
		}
	}
	return victim
}

// without returns a copy of t without s.
func (t *sessionTable) without(s *session) *sessionTable {
	n := *t
	for i, x := range n.live {
		if x == s {
			n.live[i] = nil
		}
	}
	if n.current == s {
		n.current = nil
	}
	return &n
}

// count returns the number of live sessions for which keep is true.
func (t *sessionTable) count(keep func(*session) bool) int {
	k := 0
	for _, x := range t.live {
		if x != nil && keep(x) {
			k++
		}
	}
	return k
}
