package overlay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/portmap"
	"github.com/meshnode/meshnode/pkg/relay"
	"github.com/meshnode/meshnode/pkg/seal"
	"github.com/meshnode/meshnode/pkg/transport"
)

// Config describes a node. Zero values of the tuning fields take the defaults below.
type Config struct {
	Group      string            // group name
	Secret     string            // group secret; only the keys derived from it are kept
	Rendezvous string            // host:port of the rendezvous, or a ws:// or wss:// URL
	AuthKey    *relay.AuthSecret // the rendezvous' auth key (nil: an open rendezvous)
	// Relay, when set, replaces the rendezvous client New would build from
	// Rendezvous, Transport and AuthKey (tests use an in-memory one).
	Relay     Relay
	Name      string              // this node's name (shown to peers)
	Key       identity.PrivateKey // the node's long-term key
	StateDir  string              // where mappings persist; "" keeps nothing
	Services  []Service           // what this node serves
	Transport transport.Transport // how to reach the rendezvous (default TCP)
	// Cipher is the link suite this node initiates with; CipherAccept are
	// further suites it answers and falls back to when a peer refuses Cipher,
	// CipherDecline suites it refuses without reporting a failure (see
	// seal.ChannelConfig). Nil Cipher: seal.AutoSuites (AES-GCM between nodes
	// with AES instructions, else ChaCha20-Poly1305).
	Cipher        seal.Cipher
	CipherAccept  []seal.Cipher
	CipherDecline []string
	Logger        *slog.Logger

	MaxPeers        int // links to authenticated peers kept at once (default 1024)
	MaxPendingLinks int // links to peers that never authenticated (default 64; the oldest is evicted)
	// StrangerHandshakes bounds the handshakes per second this node answers
	// from peers it never had a session with (default seal's 200).
	StrangerHandshakes int
	MaxConnsPerService int           // concurrent served connections per service (default 4096)
	MaxConnsPerMapping int           // concurrent connections per mapping (default 4096)
	MaxPendingStreams  int           // accepted streams still reading their header (default 1024)
	DialTimeout        time.Duration // dialing a service target (default 5 s)
	OpenTimeout        time.Duration // waiting for a link to open a stream (default 15 s)
	ResolveWait        time.Duration // how long `map` waits for an unknown serveid to appear (default 5 s)
	LinkGrace          time.Duration // how long a link outlives its peer's absence from the rendezvous (default 30 s)

	// PluginStatus, when set, reports the plugins behind Cipher and Transport
	// for Status.
	PluginStatus func() []api.PluginStatus

	RelayOnly     bool     // never look for direct paths (debugging, or networks that forbid UDP)
	DirectOnly    bool     // carry data only on direct paths (debugging): relayed links move nothing
	ICEInterfaces []string // interfaces that give ICE host candidates (default all but loopback; "lo" adds loopback)
	// PortMapping asks the gateway (PCP, NAT-PMP, UPnP IGD) to map each ICE
	// attempt's host socket and offers the mapped address as a candidate
	// (pkg/portmap). Off in the zero Config; meshnode turns it on unless
	// --no-port-mapping.
	PortMapping bool
	// NoHardNAT turns off the hard-NAT methods (port prediction, birthday
	// punching) that follow a failed plain ICE attempt.
	NoHardNAT bool

	// Adhoc is this node's rules for other members' ad-hoc requests (off
	// unless Adhoc.Allow).
	Adhoc AdhocConfig
}

func (c *Config) setDefaults() {
	if c.Transport == nil {
		c.Transport = transport.TCP()
	}
	if c.Cipher == nil {
		c.Cipher, c.CipherAccept, c.CipherDecline = seal.AutoSuites()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxPeers, 1024)
	def(&c.MaxPendingLinks, 64)
	def(&c.MaxConnsPerService, 4096)
	def(&c.MaxConnsPerMapping, 4096)
	def(&c.MaxPendingStreams, 1024)
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defd(&c.DialTimeout, 5*time.Second)
	defd(&c.OpenTimeout, 15*time.Second)
	defd(&c.ResolveWait, 5*time.Second)
	defd(&c.LinkGrace, smuxKeepAliveLimit)
	c.Adhoc.setDefaults()
}

// Node is one member of a group.
type Node struct {
	cfg    Config
	key    identity.PrivateKey
	pub    identity.PublicKey
	group  identity.Group
	name   string
	cipher seal.Cipher
	log    *slog.Logger
	relay  Relay
	start  time.Time

	streamSlots slots
	hsBudget    *seal.HandshakeBudget // answers to strangers, node-wide
	catalog     *catalog
	gossip      atomic.Pointer[gossip] // set by Run
	helloEntry  atomic.Pointer[[]byte] // the local catalog entry as link hellos carry it (nil: too big)
	publishMu   sync.Mutex             // orders publish calls (taken before n.mu and any link's mu)
	ready       chan struct{}          // closed when Run has restored state and started gossip
	events      *eventBus
	warnings    warnings
	stats       nodeStats       // counters for Metrics (stats.go)
	portmap     *portmap.Client // nil unless Config.PortMapping
	// Hard-NAT attempts and the direct paths they found, by method.
	hardNATTries, hardNATWins hardNATCounters

	mu       sync.Mutex
	links    map[identity.PublicKey]*link
	present  map[identity.PublicKey]struct{} // peers at the rendezvous
	services map[ServeID]*localService
	mappings map[int]*mapping
	version  uint64          // of the local catalog entry
	nat      natInfo         // this node's network, from the last netcheck
	public   netip.Addr      // this node's public address, from the last netcheck
	ctx      context.Context // set by Run; mappings live in it
	closing  bool

	conflictsLogged map[string]bool // serveid conflicts already reported
}

// New checks cfg and builds a node. It starts nothing: call Run.
func New(cfg Config) (*Node, error) {
	if cfg.Rendezvous == "" && cfg.Relay == nil {
		return nil, errors.New("no rendezvous address given")
	}
	if cfg.Key.IsZero() {
		return nil, errors.New("no node key given")
	}
	if cfg.RelayOnly && cfg.DirectOnly {
		return nil, errors.New("relay-only and direct-only exclude each other")
	}
	if err := validateLabel("node name", cfg.Name, maxNodeName); err != nil {
		return nil, err
	}
	group, err := identity.DeriveGroup(cfg.Group, cfg.Secret)
	if err != nil {
		return nil, err
	}
	// The KDF's 32 MiB are garbage now: give them back to the system at once,
	// or an idle node keeps them in its RSS (measured: 53 vs 20 MiB).
	debug.FreeOSMemory()
	cfg.setDefaults()
	if cfg.Relay == nil {
		if err := transport.CheckAddr(cfg.Transport, cfg.Rendezvous); err != nil {
			return nil, err
		}
	}
	n := &Node{
		cfg:         cfg,
		key:         cfg.Key,
		pub:         cfg.Key.Public(),
		group:       group,
		name:        cfg.Name,
		cipher:      cfg.Cipher,
		log:         cfg.Logger,
		start:       time.Now(),
		streamSlots: newSlots(cfg.MaxPendingStreams),
		hsBudget:    seal.NewHandshakeBudget(cfg.StrangerHandshakes),
		catalog:     newCatalog(),
		links:       make(map[identity.PublicKey]*link),
		present:     make(map[identity.PublicKey]struct{}),
		services:    make(map[ServeID]*localService),
		mappings:    make(map[int]*mapping),
		ready:       make(chan struct{}),
		events:      newEventBus(),
		warnings:    warnings{every: warnEvery},

		conflictsLogged: make(map[string]bool),
	}
	n.cfg.Secret = "" // keep only the derived keys
	if cfg.PortMapping && !cfg.RelayOnly {
		if n.portmap, err = portmap.New(portmap.Config{Logger: cfg.Logger, Description: "meshnode " + cfg.Name}); err != nil {
			return nil, err
		}
	}
	if n.version, err = loadVersion(cfg.StateDir); err != nil {
		return nil, err
	}
	for _, s := range cfg.Services {
		if _, err := n.addServiceLocked(s, false); err != nil {
			return nil, err
		}
	}
	n.bumpVersionLocked()
	n.relay = cfg.Relay
	if n.relay == nil {
		if n.relay, err = newClientRelay(&n.cfg, group); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// Ready is closed once Run has restored the persisted services and mappings and
// started gossip: from then on the node's API answers with its full state.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// ID returns the node's public key (its ID).
func (n *Node) ID() identity.PublicKey { return n.pub }

// Run runs the node until ctx is done: it keeps a connection to the rendezvous,
// links to peers, gossips membership and the catalog, serves streams and
// restores persisted services and mappings. It returns nil on a clean stop.
func (n *Node) Run(ctx context.Context) error {
	// Links, gossip and mappings live until the shutdown sequence ends them, not
	// until ctx ends: leaving the group needs the links for a moment longer.
	life, endLife := context.WithCancel(context.Background())
	defer endLife()
	n.mu.Lock()
	n.ctx = life
	n.mu.Unlock()

	st, err := loadState(n.cfg.StateDir)
	if err != nil {
		return err
	}
	n.restoreServices(st.Services)
	n.setHelloEntry(n.localEntry()) // before any link: their first hellos carry it
	n.log.Info("node starting", "id", n.pub.String(), "name", n.name, "group", n.cfg.Group,
		"rendezvous", n.cfg.Rendezvous, "services", len(n.LocalServices()), "cipher", n.cipher.Name())
	g, err := newGossip(n)
	if err != nil {
		return fmt.Errorf("gossip: %w", err)
	}
	n.gossip.Store(g)
	n.restoreMappings(st.Mappings)
	close(n.ready)

	relayDone := make(chan error, 1)
	go func() { relayDone <- n.relay.Run(life, relayEvents{n}) }()
	go n.netcheckLoop(life)
	go n.janitor(life)
	if n.cfg.Adhoc.Allow {
		go n.adhocLoop(life)
	}
	select {
	case <-ctx.Done():
	case err = <-relayDone: // only if it could not run at all
		relayDone = nil
	}
	n.shutdown(g)
	endLife()
	if relayDone != nil {
		<-relayDone
	}
	n.log.Info("node stopped")
	return err
}

// shutdown stops mappings (no new connections), leaves the group while links
// still work, then closes the links.
func (n *Node) shutdown(g *gossip) {
	n.mu.Lock()
	n.closing = true
	maps := make([]*mapping, 0, len(n.mappings))
	for _, m := range n.mappings {
		maps = append(maps, m)
	}
	n.mu.Unlock()
	for _, m := range maps {
		m.stop()
	}
	links := n.linkList()
	for _, l := range links {
		l.sendMessage(msgBye, nil)
	}
	g.leave()
	for _, l := range links {
		l.close()
	}
	// The links' ICE sessions close in their pathFinders' goroutines, which
	// also delete the gateway's port mappings: wait for them, briefly.
	deadline := time.NewTimer(finderExitWait)
	defer deadline.Stop()
	for _, l := range links {
		if l.finder == nil || !l.finder.running.Load() {
			continue
		}
		select {
		case <-l.finder.exited:
		case <-deadline.C:
			n.log.Debug("stopping without waiting for every link's ICE session to close")
			return
		}
	}
}

// finderExitWait bounds how long a stopping node waits for its links' ICE
// sessions to close (a port mapping's delete takes one round trip to the
// gateway, at most portmap's 1.5 s timeout).
const finderExitWait = 3 * time.Second

// existingLink returns the link to peer, or nil; it never creates one.
func (n *Node) existingLink(peer identity.PublicKey) *link {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.links[peer]
}

// relayEvents is the node as its Relay's handler.
type relayEvents struct{ n *Node }

func (e relayEvents) HandlePacket(src identity.PublicKey, pkt []byte, more bool) {
	e.n.onPacket(src, pkt, more)
}
func (e relayEvents) HandlePresence(ev relay.PresenceEvent) { e.n.onPresence(ev) }
func (e relayEvents) HandleGroupInfo(gi relay.GroupInfo)    { e.n.onGroupInfo(gi) }

// onPacket receives a sealed packet relayed from a member of our group.
func (n *Node) onPacket(src identity.PublicKey, payload []byte, more bool) {
	l := n.linkFor(src, "")
	if l == nil {
		return
	}
	l.receive(payload, more)
}

func (n *Node) onPresence(ev relay.PresenceEvent) {
	switch ev.Kind {
	case relay.PeerJoined:
		n.mu.Lock()
		n.present[ev.Key] = struct{}{}
		n.mu.Unlock()
		n.log.Debug("peer at the rendezvous", "peer", ev.Key.Short())
		// Both sides initiate: a peer that restarted has no session while we may
		// still hold one from its previous run, so waiting for "the other side"
		// could wait forever. Simultaneous handshakes converge (pkg/seal).
		if l := n.linkFor(ev.Key, ""); l != nil {
			l.initiate()
		}
		if g := n.gossip.Load(); g != nil {
			g.requestJoin(ev.Key)
		}
	case relay.PeerLeft:
		n.mu.Lock()
		delete(n.present, ev.Key)
		n.mu.Unlock()
		n.log.Debug("peer left the rendezvous", "peer", ev.Key.Short())
		n.maybeDropLink(ev.Key)
	}
}

// onGroupInfo reports nodes that use our group's name with another secret: the
// clearest sign that this node's secret (or theirs) is wrong.
func (n *Node) onGroupInfo(gi relay.GroupInfo) {
	if gi.Others == 0 {
		return
	}
	n.mu.Lock()
	alone := len(n.present) == 0
	n.mu.Unlock()
	if alone {
		n.log.Warn("the rendezvous has nodes in this group with a different group secret, and none with ours: check the secret (--secret-file) on every node",
			"group", n.cfg.Group, "others", gi.Others)
		return
	}
	n.log.Warn("nodes use this group's name with a different group secret; they cannot see this group or be seen by it",
		"group", n.cfg.Group, "others", gi.Others)
}

// maybeDropLink closes the link to peer after LinkGrace if by then the peer is
// neither at the rendezvous nor a member of the group. A rendezvous restart
// makes peers leave and rejoin in some order: the grace keeps their links (and
// open streams) through it.
func (n *Node) maybeDropLink(peer identity.PublicKey) {
	time.AfterFunc(n.cfg.LinkGrace, func() {
		n.mu.Lock()
		_, present := n.present[peer]
		l := n.links[peer]
		g := n.gossip.Load()
		if present || l == nil || n.closing || g != nil && g.isMember(peer) {
			n.mu.Unlock()
			return
		}
		delete(n.links, peer)
		n.mu.Unlock()
		l.close()
		n.log.Debug("link closed: the peer is gone", "peer", peer.Short(), "name", l.peerName())
	})
}

// catalogChanged runs after the catalog changed.
func (n *Node) catalogChanged() { n.resolveConflicts() }

// Rehandshake makes every link agree on fresh keys now (same generation, so
// open streams continue), e.g. after the cipher plugin restarted.
func (n *Node) Rehandshake() {
	links := n.linkList()
	for _, l := range links {
		l.mu.Lock()
		helloInit, helloResp := l.hello()
		l.mu.Unlock()
		if err := l.ch.Rehandshake(helloInit, helloResp); err != nil {
			l.log.Debug("re-handshake not started", "err", err)
		}
	}
	n.log.Info("re-handshaking every link", "links", len(links))
}

// linkList returns the node's links (a snapshot: call it without n.mu).
func (n *Node) linkList() []*link {
	n.mu.Lock()
	defer n.mu.Unlock()
	links := make([]*link, 0, len(n.links))
	for _, l := range n.links {
		links = append(links, l)
	}
	return links
}

func (n *Node) isPresent(peer identity.PublicKey) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.present[peer]
	return ok
}

// Peers lists the group members this node knows, sorted by name.
func (n *Node) Peers() []api.PeerInfo {
	n.mu.Lock()
	links := make([]*link, 0, len(n.links))
	for _, l := range n.links {
		links = append(links, l)
	}
	present := make(map[identity.PublicKey]bool, len(n.present))
	for k := range n.present {
		present[k] = true
	}
	n.mu.Unlock()
	g := n.gossip.Load()
	out := make([]api.PeerInfo, 0, len(links))
	for _, l := range links {
		p := l.info()
		p.Present = present[l.peer]
		p.Member = "-"
		if g != nil {
			p.Member = g.memberState(l.peer)
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out
}
