package overlay

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/seal"
)

// gossip runs the group's membership and catalog with hashicorp/memberlist over
// the node's links (gossipTransport). Membership: memberlist's SWIM probes decide
// who is alive. Catalog: when a node's entry (its services) changes, a notice of
// its new version is broadcast; receivers that learn of a newer version broadcast
// the notice on (memberlist sends a user broadcast only from the node that queued
// it, to a few random members) and fetch the entry from its owner, over the
// owner's own link. Push/pull exchanges every version known, so late joiners and
// healed partitions converge. An entry is never taken from anyone but its owner:
// a member cannot forge or roll back another member's services.
type gossip struct {
	n     *Node
	ml    *memberlist.Memberlist
	tr    *gossipTransport
	queue *memberlist.TransmitLimitedQueue
	log   *slog.Logger

	mu       sync.Mutex
	members  map[identity.PublicKey]string // alive members (not us) -> name
	wanted   map[identity.PublicKey]uint64 // newest version noticed, while a fetch runs
	joinReq  map[identity.PublicKey]bool   // peers to join through
	joinWake chan struct{}
	done     chan struct{}
}

// Gossip tuning. memberlist's LAN defaults assume sub-millisecond RTTs; our
// packets may cross a relay on another continent (100-300 ms) and our streams wait
// for a link handshake, so timeouts are a few relayed RTTs. Gossip is frequent
// (100 ms) but sends only while broadcasts are pending, so an idle group stays
// quiet; a catalog change reaches 30 nodes in a handful of rounds.
const (
	gossipInterval       = 100 * time.Millisecond
	gossipNodes          = 4
	gossipProbeInterval  = 2 * time.Second
	gossipProbeTimeout   = time.Second
	gossipSuspicionMult  = 4
	gossipPushPull       = 15 * time.Second
	gossipStreamTimeout  = 10 * time.Second
	gossipRetransmitMult = 4
	gossipLeaveTimeout   = 2 * time.Second
	// fetchTries bounds the fetches one notice starts (an owner whose entry
	// keeps changing, or that does not answer).
	fetchTries = 3
)

// gossipPacketSize keeps a memberlist packet within one link datagram.
const gossipPacketSize = linkPacketSize - seal.MaxOverhead - 1

func newGossip(n *Node) (*gossip, error) {
	g := &gossip{
		n:        n,
		tr:       newGossipTransport(n),
		log:      n.log,
		members:  make(map[identity.PublicKey]string),
		wanted:   make(map[identity.PublicKey]uint64),
		joinReq:  make(map[identity.PublicKey]bool),
		joinWake: make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	cfg := memberlist.DefaultLANConfig()
	cfg.Name = n.pub.String()
	cfg.Transport = g.tr
	cfg.Delegate = g
	cfg.Events = g
	cfg.Logger = log.New(&memberlistLog{log: n.log, warn: n.warn}, "", 0)
	cfg.GossipInterval = gossipInterval
	cfg.GossipNodes = gossipNodes
	cfg.ProbeInterval = gossipProbeInterval
	cfg.ProbeTimeout = gossipProbeTimeout
	cfg.SuspicionMult = gossipSuspicionMult
	cfg.PushPullInterval = gossipPushPull
	cfg.TCPTimeout = gossipStreamTimeout
	cfg.RetransmitMult = gossipRetransmitMult
	cfg.UDPBufferSize = gossipPacketSize
	cfg.EnableCompression = false // small messages, and CPU is what links are short of
	g.queue = &memberlist.TransmitLimitedQueue{NumNodes: g.numNodes, RetransmitMult: cfg.RetransmitMult}
	ml, err := memberlist.Create(cfg)
	if err != nil {
		return nil, err
	}
	g.ml = ml
	go g.joiner()
	return g, nil
}

func (g *gossip) numNodes() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.members) + 1
}

// isMember reports whether peer is an alive member.
func (g *gossip) isMember(peer identity.PublicKey) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.members[peer]
	return ok
}

// memberState returns memberlist's state of peer ("-" when unknown).
func (g *gossip) memberState(peer identity.PublicKey) string {
	name := peer.String()
	for _, m := range g.ml.Members() {
		if m.Name == name {
			switch m.State {
			case memberlist.StateAlive:
				return "alive"
			case memberlist.StateSuspect:
				return "suspect"
			}
		}
	}
	return "-"
}

// requestJoin asks to join the group through peer (a member the rendezvous
// announced). Joins run on one goroutine; a request for a known member is cheap.
func (g *gossip) requestJoin(peer identity.PublicKey) {
	if g.isMember(peer) {
		return
	}
	g.mu.Lock()
	g.joinReq[peer] = true
	g.mu.Unlock()
	select {
	case g.joinWake <- struct{}{}:
	default:
	}
}

// joiner joins through requested peers. A failed join (typically: the link to
// the peer is still handshaking) is retried with a backoff from 1 s to 30 s for
// as long as the peer is at the rendezvous, so a node that came up while its
// peers were busy still joins without waiting for new presence news, and a peer
// that left is not dialed again (its link would come back and linger).
func (g *gossip) joiner() {
	const retryMin, retryMax = time.Second, 30 * time.Second
	backoff := retryMin
	var retry <-chan time.Time
	failed := make(map[identity.PublicKey]bool) // bounded by the link table
	for {
		select {
		case <-g.done:
			return
		case <-g.joinWake:
		case <-retry:
			retry = nil
			var again []identity.PublicKey
			for k := range failed {
				if g.n.isPresent(k) { // a peer that left is not retried
					again = append(again, k)
				}
			}
			clear(failed)
			g.mu.Lock()
			for _, k := range again {
				g.joinReq[k] = true
			}
			g.mu.Unlock()
		}
		g.mu.Lock()
		var addrs []string
		var peers []identity.PublicKey
		for k := range g.joinReq {
			if _, ok := g.members[k]; !ok {
				addrs = append(addrs, k.String()+"/"+gossipNetAddr(k).String())
				peers = append(peers, k)
			}
		}
		clear(g.joinReq)
		g.mu.Unlock()
		if len(addrs) == 0 {
			continue
		}
		if n, err := g.ml.Join(addrs); err != nil && n == 0 {
			g.log.Debug("gossip join failed", "tried", len(addrs), "err", err, "retry_in", backoff.String())
			for _, k := range peers {
				failed[k] = true
			}
			if retry == nil {
				retry = time.After(backoff)
				backoff = min(2*backoff, retryMax)
			}
			continue
		}
		backoff = retryMin
	}
}

// publish broadcasts the version of this node's entry.
func (g *gossip) publish(e catalogEntry) {
	g.queue.QueueBroadcast(&noticeBroadcast{owner: e.Owner, msg: marshalGossipNotice(notice{e.Owner, e.Version})})
}

// noticeBroadcast is one owner's newest version in the queue; a newer one of the
// same owner replaces it.
type noticeBroadcast struct {
	owner identity.PublicKey
	msg   []byte
}

func (b *noticeBroadcast) Invalidates(o memberlist.Broadcast) bool {
	ob, ok := o.(*noticeBroadcast)
	return ok && ob.owner == b.owner
}
func (b *noticeBroadcast) Message() []byte { return b.msg }
func (b *noticeBroadcast) Finished()       {}

// want notes that owner's entry has version v and fetches it from the owner
// unless the catalog holds it already. It reports whether v was news.
func (g *gossip) want(owner identity.PublicKey, v uint64) bool {
	if owner == g.n.pub || g.n.catalog.version(owner) >= v {
		return false
	}
	if !g.isMember(owner) && !g.n.isPresent(owner) {
		return false // not a member we know of: no link for it (its join will fetch)
	}
	g.mu.Lock()
	prev, running := g.wanted[owner]
	if v > prev {
		g.wanted[owner] = v
	}
	g.mu.Unlock()
	if !running {
		go g.fetchLoop(owner)
	}
	return v > prev
}

// fetchLoop fetches owner's entry until the catalog holds the newest version
// noticed meanwhile, or a few tries failed (the next notice starts over).
func (g *gossip) fetchLoop(owner identity.PublicKey) {
	defer func() {
		g.mu.Lock()
		delete(g.wanted, owner)
		g.mu.Unlock()
	}()
	for range fetchTries {
		g.fetch(owner)
		g.mu.Lock()
		v := g.wanted[owner]
		g.mu.Unlock()
		if g.n.catalog.version(owner) >= v {
			return
		}
	}
}

// fetch gets owner's entry over a stream on the owner's link.
func (g *gossip) fetch(owner identity.PublicKey) {
	l := g.n.linkFor(owner, "")
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(g.n.runContext(), gossipStreamTimeout)
	defer cancel()
	st, err := l.openStream(ctx)
	if err != nil {
		g.log.Debug("catalog fetch failed", "owner", owner.Short(), "err", err)
		return
	}
	defer st.Close()
	st.SetDeadline(time.Now().Add(gossipStreamTimeout))
	if _, err := st.Write(streamOpen{Kind: streamCatalog}.marshal()); err != nil {
		return
	}
	e, err := readCatalog(st)
	if err != nil {
		g.n.warn("bad catalog from "+owner.String(), "peer answered a catalog fetch with junk", "peer", owner.Short(), "err", err)
		return
	}
	if e.Owner != owner {
		g.n.warn("foreign catalog from "+owner.String(), "peer answered a catalog fetch with another node's entry", "peer", owner.Short(), "entry_of", e.Owner.Short())
		return
	}
	if g.n.mergeEntry(e) {
		g.n.catalogChanged()
	}
}

// memberlist.Delegate

func (g *gossip) NodeMeta(limit int) []byte {
	name := g.n.name
	if len(name) > limit {
		name = name[:limit]
	}
	return []byte(name)
}

func (g *gossip) NotifyMsg(b []byte) {
	nt, err := parseGossip(b)
	if err != nil {
		g.log.Debug("dropped a bad gossip message", "err", err)
		return
	}
	if g.want(nt.Owner, nt.Version) {
		g.queue.QueueBroadcast(&noticeBroadcast{owner: nt.Owner, msg: append([]byte(nil), b...)})
	}
}

func (g *gossip) GetBroadcasts(overhead, limit int) [][]byte {
	return g.queue.GetBroadcasts(overhead, limit)
}

// LocalState is every version this node knows, its own included.
func (g *gossip) LocalState(join bool) []byte {
	es := g.n.catalog.snapshot()
	ns := make([]notice, 0, len(es)+1)
	for _, e := range es {
		ns = append(ns, notice{e.Owner, e.Version})
	}
	me := g.n.localEntry()
	return marshalState(append(ns, notice{me.Owner, me.Version}))
}

func (g *gossip) MergeRemoteState(buf []byte, join bool) {
	ns, err := parseState(buf)
	if err != nil {
		g.n.warn("bad catalog state", "a peer sent a bad catalog state", "err", err)
		return
	}
	for _, nt := range ns {
		g.want(nt.Owner, nt.Version)
	}
}

// memberlist.EventDelegate

func (g *gossip) NotifyJoin(m *memberlist.Node) {
	peer, err := identity.ParsePublicKey(m.Name)
	if err != nil || peer == g.n.pub {
		return
	}
	name := string(m.Meta)
	g.mu.Lock()
	g.members[peer] = name
	g.mu.Unlock()
	g.log.Info("peer joined the group", "peer", peer.Short(), "name", name)
	g.n.events.publish(api.Event{Kind: api.EventJoin, Peer: peer.String(), Name: name})
	g.n.catalog.unfence(peer)
	g.n.linkFor(peer, name)
	if g.n.catalog.version(peer) == 0 {
		g.want(peer, 1)
	}
}

func (g *gossip) NotifyLeave(m *memberlist.Node) {
	peer, err := identity.ParsePublicKey(m.Name)
	if err != nil || peer == g.n.pub {
		return
	}
	g.mu.Lock()
	name := g.members[peer]
	delete(g.members, peer)
	g.mu.Unlock()
	// memberlist hands NotifyLeave a Node whose State field it does not update
	// (nodeState.State shadows it), so a clean leave is told by the peer's
	// goodbye on the link instead.
	how := "failed"
	if l := g.n.existingLink(peer); l != nil && l.saidBye() {
		how = "left"
	}
	g.log.Info("peer left the group", "peer", peer.Short(), "name", name, "how", how)
	g.n.events.publish(api.Event{Kind: api.EventLeave, Peer: peer.String(), Name: name, Reason: how})
	g.n.catalog.remove(peer)
	g.n.catalogChanged()
	g.n.maybeDropLink(peer)
}

func (g *gossip) NotifyUpdate(m *memberlist.Node) {
	peer, err := identity.ParsePublicKey(m.Name)
	if err != nil || peer == g.n.pub {
		return
	}
	g.mu.Lock()
	if _, ok := g.members[peer]; ok {
		g.members[peer] = string(m.Meta)
	}
	g.mu.Unlock()
}

// leave tells the group we are going (so we disappear at once rather than after
// the failure-detection time) and stops memberlist.
func (g *gossip) leave() {
	if err := g.ml.Leave(gossipLeaveTimeout); err != nil {
		g.log.Debug("gossip leave", "err", err)
	}
	g.ml.Shutdown()
	close(g.done)
}

// memberlistLog turns memberlist's "[LEVEL] memberlist: msg" lines into slog
// records: its warnings and errors stay visible, its chatter goes to debug.
type memberlistLog struct {
	log  *slog.Logger
	warn func(key, msg string, args ...any) // rate-limited warnings (Node.warn)
}

func (w *memberlistLog) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(bytes.TrimRight(p, "\n")))
	level := slog.LevelDebug
	for prefix, lv := range map[string]slog.Level{"[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError, "[ERROR]": slog.LevelError} {
		if strings.HasPrefix(line, prefix) {
			level = lv
		}
	}
	if i := strings.Index(line, "memberlist: "); i >= 0 {
		line = line[i+len("memberlist: "):]
	}
	if level == slog.LevelWarn && w.warn != nil {
		// A misbehaving member can make memberlist repeat a warning endlessly.
		w.warn("gossip "+strings.Join(strings.Fields(line)[:min(4, len(strings.Fields(line)))], " "), "gossip: "+line)
		return len(p), nil
	}
	w.log.Log(context.Background(), level, "gossip: "+line)
	return len(p), nil
}
