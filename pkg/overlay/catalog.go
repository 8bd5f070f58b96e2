package overlay

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/identity"
)

// catalog holds what the group's other members serve: one entry per owner, as
// the owner last published it (gossiped; see gossip.go). Versions order an owner's
// entries; an owner that left the group leaves a fence at its last version, so
// stale gossip cannot bring its services back, while its next start (a newer
// version) can.
type catalog struct {
	mu      sync.Mutex
	entries map[identity.PublicKey]*catalogEntry
	fence   map[identity.PublicKey]uint64 // owners that left: their last version
	changed chan struct{}                 // closed and replaced on every change
	changes uint64                        // how many changes (metrics)
}

// catalogEntry is one owner's services.
type catalogEntry struct {
	Owner    identity.PublicKey `json:"owner"`
	Name     string             `json:"name"`
	Version  uint64             `json:"version"`
	Services []Service          `json:"services"`
}

func newCatalog() *catalog {
	return &catalog{
		entries: make(map[identity.PublicKey]*catalogEntry),
		fence:   make(map[identity.PublicKey]uint64),
		changed: make(chan struct{}),
	}
}

func (c *catalog) notifyLocked() {
	c.changes++
	close(c.changed)
	c.changed = make(chan struct{})
}

// merge records e unless an entry at least as new, or a fence, is there. It
// reports whether the catalog changed.
func (c *catalog) merge(e catalogEntry) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[e.Owner]; ok && old.Version >= e.Version {
		return false
	}
	if f, ok := c.fence[e.Owner]; ok && e.Version <= f {
		return false
	}
	delete(c.fence, e.Owner)
	c.entries[e.Owner] = &e
	c.notifyLocked()
	return true
}

// remove drops an owner that left the group and fences its last version.
func (c *catalog) remove(owner identity.PublicKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[owner]; ok {
		c.fence[owner] = e.Version
		delete(c.entries, owner)
		c.notifyLocked()
	}
}

// unfence lets an owner that rejoined publish its current entry again, even if
// its version did not change (it was declared dead by mistake).
func (c *catalog) unfence(owner identity.PublicKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.fence, owner)
}

// version returns the version held for owner (0: none).
func (c *catalog) version(owner identity.PublicKey) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[owner]; ok {
		return e.Version
	}
	return 0
}

// snapshot returns copies of all entries.
func (c *catalog) snapshot() []catalogEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]catalogEntry, 0, len(c.entries))
	for _, e := range c.entries {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Owner.Less(out[j].Owner) })
	return out
}

// changeCount is how many times the catalog changed.
func (c *catalog) changeCount() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changes
}

// wait returns a channel closed at the next change.
func (c *catalog) wait() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

// owner is a remote member serving a service.
type owner struct {
	peer    identity.PublicKey
	name    string
	service Service
}

func (c *catalog) find(match func(peer identity.PublicKey, nodeName string, s Service) bool) []owner {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []owner
	for k, e := range c.entries {
		for _, s := range e.Services {
			if match(k, e.Name, s) {
				out = append(out, owner{peer: k, name: e.Name, service: s})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].peer.Less(out[j].peer) })
	return out
}

// target is what a mapping points at: a serveid, or a service name on a node.
type target struct {
	id    ServeID
	name  string // with node: name@node
	node  string
	adhoc netip.AddrPort // with node: an ad-hoc target, IP:PORT@node (adhoc.go)
	proto string         // of an ad-hoc target: tcp or udp
}

func (t target) String() string {
	switch {
	case t.id != 0:
		return fmt.Sprint(t.id)
	case t.adhoc.IsValid():
		return t.adhoc.String() + "@" + t.node
	}
	return t.name + "@" + t.node
}

// parseTarget parses "700" or "ssh@office".
func parseTarget(s string) (target, error) {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		name, node := s[:i], s[i+1:]
		if name == "" || node == "" {
			return target{}, fmt.Errorf("service %q: want SERVEID, NAME@NODE or IP:PORT@NODE", s)
		}
		if strings.Contains(name, ":") {
			ap, err := netip.ParseAddrPort(name)
			if err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" {
				return target{}, fmt.Errorf("ad-hoc target %q: want IP:PORT@NODE, such as 127.0.0.1:8888@home", s)
			}
			return target{adhoc: ap, node: node, proto: "tcp"}, nil
		}
		if err := validateLabel("service name", name, MaxServiceName); err != nil {
			return target{}, err
		}
		return target{name: name, node: node}, nil
	}
	id, err := api.ParseServeID(s)
	if err != nil {
		return target{}, fmt.Errorf("service %q: want SERVEID (1-%d) or NAME@NODE: %w", s, api.MaxServeID, err)
	}
	return target{id: id}, nil
}

// resolved is where a target lives now.
type resolved struct {
	local *localService // served by this node
	owner owner         // otherwise: the remote member
}

func (r resolved) proto() string {
	if r.local != nil {
		return r.local.Proto
	}
	return r.owner.service.Proto
}

// resolve finds the owner of t in the local services and the catalog.
func (n *Node) resolve(t target) (resolved, error) {
	nodeMatches := func(peer identity.PublicKey, name string) bool {
		return name == t.node || len(t.node) >= 4 && strings.HasPrefix(peer.String(), strings.ToLower(t.node))
	}
	n.mu.Lock()
	for _, ls := range n.services {
		if t.id != 0 && ls.ID == t.id || t.id == 0 && ls.Name == t.name && nodeMatches(n.pub, n.name) {
			n.mu.Unlock()
			return resolved{local: ls}, nil
		}
	}
	n.mu.Unlock()
	owners := n.catalog.find(func(peer identity.PublicKey, nodeName string, s Service) bool {
		if t.id != 0 {
			return s.ID == t.id
		}
		return s.Name == t.name && nodeMatches(peer, nodeName)
	})
	switch len(owners) {
	case 0:
		if t.id != 0 {
			return resolved{}, notFound("unknown serveid %d: no member of group %q serves it%s", t.id, n.cfg.Group, n.unlinkedHint())
		}
		return resolved{}, notFound("no service named %q on a node %q in group %q%s", t.name, t.node, n.cfg.Group, n.unlinkedHint())
	case 1:
		return resolved{owner: owners[0]}, nil
	default:
		names := make([]string, len(owners))
		for i, o := range owners {
			names[i] = fmt.Sprintf("%s (%s)", o.name, o.peer.Short())
		}
		return resolved{}, conflict("service %s is served by %d nodes: %s; map NAME@NODE instead", t, len(owners), strings.Join(names, ", "))
	}
}

// resolveWait is resolve that waits up to d for t to appear in the catalog (a node
// that just started has not heard from its peers yet).
func (n *Node) resolveWait(ctx context.Context, t target, d time.Duration) (resolved, error) {
	if t.adhoc.IsValid() {
		return n.resolveAdhoc(ctx, t)
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		changed := n.catalog.wait()
		r, err := n.resolve(t)
		if err == nil || !isKind(err, KindNotFound) {
			return r, err
		}
		select {
		case <-changed:
		case <-timer.C:
			return r, err
		case <-ctx.Done():
			return r, err
		}
	}
}

// Services lists the group's catalog: this node's services and every peer's.
func (n *Node) Services() []api.CatalogEntry {
	var out []api.CatalogEntry
	n.mu.Lock()
	for _, ls := range n.services {
		out = append(out, api.CatalogEntry{ServeID: ls.ID, Name: ls.Name, Proto: ls.Proto, Info: ls.Info,
			Owner: n.pub.String(), OwnerName: n.name, Local: true, Reachable: true})
	}
	links := make(map[identity.PublicKey]*link, len(n.links))
	for k, l := range n.links {
		links[k] = l
	}
	n.mu.Unlock()
	up := make(map[identity.PublicKey]bool, len(links))
	for k, l := range links {
		up[k] = l.isUp() // outside n.mu: a link's lock is never taken under the node's
	}
	for _, o := range n.catalog.find(func(identity.PublicKey, string, Service) bool { return true }) {
		out = append(out, api.CatalogEntry{ServeID: o.service.ID, Name: o.service.Name, Proto: o.service.Proto,
			Info: o.service.Info, Owner: o.peer.String(), OwnerName: o.name, Reachable: up[o.peer]})
	}
	claims := make(map[ServeID]int, len(out))
	for _, e := range out {
		claims[e.ServeID]++
	}
	for i, e := range out {
		if c := claims[e.ServeID]; c > 1 {
			out[i].Conflict = fmt.Sprintf("serveid %d is claimed by %d nodes", e.ServeID, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ServeID != out[j].ServeID {
			return out[i].ServeID < out[j].ServeID
		}
		return out[i].Owner < out[j].Owner
	})
	return out
}

// unlinkedHint explains a catalog that may be incomplete: peers this node cannot
// link to cannot tell it what they serve.
func (n *Node) unlinkedHint() string {
	var failed []string
	for _, p := range n.Peers() {
		if p.State == api.LinkStateFailed && p.Present {
			failed = append(failed, fmt.Sprintf("%s: %s", p.Name, p.Error))
		}
	}
	if len(failed) > 0 {
		return fmt.Sprintf(" (%d peer(s) could not be linked: %s)", len(failed), strings.Join(failed, "; "))
	}
	if others := n.relay.Status().OthersInGroup; others > 0 {
		return fmt.Sprintf(" (%d node(s) use group %q with a different group secret: check the secret)", others, n.cfg.Group)
	}
	return ""
}
