package overlay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xtaci/smux"

	"github.com/meshnode/meshnode/pkg/control/api"
)

// mappingReq is a mapping as the node keeps it: the API's request, and for a
// declared mapping (declared.go) where it is declared. Live mappings (Origin "")
// persist in the state dir as their API request.
type mappingReq struct {
	api.MappingRequest
	Origin api.Origin // "" for a live mapping
	Ref    string
}

type mapping struct {
	n     *Node
	req   mappingReq
	t     target
	ln    net.Listener // tcp: nil when it could not listen (restored mapping)
	pc    *net.UDPConn // udp
	flows map[string]*udpFlow
	lim   *limiter
	log   *slog.Logger

	total, failed atomic.Uint64
	// bytesOut: from local clients to the service; bytesIn: back to them.
	bytesOut, bytesIn atomic.Uint64

	mu        sync.Mutex
	conns     map[net.Conn]struct{}
	lastErr   string
	stopped   bool
	acceptEnd chan struct{}
}

func (req *mappingReq) normalize() (target, error) {
	if req.Port < 0 || req.Port > 65535 {
		return target{}, invalid("port %d out of range 1-65535", req.Port)
	}
	if req.Bind == "" {
		req.Bind = api.DefaultBind
	}
	if net.ParseIP(req.Bind) == nil {
		return target{}, invalid("bind address %q is not an IP address", req.Bind)
	}
	t, err := parseTarget(req.Target)
	if err != nil {
		return target{}, invalid("%v", err)
	}
	req.Target = t.String()
	if t.adhoc.IsValid() {
		switch req.Proto {
		case "":
			req.Proto = "tcp"
		case "tcp", "udp":
		default:
			return target{}, invalid("proto %q: want tcp or udp", req.Proto)
		}
		t.proto = req.Proto
	}
	if err := req.Limits.Validate(true); err != nil {
		return target{}, invalid("%v", err)
	}
	if req.Limits.IsZero() {
		req.Limits = nil
	}
	return t, nil
}

// AddMapping starts listening on the requested port and forwards every connection
// to the target service. The target must be known to the group (it may take a few
// seconds after start for the catalog to fill; AddMapping waits that long).
func (n *Node) AddMapping(ctx context.Context, ar api.MappingRequest) (api.MappingInfo, error) {
	req := mappingReq{MappingRequest: ar}
	t, err := req.normalize()
	if err != nil {
		return api.MappingInfo{}, err
	}
	if err := n.checkPortFree(req.Port); err != nil {
		return api.MappingInfo{}, err
	}
	r, err := n.resolveWait(ctx, t, n.cfg.ResolveWait)
	if err != nil {
		return api.MappingInfo{}, err
	}
	req.Proto = r.proto()
	m, err := n.startMapping(req, t)
	if err != nil {
		return api.MappingInfo{}, err
	}
	if err := n.persist(); err != nil {
		m.stop()
		n.mu.Lock()
		delete(n.mappings, m.req.Port)
		n.mu.Unlock()
		return api.MappingInfo{}, err
	}
	m.log.Info("mapping added")
	return m.info(), nil
}

func (n *Node) checkPortFree(port int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if old, ok := n.mappings[port]; ok && port != 0 {
		if old.req.Origin != "" {
			return conflict("port %d is already mapped to %s, declared by %s: change it there (then `meshnode reload`)", port, old.req.Target, old.req.Ref)
		}
		return conflict("port %d is already mapped to %s", port, old.req.Target)
	}
	return nil
}

// startMapping listens and registers the mapping.
func (n *Node) startMapping(req mappingReq, t target) (*mapping, error) {
	if err := udpLimitsErr(req.Proto, req.Limits); err != nil {
		return nil, invalid("mapping of %s: %v", req.Target, err)
	}
	if req.Proto == "udp" {
		return n.startUDPMapping(req, t)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(req.Bind, strconv.Itoa(req.Port)))
	if err != nil {
		if errors.Is(err, errAddrInUse) {
			return nil, conflict("cannot listen on %s:%d: the port is in use", req.Bind, req.Port)
		}
		return nil, invalid("cannot listen on %s:%d: %v", req.Bind, req.Port, err)
	}
	req.Port = ln.Addr().(*net.TCPAddr).Port
	m := n.newMapping(req, t)
	m.ln = ln
	if err := n.registerMapping(m); err != nil {
		ln.Close()
		return nil, err
	}
	go m.acceptLoop()
	return m, nil
}

func (n *Node) registerMapping(m *mapping) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, dup := n.mappings[m.req.Port]; dup || n.closing {
		return conflict("port %d is already mapped", m.req.Port)
	}
	n.mappings[m.req.Port] = m
	return nil
}

func (n *Node) newMapping(req mappingReq, t target) *mapping {
	return &mapping{
		n: n, req: req, t: t,
		lim:       newLimiter(req.Limits, n.cfg.MaxConnsPerMapping),
		conns:     make(map[net.Conn]struct{}),
		acceptEnd: make(chan struct{}),
		log:       n.log.With("port", req.Port, "bind", req.Bind, "service", req.Target),
	}
}

// RemoveMapping stops a mapping and closes its open connections.
func (n *Node) RemoveMapping(port int) error {
	n.mu.Lock()
	m, ok := n.mappings[port]
	if ok && m.req.Origin != "" {
		n.mu.Unlock()
		return conflict("the mapping on port %d is declared by %s, not added live: remove it there (then `meshnode reload`)", port, m.req.Ref)
	}
	if ok {
		delete(n.mappings, port)
	}
	n.mu.Unlock()
	if !ok {
		return notFound("no mapping on port %d", port)
	}
	closed := m.stop()
	if err := n.persist(); err != nil {
		return err
	}
	m.log.Info("mapping removed", "connections_closed", closed)
	return nil
}

// Mappings lists the node's mappings by port.
func (n *Node) Mappings() []api.MappingInfo {
	n.mu.Lock()
	ms := make([]*mapping, 0, len(n.mappings))
	for _, m := range n.mappings {
		ms = append(ms, m)
	}
	n.mu.Unlock()
	out := make([]api.MappingInfo, len(ms))
	for i, m := range ms {
		out[i] = m.info()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Port < out[j].Port })
	return out
}

func (n *Node) persist() error {
	n.mu.Lock()
	st := savedState{Mappings: make([]api.MappingRequest, 0, len(n.mappings))}
	for _, m := range n.mappings {
		if m.req.Origin == "" { // declared mappings come from the config each start
			st.Mappings = append(st.Mappings, m.req.MappingRequest)
		}
	}
	for _, s := range n.services {
		if s.persist {
			st.Services = append(st.Services, s.Service)
		}
	}
	n.mu.Unlock()
	sort.Slice(st.Services, func(i, j int) bool { return st.Services[i].ID < st.Services[j].ID })
	sort.Slice(st.Mappings, func(i, j int) bool { return st.Mappings[i].Port < st.Mappings[j].Port })
	if err := saveState(n.cfg.StateDir, st); err != nil {
		return fmt.Errorf("persist mappings: %w", err)
	}
	return nil
}

// restoreMappings brings back the mappings of the last run. One that cannot listen
// any more stays listed with its error until it is unmapped.
func (n *Node) restoreMappings(saved []api.MappingRequest) {
	for _, r := range saved {
		req := mappingReq{MappingRequest: r}
		t, err := req.normalize()
		if err != nil || req.Port == 0 {
			n.log.Error("dropping a bad saved mapping", "target", req.Target, "port", req.Port, "err", err)
			continue
		}
		m, err := n.startMapping(req, t)
		if err != nil {
			m = n.newMapping(req, t)
			m.setErr(err)
			close(m.acceptEnd)
			n.mu.Lock()
			n.mappings[req.Port] = m
			n.mu.Unlock()
			m.log.Error("mapping not restored", "err", err)
			continue
		}
		m.log.Info("mapping restored")
	}
}

func (m *mapping) acceptLoop() {
	defer close(m.acceptEnd)
	var delay time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: back off instead of spinning.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			m.log.Warn("accept failed", "err", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if !m.lim.slots.tryAcquire() {
			m.lim.refused.Add(1)
			m.noteErr(fmt.Errorf("connection limit (max-conns %d) reached; refusing a connection", cap(m.lim.slots)))
			c.Close()
			continue
		}
		if !m.track(c) {
			m.lim.slots.release()
			c.Close()
			return
		}
		go m.forward(c.(*net.TCPConn))
	}
}

func (m *mapping) track(c net.Conn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return false
	}
	m.conns[c] = struct{}{}
	return true
}

// forward connects one local connection to the service.
func (m *mapping) forward(c *net.TCPConn) {
	defer func() {
		m.mu.Lock()
		delete(m.conns, c)
		m.mu.Unlock()
		m.lim.slots.release()
	}()
	m.total.Add(1)
	ctx, cancel := context.WithTimeout(m.n.runContext(), m.n.cfg.OpenTimeout)
	remote, err := m.n.dialTarget(ctx, m.t, addrPortOf(c.RemoteAddr()))
	cancel()
	if err != nil {
		m.noteErr(err)
		abort(c) // a reset: the client must not take it for an empty answer
		return
	}
	var local halfCloser = c
	var lc *limitedConn
	if m.lim.shapes() {
		lc = m.lim.wrap(m.n.runContext(), c)
		defer lc.done()
		local = lc
	}
	up, down, err := spliceCounted(local, remote, &m.bytesOut, &m.bytesIn)
	var se *statusError
	switch {
	case lc != nil && lc.Idled():
		m.log.Info("mapped connection closed: idle", "idle_timeout", m.lim.idle, "bytes_out", up, "bytes_in", down)
	case errors.As(err, &se):
		m.noteErr(fmt.Errorf("refused by the serving node: %w", err))
	case isCutOff(err):
		// The link went down or the serving side aborted: splice reset the
		// client's connection, so a cut-off transfer never looks complete.
		m.note("mapped connection cut off", err, "bytes_out", up, "bytes_in", down)
	case err != nil:
		m.log.Debug("mapped connection ended with an error", "err", err, "bytes_out", up, "bytes_in", down)
	}
}

// noteErr counts a connection that could not be served and logs why.
func (m *mapping) noteErr(err error) { m.note("mapped connection failed", err) }

// note counts a failed connection, keeps its error for status and logs it as
// msg. One warning per mapping and error a minute (n.warn), so a client
// retrying a dead service, or a link taking many connections down with it,
// cannot flood the log; error texts that repeat must not vary.
func (m *mapping) note(msg string, err error, args ...any) {
	m.failed.Add(1)
	text := err.Error()
	m.setErr(err)
	key := text
	var ue *unreachableError
	if errors.As(err, &ue) {
		key = ue.key // one line per outage, not one per retry's error
	}
	m.n.warn(fmt.Sprintf("mapping %s:%d: %s: %s", m.req.Bind, m.req.Port, msg, key), msg,
		append([]any{"port", m.req.Port, "bind", m.req.Bind, "service", m.req.Target, "err", text}, args...)...)
}

func (m *mapping) setErr(err error) {
	m.mu.Lock()
	m.lastErr = err.Error()
	m.mu.Unlock()
}

// stop closes the listener and cuts off the open connections and flows. It
// returns how many TCP connections it cut off (counted under m.mu: forward
// goroutines remove theirs concurrently).
func (m *mapping) stop() int {
	m.mu.Lock()
	m.stopped = true
	conns := make([]net.Conn, 0, len(m.conns))
	for c := range m.conns {
		conns = append(conns, c)
	}
	flows := make([]*udpFlow, 0, len(m.flows))
	for _, f := range m.flows {
		flows = append(flows, f)
	}
	m.mu.Unlock()
	if m.ln != nil {
		m.ln.Close()
	}
	if m.pc != nil {
		m.pc.Close()
	}
	<-m.acceptEnd
	for _, c := range conns {
		abort(c) // cut off: the clients get a reset, not an end
	}
	for _, f := range flows {
		f.close()
	}
	return len(conns)
}

func (m *mapping) info() api.MappingInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	mi := api.MappingInfo{MappingRequest: m.req.MappingRequest, Origin: originOf(m.req.Origin), Ref: m.req.Ref, Active: len(m.conns) + len(m.flows), Total: m.total.Load(), Failed: m.failed.Load(), LastError: m.lastErr}
	switch {
	case m.stopped:
	case m.ln != nil:
		mi.Listen = m.ln.Addr().String()
	case m.pc != nil:
		mi.Listen = m.pc.LocalAddr().String()
	}
	return mi
}

// dialTarget opens a connection to a service: a stream to its owner, or a plain
// TCP connection when this node serves it.
// from is the client's address (invalid: unknown), for a service that sends
// its target a PROXY protocol header.
func (n *Node) dialTarget(ctx context.Context, t target, from netip.AddrPort) (halfCloser, error) {
	r, err := n.resolveWait(ctx, t, n.cfg.ResolveWait)
	if err != nil {
		return nil, err
	}
	if r.local != nil && r.local.Proto == "udp" {
		return nil, fmt.Errorf("serveid %d is a UDP service of this node: use its target %s directly", r.local.ID, r.local.Target)
	}
	return n.dialResolved(ctx, r, from)
}

// dialResolved connects to a resolved service: a TCP connection to a local
// TCP target, a service stream otherwise (a local UDP target is the caller's).
func (n *Node) dialResolved(ctx context.Context, r resolved, from netip.AddrPort) (halfCloser, error) {
	if r.local != nil {
		d := net.Dialer{Timeout: n.cfg.DialTimeout}
		c, err := d.DialContext(ctx, "tcp", r.local.Target)
		if err != nil {
			return nil, fmt.Errorf("serveid %d (local): %w", r.local.ID, err)
		}
		if err := writeProxyHeader(c, proxyVersion(r.local.Limits), from, addrPortOf(c.RemoteAddr()), n.pub.String()); err != nil {
			c.Close()
			return nil, fmt.Errorf("serveid %d (local): PROXY header: %w", r.local.ID, err)
		}
		return c.(*net.TCPConn), nil
	}
	l := n.linkFor(r.owner.peer, r.owner.name)
	if l == nil {
		return nil, fmt.Errorf("no link to %s (%s)", r.owner.name, r.owner.peer.Short())
	}
	st, g, err := l.openStreamGen(ctx)
	if err != nil {
		return nil, err
	}
	cc := newStreamConn(st, g)
	open := streamOpen{Kind: streamService, ServeID: r.owner.service.ID}
	if r.owner.service.WantsClient && from.IsValid() {
		open.Kind, open.From = streamServiceFrom, from
	}
	if _, err := st.Write(open.marshal()); err != nil {
		err = cc.endErr(err) // before Close, which makes every error our own
		cc.Close()
		return nil, fmt.Errorf("open service stream: %w", err)
	}
	return &serviceStream{chunkConn: cc, smux: st}, nil
}

// serviceStream is the opener's side of a service stream. The opener writes at
// once (no round trip before the first byte); its first Read consumes the serving
// node's status and turns a refusal into an error.
type serviceStream struct {
	*chunkConn
	smux       *smux.Stream // for deadlines
	statusDone bool
}

func (s *serviceStream) Read(p []byte) (int, error) {
	if !s.statusDone {
		if err := s.awaitStatus(); err != nil {
			return 0, err
		}
	}
	return s.chunkConn.Read(p)
}

// awaitStatus reads the serving node's answer: nil when it connected the
// stream to its target, the refusal (a *statusError) or why there is none.
func (s *serviceStream) awaitStatus() error {
	s.statusDone = true
	err := readStatus(s.st)
	if err == nil {
		return nil
	}
	var se *statusError
	if errors.As(err, &se) || errors.Is(err, errMalformed) {
		return err
	}
	if err := s.endErr(err); !errors.Is(err, errAborted) {
		return err // the link went down, we closed the stream, or a deadline passed
	}
	return fmt.Errorf("the serving node closed the stream before answering: %w", errAborted)
}

// restoreServices brings back the services added through the API in the last run,
// with their serveids. One that clashes with a --serve service is skipped.
func (n *Node) restoreServices(saved []Service) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, s := range saved {
		if _, err := n.addServiceLocked(s, true); err != nil {
			n.log.Error("saved service not restored", "serveid", s.ID, "name", s.Name, "err", err)
		}
	}
}
