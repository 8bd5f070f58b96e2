package overlay

import (
	"sort"

	"github.com/meshnode/meshnode/pkg/control/api"
)

// originOf is the origin an item shows: declared items carry theirs, live
// ones none.
func originOf(o api.Origin) api.Origin {
	if o == "" {
		return api.OriginLive
	}
	return o
}

// describe names a local service's origin for messages.
func (s *localService) describe() string {
	switch {
	case s.persist:
		return "added live"
	case s.ref != "":
		return "declared by " + s.ref
	}
	return "declared by the configuration"
}

// ServeDeclared serves s as a declared service: not persisted, not removable
// through the API. ref says where it is declared, for messages and status.
// The declared-item calls log at debug level: their caller logs one line per
// start or reload that says what changed.
func (n *Node) ServeDeclared(s Service, origin api.Origin, ref string) (Service, error) {
	n.mu.Lock()
	s, err := n.addServiceLocked(s, false)
	if err == nil {
		ls := n.services[s.ID]
		ls.origin, ls.ref = origin, ref
	}
	n.mu.Unlock()
	if err != nil {
		return s, err
	}
	n.log.Debug("serving", "serveid", s.ID, "name", s.Name, "target", s.Target, "declared", ref)
	n.publish()
	n.resolveConflicts()
	return s, nil
}

// UnserveDeclared stops serving a declared service. Open connections to it
// keep running, as with RemoveService.
func (n *Node) UnserveDeclared(id ServeID) error {
	n.mu.Lock()
	s, ok := n.services[id]
	if ok && s.persist {
		n.mu.Unlock()
		return conflict("serveid %d was added live, not declared", id)
	}
	if ok {
		delete(n.services, id)
		n.bumpVersionLocked()
	}
	n.mu.Unlock()
	if !ok {
		return notFound("serveid %d is not served by this node", id)
	}
	n.log.Debug("stopped serving", "serveid", id, "name", s.Name, "declared", s.ref)
	n.publish()
	return nil
}

// MapDeclared starts a declared mapping: not persisted, not removable through
// the API. Unlike AddMapping it does not wait for the service to be known
// (at start the catalog is still empty): it listens at once, like a restored
// mapping, and resolves the service per connection. req.Proto is the
// service's protocol (default tcp).
func (n *Node) MapDeclared(r api.MappingRequest, origin api.Origin, ref string) (api.MappingInfo, error) {
	req := mappingReq{MappingRequest: r, Origin: origin, Ref: ref}
	if req.Proto == "" {
		req.Proto = "tcp"
	}
	if req.Proto != "tcp" && req.Proto != "udp" {
		return api.MappingInfo{}, invalid("proto %q: want tcp or udp", req.Proto)
	}
	t, err := req.normalize()
	if err != nil {
		return api.MappingInfo{}, err
	}
	if err := n.checkPortFree(req.Port); err != nil {
		return api.MappingInfo{}, err
	}
	m, err := n.startMapping(req, t)
	if err != nil {
		return api.MappingInfo{}, err
	}
	m.log.Debug("mapping added", "declared", ref)
	return m.info(), nil
}

// UnmapDeclared stops a declared mapping and closes its open connections.
func (n *Node) UnmapDeclared(port int) error {
	n.mu.Lock()
	m, ok := n.mappings[port]
	if ok && m.req.Origin == "" {
		n.mu.Unlock()
		return conflict("the mapping on port %d was added live, not declared", port)
	}
	if ok {
		delete(n.mappings, port)
	}
	n.mu.Unlock()
	if !ok {
		return notFound("no mapping on port %d", port)
	}
	closed := m.stop()
	m.log.Debug("mapping removed", "declared", m.req.Ref, "connections_closed", closed)
	return nil
}

// localServiceInfos lists what this node serves with each service's origin.
func (n *Node) localServiceInfos() []api.LocalService {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]api.LocalService, 0, len(n.services))
	for _, s := range n.services {
		ls := api.LocalService{Service: api.Service(s.Service), Origin: s.origin, Ref: s.ref}
		if s.adhoc != nil {
			ls.Expires = s.adhoc.expiry(n.cfg.Adhoc, s.total.Load() > 0, len(s.lim.slots))
		}
		out = append(out, ls)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
