package overlay

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xtaci/kcp-go/v5"
	"github.com/xtaci/smux"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/seal"
)

// link is this node's connection to one peer: a seal.Channel for keys, the current
// generation (KCP + smux) for streams, and the route packets take.
type link struct {
	n    *Node
	peer identity.PublicKey
	addr *linkAddr
	log  *slog.Logger

	bytesIn, bytesOut atomic.Uint64 // sealed link packets, both routes
	lastSeen          atomic.Int64  // unix ns of the last authentic packet from the peer
	everUp            atomic.Bool   // a session was established once: the peer proved the group secret
	created           time.Time
	byeAt             atomic.Int64 // unix ns of the peer's goodbye (it left cleanly)

	ch     *seal.Channel // for the link's whole life
	route  route         // relay or direct: where sealed packets go (route.go)
	finder *pathFinder   // nil with --relay-only
	pings  pingWaiters

	mu        sync.Mutex
	epoch     uint64 // our epoch, sent in our hello
	gen       *generation
	genUp     chan struct{} // closed when gen becomes non-nil; replaced when it goes down
	name      string        // the peer's name, from presence or its hello
	lastErr   error         // last handshake failure, for status and open errors
	loggedErr string        // what we last logged about failures (one line per change)
	since     time.Time     // when the current generation came up
	peerNAT   natInfo       // what the peer told us of its network
	closed    bool
}

// generation is one KCP session and the smux session over it.
type generation struct {
	l             *link
	local, remote uint64 // epochs
	start         time.Time
	conn          *kcpConn
	kcp           *kcp.UDPSession
	mux           *smux.Session
	why           atomic.Pointer[string] // why it went down; set before the mux closes
}

func newLink(n *Node, peer identity.PublicKey, name string) *link {
	l := &link{
		n:       n,
		peer:    peer,
		addr:    &linkAddr{s: peer.String()},
		log:     n.log.With("peer", peer.Short()),
		name:    name,
		genUp:   make(chan struct{}),
		epoch:   randomEpoch(),
		created: time.Now(),
		route:   route{relay: n.relay, peer: peer},
	}
	helloInit, helloResp := l.hello()
	ch, err := seal.NewChannel(seal.ChannelConfig{
		Cipher:        n.cipher,
		Accept:        n.cfg.CipherAccept,
		Decline:       n.cfg.CipherDecline,
		Local:         n.key,
		Remote:        peer,
		PSK:           n.group.PSK,
		Hello:         helloInit,
		ResponseHello: helloResp,
		Send:          l.sendPacket,
		OnEstablished: l.established,
		OnFailure:     l.failed,
		Budget:        n.hsBudget,
		Logger:        n.log, // seal adds the peer attribute itself
	})
	if err != nil {
		// Only a programming error (bad static config) gets here.
		panic(fmt.Sprintf("overlay: seal channel: %v", err))
	}
	l.ch = ch
	if !n.cfg.RelayOnly {
		l.finder = newPathFinder(l)
	}
	return l
}

func randomEpoch() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) | 1 // never zero
}

// hello is what our handshakes tell the peer. An initiation carries only our
// epoch: its payload is readable by whoever holds the key we address, before
// the group secret is proven (IKpsk2 mixes the PSK in at the response). A
// response, which only a holder of the secret can read, also carries our name
// and catalog entry, so a node that links to us can map our services at once;
// the initiator sends the same in a msgInfo as soon as its session is up. Call
// it with l.mu held, or before the link is shared.
func (l *link) hello() (initiation, response []byte) {
	return hello{Epoch: l.epoch}.marshal(), l.fullHello().marshal()
}

// fullHello is our epoch, name and catalog entry (when it fits).
func (l *link) fullHello() hello {
	h := hello{Epoch: l.epoch, Name: l.n.name}
	if e := l.n.helloEntry.Load(); e != nil {
		h.Entry = *e
	}
	return h
}

// refreshHello puts the node's current catalog entry into the link's later
// handshake responses.
func (l *link) refreshHello() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.ch.SetHello(l.hello())
	}
}

// takeInfo takes the name and catalog entry from the peer's msgInfo (sealed
// with a confirmed session: it comes from a group member).
func (l *link) takeInfo(h hello) {
	if h.Name != "" {
		l.mu.Lock()
		l.name = h.Name
		l.mu.Unlock()
	}
	if h.Entry != nil {
		l.takeEntry(h.Entry)
	}
}

// takeEntry merges the catalog entry the peer's hello carried.
func (l *link) takeEntry(body []byte) {
	e, err := parseEntry(body)
	if err != nil {
		l.warn("bad entry", "peer's hello carried a bad catalog entry; ignoring it", "err", err)
		return
	}
	if e.Owner != l.peer {
		l.warn("foreign entry", "peer's hello carried another node's catalog entry; ignoring it", "entry_of", e.Owner.Short())
		return
	}
	if l.n.mergeEntry(e) {
		l.n.catalogChanged()
	}
}

// established is the seal.Channel callback for a new current session.
func (l *link) established(e seal.Established) {
	h, err := parseHello(e.RemoteHello)
	if err != nil {
		l.warn("bad hello", "peer sent a bad hello; ignoring its session", "err", err)
		return
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	if h.Name != "" {
		l.name = h.Name
	}
	l.everUp.Store(true)
	l.n.stats.handshakesOK.Add(1)
	var info []byte
	if e.Initiator {
		info = l.fullHello().marshal()
	}
	l.lastErr, l.loggedErr = nil, ""
	if g := l.gen; g != nil && g.local == l.epoch && g.remote == h.Epoch {
		l.mu.Unlock() // a rekey: the generation goes on
		if info != nil {
			l.sendMessage(msgInfo, info)
		}
		return
	}
	old := l.gen
	firstEver := old == nil && l.since.IsZero()
	g, err := l.newGenerationLocked(h.Epoch)
	if err != nil {
		l.mu.Unlock()
		l.log.Error("cannot start link session", "err", err)
		return
	}
	l.gen, l.since = g, time.Now()
	if old == nil {
		close(l.genUp) // with an old generation it is closed already
	}
	name := l.name
	l.mu.Unlock()

	if old != nil {
		old.kill("the peer restarted or reset the link")
	}
	l.log.Info("link up", "name", name, "path", l.pathName(), "suite", e.Suite, "restarted", old != nil)
	if h.Entry != nil {
		l.takeEntry(h.Entry)
	}
	go l.acceptLoop(g)
	go l.watch(g)
	if info != nil {
		l.sendMessage(msgInfo, info)
	}
	l.sendMessage(msgNAT, l.n.natInfo().marshal())
	if firstEver && l.finder != nil {
		l.finder.running.Store(true)
		go l.finder.run()
	}
}

func (l *link) pathName() api.Path {
	if l.route.isDirect() {
		return api.PathDirect
	}
	return api.PathRelay
}

func (l *link) newGenerationLocked(remote uint64) (*generation, error) {
	g := &generation{l: l, local: l.epoch, remote: remote, start: time.Now()}
	g.conn = newKCPConn(l.addr, l.sendSegment)
	conv := uint32(g.local^g.remote) ^ uint32((g.local^g.remote)>>32)
	s, err := kcp.NewConn3(conv, l.addr, nil, 0, 0, g.conn)
	if err != nil {
		g.conn.Close()
		return nil, fmt.Errorf("kcp session: %w", err)
	}
	tuneKCP(s, seal.MaxOverhead)
	g.conn.sess.Store(s)
	g.kcp = s
	// smux numbers streams by side: the lower node key is the "client".
	if l.n.pub.Less(l.peer) {
		g.mux, err = smux.Client(s, smuxConfig())
	} else {
		g.mux, err = smux.Server(s, smuxConfig())
	}
	if err != nil {
		s.Close()
		g.conn.Close()
		return nil, fmt.Errorf("smux session: %w", err)
	}
	return g, nil
}

func (g *generation) close() {
	g.mux.Close()
	g.kcp.Close()
	g.conn.Close()
}

// kill closes the generation for a reason its streams report (the first
// reason given wins).
func (g *generation) kill(why string) {
	g.why.CompareAndSwap(nil, &why)
	g.close()
}

// downReason says why the generation went down.
func (g *generation) downReason() string {
	if p := g.why.Load(); p != nil {
		return *p
	}
	return "its session ended (smux keepalive timed out)"
}

// downErr is the error of a stream cut off because g went down.
func (g *generation) downErr() error {
	peer := "the peer"
	if g.l != nil {
		peer = "peer " + g.l.label()
	}
	return &linkDownError{peer: peer, why: g.downReason()}
}

// label names the peer for messages: "NAME (ID)", or the ID alone.
func (l *link) label() string {
	if name := l.peerName(); name != "" {
		return name + " (" + l.peer.Short() + ")"
	}
	return l.peer.Short()
}

// silence says why g should be given up for the peer's silence, or "": nothing
// authentic arrived from the peer for linkSilenceLimit (byeSilenceLimit after
// it said goodbye during g).
func (l *link) silence(g *generation, now time.Time) string {
	if l.n.cfg.DirectOnly && !l.route.isDirect() {
		return "" // nothing but handshakes can move yet: silence is expected
	}
	last := max(l.lastSeen.Load(), g.start.UnixNano())
	silent := now.Sub(time.Unix(0, last))
	limit, how := linkSilenceLimit, "nothing heard from it"
	if bye := l.byeAt.Load(); bye > g.start.UnixNano() {
		limit, how = byeSilenceLimit, "it said goodbye, then nothing heard from it"
	}
	if silent < limit {
		return ""
	}
	why := fmt.Sprintf("%s for %s", how, silent.Round(time.Second))
	switch state, _ := l.routeDown(); state {
	case api.LinkStateDownRendezvous:
		why += "; the rendezvous is unreachable"
	case api.LinkStateDownPeerAway:
		why += "; it is not at the rendezvous either"
	}
	return why
}

// watch tears the link's generation down when its smux session dies (keepalive
// timeout, a peer that reset) or the peer has been silent too long (silence),
// and re-handshakes with a new epoch, so the peer replaces its generation too.
func (l *link) watch(g *generation) {
	tick := time.NewTicker(linkCheckEvery)
	for alive := true; alive; {
		select {
		case <-g.mux.CloseChan():
			alive = false
		case now := <-tick.C:
			if why := l.silence(g, now); why != "" {
				g.why.CompareAndSwap(nil, &why)
				alive = false
			}
		}
	}
	tick.Stop()
	l.mu.Lock()
	if l.gen != g || l.closed {
		l.mu.Unlock()
		return
	}
	l.gen = nil
	l.genUp = make(chan struct{})
	l.epoch = randomEpoch()
	helloInit, helloResp := l.hello()
	up := time.Since(l.since).Round(time.Second)
	name := l.name
	l.mu.Unlock()
	g.close()
	l.log.Warn("link down; re-handshaking", "name", name, "was_up", up.String(), "reason", g.downReason())
	if err := l.ch.Rehandshake(helloInit, helloResp); err != nil && !errors.Is(err, seal.ErrClosed) {
		l.log.Error("cannot re-handshake", "err", err)
	}
}

// failed is the seal.Channel callback for a failed handshake. It logs one line per
// distinct reason, not one per retry.
func (l *link) failed(err error) {
	l.n.stats.countHandshakeFailure(err)
	l.mu.Lock()
	l.lastErr = err
	reason := failureReason(err)
	repeat := reason == l.loggedErr
	l.loggedErr = reason
	name := l.name
	l.mu.Unlock()
	if !repeat {
		l.log.Warn("cannot link to peer", "name", name, "reason", reason, "err", err)
	}
}

func failureReason(err error) string {
	switch {
	case errors.Is(err, seal.ErrSecretMismatch):
		return "group secret differs"
	case errors.Is(err, seal.ErrSuiteMismatch):
		return "cipher suites differ"
	case errors.Is(err, seal.ErrPeerKeyMismatch):
		return "peer key mismatch"
	case errors.Is(err, seal.ErrHandshakeTimeout):
		return "handshake timed out"
	default:
		return "handshake failed"
	}
}

func (l *link) peerName() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.name
}

// initiate starts a handshake unless one is current or running.
func (l *link) initiate() { l.ch.Initiate() }

// openStream opens a stream to the peer, waiting (up to ctx) for a generation.
func (l *link) openStream(ctx context.Context) (*smux.Stream, error) {
	st, _, err := l.openStreamGen(ctx)
	return st, err
}

// openStreamGen is openStream that also returns the stream's generation. It
// fails at once while the link has no route the peer can be reached on (see
// unreachable).
func (l *link) openStreamGen(ctx context.Context) (*smux.Stream, *generation, error) {
	for {
		if err := l.unreachable(); err != nil {
			return nil, nil, err
		}
		l.mu.Lock()
		g, up, closed := l.gen, l.genUp, l.closed
		l.mu.Unlock()
		if closed {
			return nil, nil, fmt.Errorf("peer %s left the group", l.peer.Short())
		}
		if g != nil {
			st, err := g.mux.OpenStream()
			if err == nil {
				return st, g, nil
			}
			if !g.mux.IsClosed() {
				return nil, nil, fmt.Errorf("open stream to peer %s: %w", l.peer.Short(), err)
			}
			// The generation is going down; wait for the next.
			select {
			case <-g.mux.CloseChan():
			case <-ctx.Done():
			}
			l.waitReplaced(g)
			continue
		}
		l.ch.Initiate()
		select {
		case <-up:
		case <-ctx.Done():
			l.mu.Lock()
			cause := l.lastErr
			l.mu.Unlock()
			if cause != nil {
				return nil, nil, fmt.Errorf("no secure link to peer %s (%s): %w", l.peer.Short(), failureReason(cause), cause)
			}
			return nil, nil, fmt.Errorf("no secure link to peer %s yet: %w", l.peer.Short(), ctx.Err())
		}
	}
}

// waitReplaced yields until watch has cleared a dead generation, so openStream's
// loop does not spin on it.
func (l *link) waitReplaced(g *generation) {
	for i := 0; i < 100; i++ {
		l.mu.Lock()
		cur := l.gen
		l.mu.Unlock()
		if cur != g {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (l *link) acceptLoop(g *generation) {
	for {
		st, err := g.mux.AcceptStream()
		if err != nil {
			return
		}
		if !l.n.streamSlots.tryAcquire() {
			l.warn("stream slots", "too many streams being opened; refusing one")
			st.Close()
			continue
		}
		go func() {
			defer l.n.streamSlots.release()
			l.n.handleStream(l, g, st)
		}()
	}
}

// close ends the link (the peer left, or the node stops).
func (l *link) close() {
	why := "the peer left the group"
	if l.n.isClosing() { // before l.mu: n.mu is never taken under l.mu
		why = "this node is stopping"
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	g := l.gen
	l.gen = nil
	l.ch.Close()
	l.mu.Unlock()
	if l.finder != nil {
		l.finder.stop()
	}
	if g != nil {
		g.kill(why)
	}
}

func (l *link) info() api.PeerInfo {
	local := l.n.natInfo() // before l.mu: n.mu is never taken under l.mu
	down, routeErr := l.routeDown()
	cs := l.ch.Status()
	l.mu.Lock()
	defer l.mu.Unlock()
	p := api.PeerInfo{
		ID:       l.peer.String(),
		Name:     l.name,
		Path:     api.PathRelay,
		BytesIn:  l.bytesIn.Load(),
		BytesOut: l.bytesOut.Load(),
	}
	if cs.Established {
		p.Suite = cs.Suite
	}
	if ns := l.lastSeen.Load(); ns != 0 {
		p.LastSeen = time.Unix(0, ns)
	}
	if l.finder == nil {
		p.Why = relayReason(local, l.peerNAT, nil) // finder is nil only with --relay-only
	} else {
		ri := l.finder.info()
		p.Path, p.PathSince, p.ICETries = ri.path, ri.since, ri.tries
		if ri.path == api.PathDirect {
			p.Endpoint = ri.remote + " (" + ri.remoteType + ")"
			p.Local = ri.local + " (" + ri.localType + ")"
			p.Method = ri.method
		} else {
			p.Why = relayReason(local, l.peerNAT, ri.lastErr)
		}
	}
	switch {
	case l.gen != nil:
		p.State = api.LinkStateUp
		p.Since = l.since
		p.RTTMillis = int(l.gen.kcp.GetSRTT())
		p.Streams = l.gen.mux.NumStreams()
		if down != "" {
			p.State = down
			p.Error = routeErr.Error()
		}
	case l.lastErr != nil:
		p.State = api.LinkStateFailed
		p.Error = failureReason(l.lastErr)
	default:
		p.State = api.LinkStateConnecting
	}
	return p
}

// openStreams is the number of streams open on the link's generation.
func (l *link) openStreams() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gen == nil {
		return 0
	}
	return l.gen.mux.NumStreams()
}

// isUp says whether the link has a session and a route that can carry it.
func (l *link) isUp() bool {
	if down, _ := l.routeDown(); down != "" {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen != nil
}

// routeDown says whether the link's current route cannot reach the peer now:
// the route is the relay (no direct path) and either this node is not
// connected to the rendezvous, or the peer is not. It returns the state to
// show (a LinkState constant; "" when the route works) and an error naming the
// problem. Call it without l.mu.
func (l *link) routeDown() (state api.LinkState, err error) {
	if l.route.isDirect() {
		return "", nil
	}
	if rs := l.n.relay.Status(); !rs.Connected {
		if rs.LastError == "" {
			return "", nil // the first connection attempt is still running
		}
		since := rs.Since.Format(time.RFC3339)
		return api.LinkStateDownRendezvous, &unreachableError{
			msg: fmt.Sprintf("peer %s is reachable only through the rendezvous, which is unreachable since %s: %s", l.label(), since, rs.LastError),
			key: "rendezvous unreachable since " + since + ", peer " + l.peer.String(),
		}
	}
	if !l.n.isPresent(l.peer) {
		return api.LinkStateDownPeerAway, fmt.Errorf("peer %s is reachable only through the rendezvous, and it is not connected there", l.label())
	}
	return "", nil
}

// unreachableError fails a new stream to a peer that only an unreachable
// rendezvous could reach.
type unreachableError struct {
	msg string
	key string // the same for one outage, whatever the last connection error says
}

func (e *unreachableError) Error() string { return e.msg }

// unreachable fails a new stream at once when the peer can be reached only
// through a rendezvous this node is not connected to: waiting would only time
// out with nothing moved. (A peer absent from the rendezvous is waited for: it
// may be reconnecting, and the wait is bounded by the caller.)
func (l *link) unreachable() error {
	if state, err := l.routeDown(); state == api.LinkStateDownRendezvous {
		return err
	}
	return nil
}

// saidBye reports whether the peer said goodbye in the last minute.
func (l *link) saidBye() bool {
	ns := l.byeAt.Load()
	return ns != 0 && time.Since(time.Unix(0, ns)) < time.Minute
}
