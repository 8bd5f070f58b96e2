package overlay

import (
	"fmt"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/identity"
)

// localService is a service this node serves, with its connection bound.
type localService struct {
	Service
	persist bool       // added through the API (kept in the state dir), not by --serve
	origin  api.Origin // api.OriginLive, OriginFile or OriginFlag (declared.go)
	ref     string     // where a declared service is declared: "[serve.ssh]", "--serve 700=..."
	lim     *limiter
	total   atomic.Uint64
	adhoc   *adhocState   // nil unless served for an ad-hoc request
	failed  atomic.Uint64 // connections whose target could not be reached
	// bytesIn: from the mesh's clients to the target; bytesOut: back.
	bytesIn, bytesOut atomic.Uint64
}

// Dynamic serveids: 1..MinStaticID-1.
const maxDynamicID = api.MinStaticID - 1

// AddService declares a service live: ID 0 assigns a free dynamic serveid. The
// group learns it through gossip. persist keeps it across restarts (services
// given with --serve come from the command line each time instead).
func (n *Node) AddService(as api.Service, persist bool) (api.Service, error) {
	n.mu.Lock()
	s, err := n.addServiceLocked(Service(as), persist)
	n.mu.Unlock()
	if err != nil {
		return api.Service(s), err
	}
	if persist {
		if err := n.persist(); err != nil {
			n.mu.Lock()
			delete(n.services, s.ID)
			n.mu.Unlock()
			return api.Service(s), err
		}
	}
	n.log.Info("serving", "serveid", s.ID, "name", s.Name, "target", s.Target)
	n.publish()
	n.resolveConflicts() // the other claim may have arrived before ours existed
	return api.Service(s), nil
}

// addServiceLocked validates s, assigns a dynamic serveid when it has none, and
// records it; n.mu is held.
func (n *Node) addServiceLocked(s Service, persist bool) (Service, error) {
	if s.Proto == "" {
		s.Proto = "tcp"
	}
	if s.Target == "" {
		return s, invalid("service %d has no target HOST:PORT", s.ID)
	}
	if s.Name != "" {
		for _, o := range n.services {
			if o.Name == s.Name {
				return s, conflict("a service named %q is already served here (serveid %d, %s)", s.Name, o.ID, o.describe())
			}
		}
	}
	if s.ID == 0 {
		id, ok := n.freeDynamicIDLocked(nil)
		if !ok {
			return s, conflict("no free dynamic serveid (1-%d) left in the group", maxDynamicID)
		}
		s.ID = id
	}
	if err := s.Validate(); err != nil {
		return s, invalid("service %d: %v", s.ID, err)
	}
	if old, ok := n.services[s.ID]; ok {
		return s, conflict("serveid %d is already served here (-> %s, %s)", s.ID, old.Target, old.describe())
	}
	if s.Claimed == 0 {
		s.Claimed = time.Now().UnixNano()
	}
	s.WantsClient = proxyVersion(s.Limits) != ""
	origin := api.OriginFlag
	if persist {
		origin = api.OriginLive
	}
	n.services[s.ID] = &localService{Service: s, persist: persist, origin: origin, lim: newLimiter(s.Limits, n.cfg.MaxConnsPerService)}
	n.bumpVersionLocked()
	return s, nil
}

// RemoveService stops serving a serveid. Open connections to it keep running.
func (n *Node) RemoveService(id ServeID) error {
	n.mu.Lock()
	s, ok := n.services[id]
	if ok && !s.persist {
		n.mu.Unlock()
		return conflict("serveid %d is declared by %s, not added live: remove it there (then `meshnode reload`)", id, s.describe())
	}
	if ok {
		delete(n.services, id)
		n.bumpVersionLocked()
	}
	n.mu.Unlock()
	if !ok {
		return notFound("serveid %d is not served by this node", id)
	}
	if s.persist {
		if err := n.persist(); err != nil {
			return err
		}
	}
	n.log.Info("stopped serving", "serveid", id, "name", s.Name)
	n.publish()
	return nil
}

// LocalServices lists what this node serves, with targets.
func (n *Node) LocalServices() []api.Service {
	n.mu.Lock()
	defer n.mu.Unlock()
	local := n.localServicesLocked()
	out := make([]api.Service, len(local))
	for i, s := range local {
		out[i] = api.Service(s)
	}
	return out
}

func (n *Node) localServicesLocked() []Service {
	out := make([]Service, 0, len(n.services))
	for _, s := range n.services {
		out = append(out, s.Service)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// bumpVersionLocked gives the local entry a new version: one more than the last,
// kept in the state dir (versionFile), so a restart's entry replaces the old
// one everywhere whatever the clock says. A node without a state dir starts
// from the wall clock instead.
func (n *Node) bumpVersionLocked() {
	n.version++
	if err := saveVersion(n.cfg.StateDir, n.version); err != nil {
		n.warn("save version", "cannot save the catalog version; a restart may be ignored by peers until its entry changes twice", "err", err)
	}
}

// localEntry is this node's catalog entry as peers see it.
func (n *Node) localEntry() catalogEntry {
	n.mu.Lock()
	defer n.mu.Unlock()
	return catalogEntry{Owner: n.pub, Name: n.name, Version: n.version, Services: n.localServicesLocked()}
}

// publish tells the group about a change of the local entry: by gossip, and
// in the hello of every link's later handshake responses (a node that links
// to this one learns its services with the link, before any gossip).
func (n *Node) publish() {
	n.publishMu.Lock()
	defer n.publishMu.Unlock()
	e := n.localEntry()
	n.setHelloEntry(e)
	for _, l := range n.linkList() {
		l.refreshHello()
	}
	if g := n.gossip.Load(); g != nil {
		g.publish(e)
	}
}

// setHelloEntry keeps e, encoded, for link hellos; none when it is too big to
// fit one (gossip alone carries it then).
func (n *Node) setHelloEntry(e catalogEntry) {
	body, err := marshalEntry(e)
	if err != nil || len(body) > maxHelloEntry {
		n.helloEntry.Store(nil)
		return
	}
	n.helloEntry.Store(&body)
}

// mergeEntry takes a peer's catalog entry (from gossip, a fetch or a link
// hello) into the catalog; it reports whether it was new.
func (n *Node) mergeEntry(e catalogEntry) bool {
	if e.Owner == n.pub || !n.catalog.merge(e) {
		return false
	}
	n.log.Debug("catalog entry updated", "owner", e.Owner.Short(), "name", e.Name, "services", len(e.Services),
		"version", strconv.FormatUint(e.Version, 10))
	return true
}

// freeDynamicIDLocked returns the lowest dynamic serveid that neither this node
// nor any other member uses (nor is in avoid).
func (n *Node) freeDynamicIDLocked(avoid map[ServeID]bool) (ServeID, bool) {
	used := make(map[ServeID]bool)
	for id := range n.services {
		used[id] = true
	}
	for _, e := range n.catalog.snapshot() {
		for _, s := range e.Services {
			used[s.ID] = true
		}
	}
	for id := ServeID(1); id <= maxDynamicID; id++ {
		if !used[id] && !avoid[id] {
			return id, true
		}
	}
	return 0, false
}

// claimWins orders two claims of one dynamic serveid: the earlier claim keeps it;
// at equal times, the lower node key. Every node computes the same answer.
func claimWins(a Service, aOwner identity.PublicKey, b Service, bOwner identity.PublicKey) bool {
	if a.Claimed != b.Claimed {
		return a.Claimed < b.Claimed
	}
	return aOwner.Less(bOwner)
}

// resolveConflicts checks this node's services against the catalog after every
// change. A dynamic serveid claimed by another member too goes to the earlier
// claim; if that is not ours, ours moves to a free one. A static serveid claimed
// twice is an operator error: both owners log it (once), nothing moves.
func (n *Node) resolveConflicts() {
	entries := n.catalog.snapshot()
	n.mu.Lock()
	var moved []string
	for _, ls := range n.localServicesLocked() {
		for _, e := range entries {
			for _, o := range e.Services {
				switch {
				case o.ID != ls.ID && !(o.Was == ls.ID && !ls.Static()):
					continue
				case o.ID != ls.ID: // the other side already moved away from our id
					n.noteConflictLocked(e, o, ls, "keeps", fmt.Sprintf("node %s moved its service %q from serveid %d to %d; this node keeps %d", e.Name, o.Name, o.Was, o.ID, ls.ID))
				case ls.Static():
					n.noteConflictLocked(e, o, ls, "static", fmt.Sprintf("static serveid %d is served by this node and by node %s: maps of %d fail until one of you changes it", ls.ID, e.Name, ls.ID))
				case claimWins(ls, n.pub, o, e.Owner):
					n.noteConflictLocked(e, o, ls, "keeps", fmt.Sprintf("dynamic serveid %d is also claimed by node %s; this node keeps it (claimed first)", ls.ID, e.Name))
				default:
					if s, ok := n.services[ls.ID]; ok && s.Claimed == ls.Claimed {
						newID, ok := n.freeDynamicIDLocked(map[ServeID]bool{ls.ID: true})
						if !ok {
							n.log.Error("dynamic serveid conflict and no free serveid left", "serveid", ls.ID, "other", e.Name)
							continue
						}
						delete(n.services, ls.ID)
						s.Was, s.ID, s.Claimed = ls.ID, newID, time.Now().UnixNano()
						n.services[newID] = s
						n.bumpVersionLocked()
						moved = append(moved, fmt.Sprint(newID))
						n.log.Warn("dynamic serveid taken by another node; moved", "serveid", ls.ID, "new_serveid", newID,
							"service", ls.Name, "other", e.Name, "other_id", e.Owner.Short())
					}
				}
			}
		}
	}
	n.mu.Unlock()
	if len(moved) > 0 {
		if err := n.persist(); err != nil {
			n.log.Error("cannot save moved services", "err", err)
		}
		n.publish()
	}
}

// noteConflictLocked logs a conflict once per (kind, other owner, serveid).
func (n *Node) noteConflictLocked(e catalogEntry, o, ls Service, kind, msg string) {
	key := fmt.Sprintf("%s/%s/%d/%d", kind, e.Owner, ls.ID, o.Claimed)
	if n.conflictsLogged[key] {
		return
	}
	n.conflictsLogged[key] = true
	if kind == "static" {
		n.log.Error(msg, "serveid", ls.ID, "other", e.Name, "other_id", e.Owner.Short())
		return
	}
	n.log.Warn(msg, "serveid", ls.ID, "other", e.Name, "other_id", e.Owner.Short())
}
