package overlay

// Ad-hoc access (vnet's "unserve"): a member asks this node for a target it
// never declared, "127.0.0.1:8888@home"; if this node's rules allow it, it
// serves the target under a temporary dynamic serveid and answers with it.
//
// The serving side (serveAdhoc) checks, in order: allow-adhoc is on; the
// target is on this node's loopback unless adhoc-remote is on, and then that
// it matches adhoc-allow when that is set; something listens there (TCP);
// adhoc-max is not reached (a request for a target already granted reuses
// its serveid). Refusals carry a status code and a reason, and are
// logged with who asked. An ad-hoc service that is never used expires after
// AdhocConfig.UnusedExpiry (3 min); a used one AdhocConfig.IdleExpiry (1
// min) after its last connection closed.
//
// The asking side (resolveAdhoc) asks again for every new connection: the
// grant is idempotent, so an expired one is renewed on demand, and the cost
// is one round trip on the link per connection, for ad-hoc targets only.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/xtaci/smux"

	"github.com/meshnode/meshnode/pkg/control/api"
)

// AdhocConfig is this node's rules for ad-hoc access; off unless Allow.
type AdhocConfig struct {
	Allow  bool        // serve ad-hoc requests at all
	Remote bool        // targets beyond this node's loopback
	Rules  []AdhocRule // with Remote: the targets allowed (none: any)
	Max    int         // ad-hoc services at once (default 1)
	// UnusedExpiry removes an ad-hoc service never used (default 3 min);
	// IdleExpiry one whose last connection closed this long ago (default 1 min).
	UnusedExpiry, IdleExpiry time.Duration
}

func (c *AdhocConfig) setDefaults() {
	if c.Max <= 0 {
		c.Max = 1
	}
	if c.UnusedExpiry <= 0 {
		c.UnusedExpiry = 3 * time.Minute
	}
	if c.IdleExpiry <= 0 {
		c.IdleExpiry = time.Minute
	}
}

// AdhocRule allows ad-hoc targets in Prefix on ports Lo-Hi (0-0: any).
type AdhocRule struct {
	Prefix netip.Prefix
	Lo, Hi uint16
}

// ParseAdhocRule parses "10.0.0.0/8:22", "192.168.1.0/24:8000-8100",
// "192.168.1.5:5432", "10.0.0.0/8" (any port); IPv6 as "[fd00::/8]:22".
func ParseAdhocRule(s string) (AdhocRule, error) {
	var r AdhocRule
	addr, ports := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return r, fmt.Errorf("ad-hoc rule %q: missing ']'", s)
		}
		addr, ports = s[1:end], strings.TrimPrefix(s[end+1:], ":")
	} else if i := strings.LastIndex(s, ":"); i >= 0 && strings.Count(s, ":") == 1 {
		addr, ports = s[:i], s[i+1:]
	}
	var err error
	if strings.Contains(addr, "/") {
		r.Prefix, err = netip.ParsePrefix(addr)
	} else {
		var a netip.Addr
		if a, err = netip.ParseAddr(addr); err == nil {
			r.Prefix = netip.PrefixFrom(a, a.BitLen())
		}
	}
	if err != nil {
		return r, fmt.Errorf("ad-hoc rule %q: want CIDR[:PORT[-PORT]], such as 10.0.0.0/8:22", s)
	}
	r.Prefix = r.Prefix.Masked()
	if ports == "" {
		return r, nil
	}
	lo, hi, isRange := strings.Cut(ports, "-")
	if !isRange {
		hi = lo
	}
	l, err1 := strconv.ParseUint(lo, 10, 16)
	h, err2 := strconv.ParseUint(hi, 10, 16)
	if err1 != nil || err2 != nil || l == 0 || h < l {
		return r, fmt.Errorf("ad-hoc rule %q: port %q is not a port or a range LO-HI of 1-65535", s, ports)
	}
	r.Lo, r.Hi = uint16(l), uint16(h)
	return r, nil
}

func (r AdhocRule) allows(t netip.AddrPort) bool {
	return r.Prefix.Contains(t.Addr().Unmap()) && (r.Lo == 0 || t.Port() >= r.Lo && t.Port() <= r.Hi)
}

func (r AdhocRule) String() string {
	s := r.Prefix.String()
	if r.Prefix.Addr().Is6() {
		s = "[" + s + "]"
	}
	switch {
	case r.Lo == 0:
		return s
	case r.Lo == r.Hi:
		return fmt.Sprintf("%s:%d", s, r.Lo)
	}
	return fmt.Sprintf("%s:%d-%d", s, r.Lo, r.Hi)
}

// adhocState is what makes a local service ad-hoc.
type adhocState struct {
	askedBy   string // "office (3f2a...)"
	created   time.Time
	lastClose atomic.Int64 // unix ns of the last connection's end; 0: none yet
}

// expiry is when the service goes if nothing changes (zero: it is in use).
func (a *adhocState) expiry(c AdhocConfig, used bool, active int) time.Time {
	switch {
	case active > 0:
		return time.Time{}
	case !used:
		return a.created.Add(c.UnusedExpiry)
	}
	return time.Unix(0, a.lastClose.Load()).Add(c.IdleExpiry)
}

// adhocRefusal is a refusal of an ad-hoc request: its status code and why.
type adhocRefusal struct {
	code byte
	why  string
}

// checkAdhoc applies the rules that do not depend on other services.
func (n *Node) checkAdhoc(req adhocRequest) *adhocRefusal {
	c := n.cfg.Adhoc
	a := req.Target.Addr().Unmap()
	switch {
	case !c.Allow:
		return &adhocRefusal{statusNotAllowed, fmt.Sprintf("not allowed: node %s does not allow ad-hoc access (allow-adhoc)", n.name)}
	case !c.Remote && !a.IsLoopback():
		return &adhocRefusal{statusNotAllowed, fmt.Sprintf("not loopback: node %s allows ad-hoc access to its loopback only (adhoc-remote), and %s is not", n.name, req.Target)}
	case c.Remote && len(c.Rules) > 0:
		for _, r := range c.Rules {
			if r.allows(req.Target) {
				return nil
			}
		}
		return &adhocRefusal{statusNotAllowed, fmt.Sprintf("not allowed: %s matches none of node %s's adhoc-allow rules", req.Target, n.name)}
	}
	return nil
}

// serveAdhoc answers an ad-hoc request from the peer of l.
func (n *Node) serveAdhoc(ctx context.Context, l *link, st *smux.Stream, req adhocRequest) {
	defer st.Close()
	st.SetWriteDeadline(time.Now().Add(headerTimeout))
	asker := fmt.Sprintf("%s (%s)", l.peerName(), l.peer.Short())
	refuse := func(r *adhocRefusal) {
		n.log.Warn("ad-hoc request refused", "asked_by", asker, "target", req.Target.String(), "proto", req.Proto, "reason", r.why)
		st.Write(marshalStatus(r.code, r.why))
	}
	if r := n.checkAdhoc(req); r != nil {
		refuse(r)
		return
	}
	target := req.Target.String()
	// A target granted already: its serveid again (no probe, no quota).
	if id, ok := n.adhocGranted(target, req.Proto); ok {
		st.Write(binary.BigEndian.AppendUint16(marshalStatus(statusOK, ""), uint16(id)))
		return
	}
	if req.Proto == "tcp" {
		d := net.Dialer{Timeout: min(n.cfg.DialTimeout, 3*time.Second)}
		c, err := d.DialContext(ctx, "tcp", target)
		if err != nil {
			refuse(&adhocRefusal{statusDialFailed, fmt.Sprintf("nothing listening at %s on node %s: %v", target, n.name, err)})
			return
		}
		c.Close()
	}
	n.mu.Lock()
	count := 0
	for _, ls := range n.services {
		if ls.adhoc != nil {
			count++
		}
	}
	if count >= n.cfg.Adhoc.Max {
		n.mu.Unlock()
		refuse(&adhocRefusal{statusQuotaFull, fmt.Sprintf("quota full: node %s has %d ad-hoc services, its adhoc-max", n.name, count)})
		return
	}
	s, err := n.addServiceLocked(Service{Proto: req.Proto, Target: target, Info: "ad-hoc " + target + " for " + l.peerName(), AdHoc: true}, false)
	if err == nil {
		ls := n.services[s.ID]
		ls.origin, ls.ref = api.OriginAdhoc, "asked by "+asker
		ls.adhoc = &adhocState{askedBy: asker, created: time.Now()}
	}
	n.mu.Unlock()
	if err != nil {
		refuse(&adhocRefusal{statusQuotaFull, err.Error()})
		return
	}
	n.log.Info("ad-hoc service granted", "serveid", s.ID, "target", target, "proto", req.Proto, "asked_by", asker,
		"unused_expiry", n.cfg.Adhoc.UnusedExpiry, "idle_expiry", n.cfg.Adhoc.IdleExpiry)
	n.publish()
	st.Write(binary.BigEndian.AppendUint16(marshalStatus(statusOK, ""), uint16(s.ID)))
}

// adhocGranted finds the ad-hoc service of target and proto.
func (n *Node) adhocGranted(target, proto string) (ServeID, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ls := range n.services {
		if ls.adhoc != nil && ls.Target == target && ls.Proto == proto {
			return ls.ID, true
		}
	}
	return 0, false
}

// adhocLoop expires ad-hoc services until ctx ends.
func (n *Node) adhocLoop(ctx context.Context) {
	c := n.cfg.Adhoc
	every := min(max(min(c.UnusedExpiry, c.IdleExpiry)/4, 100*time.Millisecond), 5*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n.expireAdhoc(now)
		}
	}
}

// expireAdhoc removes the ad-hoc services whose time is up.
func (n *Node) expireAdhoc(now time.Time) {
	type gone struct {
		id             ServeID
		target, asker  string
		why            string
		connsServedTot uint64
	}
	var expired []gone
	n.mu.Lock()
	for id, ls := range n.services {
		if ls.adhoc == nil {
			continue
		}
		used := ls.total.Load() > 0
		at := ls.adhoc.expiry(n.cfg.Adhoc, used, len(ls.lim.slots))
		if at.IsZero() || now.Before(at) {
			continue
		}
		why := "never used"
		if used {
			why = "idle since its last connection closed"
		}
		delete(n.services, id)
		expired = append(expired, gone{id, ls.Target, ls.adhoc.askedBy, why, ls.total.Load()})
	}
	if len(expired) > 0 {
		n.bumpVersionLocked()
	}
	n.mu.Unlock()
	for _, g := range expired {
		n.log.Info("ad-hoc service expired", "serveid", g.id, "target", g.target, "asked_by", g.asker, "why", g.why, "connections", g.connsServedTot)
	}
	if len(expired) > 0 {
		n.publish()
	}
}

// Errors of ad-hoc requests, for the entries in front of the node.
var (
	// ErrNotAllowed: the serving node's ad-hoc rules refuse the target, or
	// its ad-hoc quota is full.
	ErrNotAllowed = errors.New("not allowed")
)

// resolveAdhoc asks t's node for ad-hoc access to t's target and returns
// the grant as a resolved service.
func (n *Node) resolveAdhoc(ctx context.Context, t target) (resolved, error) {
	l, err := n.linkToNode(t.node)
	if err != nil {
		return resolved{}, err
	}
	st, err := l.openStream(ctx)
	if err != nil {
		return resolved{}, fmt.Errorf("%w: ad-hoc request to %s: %w", ErrUnreachable, t.node, err)
	}
	defer st.Close()
	if dl, ok := ctx.Deadline(); ok {
		st.SetDeadline(dl)
	}
	if _, err := st.Write(streamOpen{Kind: streamAdhoc, Adhoc: adhocRequest{Proto: t.proto, Target: t.adhoc}}.marshal()); err != nil {
		return resolved{}, fmt.Errorf("%w: ad-hoc request to %s: %w", ErrUnreachable, t.node, err)
	}
	if err := readStatus(st); err != nil {
		var se *statusError
		switch {
		case errors.As(err, &se) && (se.Code == statusNotAllowed || se.Code == statusQuotaFull):
			return resolved{}, &Error{Kind: KindForbidden, Err: fmt.Errorf("%w: ad-hoc %s: %s", ErrNotAllowed, t, se.Reason)}
		case errors.As(err, &se):
			return resolved{}, &Error{Kind: KindConflict, Err: fmt.Errorf("%w: ad-hoc %s: %s", ErrServiceRefused, t, se.Reason)}
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return resolved{}, fmt.Errorf("%w: node %s closed the ad-hoc request unanswered (a version without ad-hoc access?)", ErrUnreachable, t.node)
		}
		return resolved{}, fmt.Errorf("%w: ad-hoc request to %s: %w", ErrUnreachable, t.node, err)
	}
	var id [2]byte
	if _, err := io.ReadFull(st, id[:]); err != nil {
		return resolved{}, fmt.Errorf("%w: ad-hoc answer from %s: %w", ErrUnreachable, t.node, err)
	}
	sid := ServeID(binary.BigEndian.Uint16(id[:]))
	if sid == 0 || sid > api.MaxServeID {
		return resolved{}, fmt.Errorf("%w: ad-hoc answer from %s: serveid %d: %w", ErrUnreachable, t.node, sid, errMalformed)
	}
	return resolved{owner: owner{peer: l.peer, name: l.peerName(), service: Service{ID: sid, Proto: t.proto}}}, nil
}

// linkToNode finds the link to the member named (or with an ID prefix of 4+
// characters) node.
func (n *Node) linkToNode(node string) (*link, error) {
	var found []*link
	for _, l := range n.linkList() {
		if l.peerName() == node || len(node) >= 4 && strings.HasPrefix(l.peer.String(), strings.ToLower(node)) {
			found = append(found, l)
		}
	}
	switch len(found) {
	case 0:
		if node == n.name {
			return nil, invalid("ad-hoc access to this node itself: reach %s directly", node)
		}
		return nil, &Error{Kind: KindNotFound, Err: fmt.Errorf("%w: no node %q in group %q", ErrNoService, node, n.cfg.Group)}
	case 1:
		return found[0], nil
	}
	return nil, &Error{Kind: KindConflict, Err: fmt.Errorf("%w: %d nodes answer to %q; use an ID prefix", ErrNoService, len(found), node)}
}
