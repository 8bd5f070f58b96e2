package main

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/meshnode/meshnode/internal/config"
	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/overlay"
)

// declItem is a service or mapping the configuration declares: a --serve
// flag, a [serve.NAME] or a [use.NAME] section. Its key identifies it across
// reloads; a reload compares items by key.
type declItem struct {
	key    string     // "serve ssh", "use ssh", "--serve 700=..."
	ref    string     // for people: "[serve.ssh]", "--serve 700=..."
	origin api.Origin // api.OriginFile or api.OriginFlag
	active bool
	svc    *overlay.Service
	use    *api.MappingRequest
}

// same says whether two items declare the same thing.
func (d declItem) same(o declItem) bool {
	if d.active != o.active || (d.svc == nil) != (o.svc == nil) {
		return false
	}
	if d.svc != nil {
		a, b := *d.svc, *o.svc
		a.Limits, b.Limits = nil, nil
		return a == b && sameLimits(d.svc.Limits, o.svc.Limits)
	}
	a, b := *d.use, *o.use
	a.Limits, b.Limits = nil, nil
	return a == b && sameLimits(d.use.Limits, o.use.Limits)
}

func sameLimits(a, b *api.Limits) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() == b.IsZero()
	}
	return *a == *b
}

// limitsItem reads a section's limits keys (max-conns, rate, idle-timeout,
// and for a service proto-protocol); nil when it sets none.
func limitsItem(it *config.Item, forMapping bool) (*api.Limits, error) {
	l := &api.Limits{MaxConns: it.Int("max-conns"), IdleTimeout: it.String("idle-timeout")}
	if !forMapping {
		l.ProxyProtocol = it.String("proxy-protocol")
	}
	r, err := api.ParseRate(it.String("rate"))
	if err != nil {
		return nil, it.Errorf("rate", "rate %w", err)
	}
	l.Rate = r
	for _, chk := range []struct {
		key string
		l   api.Limits
	}{
		{"max-conns", api.Limits{MaxConns: l.MaxConns}},
		{"idle-timeout", api.Limits{IdleTimeout: l.IdleTimeout}},
		{"proxy-protocol", api.Limits{ProxyProtocol: l.ProxyProtocol}},
	} {
		if err := chk.l.Validate(forMapping); err != nil {
			return nil, it.Errorf(chk.key, "%w", err)
		}
	}
	if l.IsZero() {
		return nil, nil
	}
	return l, nil
}

// declaredItems builds the declared services and mappings from --serve and the
// file's sections, and rejects clashes among them (one serveid, service name
// or port declared twice), naming both places.
func declaredItems(vals *config.Values) ([]declItem, error) {
	var items []declItem
	for _, spec := range vals.List("serve") {
		s, err := overlay.ParseServeSpec(spec)
		if err != nil {
			return nil, err
		}
		ref := fmt.Sprintf("--serve %q", spec)
		items = append(items, declItem{key: "--serve " + spec, ref: ref, origin: api.OriginFlag, active: true, svc: &s})
	}
	for _, it := range vals.File.Items("serve") {
		d, err := serveItem(it)
		if err != nil {
			return nil, err
		}
		items = append(items, d)
	}
	for _, it := range vals.File.Items("use") {
		d, err := useItem(it)
		if err != nil {
			return nil, err
		}
		items = append(items, d)
	}
	return items, checkClashes(items, vals.File)
}

func serveItem(it *config.Item) (declItem, error) {
	name := it.Name
	nameKey := ""
	if it.Has("name") {
		name, nameKey = it.String("name"), "name"
	}
	id := it.Int("serveid")
	if id < 0 || id > api.MaxServeID {
		return declItem{}, it.Errorf("serveid", "serveid %d out of range: 500-%d static, 1-%d dynamic, 0 = assign one", id, api.MaxServeID, api.MinStaticID-1)
	}
	s := overlay.Service{ID: api.ServeID(id), Name: name, Target: it.String("target"), Proto: it.String("proto"), Info: it.String("info")}
	var err error
	if s.Limits, err = limitsItem(it, false); err != nil {
		return declItem{}, err
	}
	for _, chk := range []struct {
		key string
		svc overlay.Service
	}{
		{"proto", overlay.Service{ID: 1, Proto: s.Proto}},
		{nameKey, overlay.Service{ID: 1, Proto: "tcp", Name: s.Name}},
		{"info", overlay.Service{ID: 1, Proto: "tcp", Info: s.Info}},
		{"target", overlay.Service{ID: 1, Proto: "tcp", Target: s.Target}},
		{"", overlay.Service{ID: 1, Proto: s.Proto, Limits: s.Limits}}, // limits a UDP service cannot have
	} {
		if err := chk.svc.Validate(); err != nil {
			return declItem{}, it.Errorf(chk.key, "%w", err)
		}
	}
	return declItem{key: "serve " + it.Name, ref: it.Ref(), origin: api.OriginFile, active: it.Bool("active"), svc: &s}, nil
}

func useItem(it *config.Item) (declItem, error) {
	svc := it.String("service")
	if _, err := api.ParseServeID(svc); err != nil {
		name, node, ok := cutAt(svc)
		if !ok || node == "" || name == "" {
			return declItem{}, it.Errorf("service", "service %q: want a serveid (1-%d), NAME@NODE or IP:PORT@NODE (ad-hoc)", svc, api.MaxServeID)
		}
		if strings.Contains(name, ":") {
			if ap, err := netip.ParseAddrPort(name); err != nil || ap.Port() == 0 {
				return declItem{}, it.Errorf("service", "ad-hoc service %q: want IP:PORT@NODE, such as 127.0.0.1:8888@home", svc)
			}
		}
	}
	port := it.Int("port")
	if port < 1 || port > 65535 {
		return declItem{}, it.Errorf("port", "port %d out of range 1-65535", port)
	}
	bind := it.String("bind")
	if net.ParseIP(bind) == nil {
		return declItem{}, it.Errorf("bind", "bind address %q is not an IP address", bind)
	}
	proto := it.String("proto")
	if proto != "tcp" && proto != "udp" {
		return declItem{}, it.Errorf("proto", "proto %q: want tcp or udp", proto)
	}
	lim, err := limitsItem(it, true)
	if err != nil {
		return declItem{}, err
	}
	if proto == "udp" && lim != nil && (lim.Rate != 0 || lim.IdleTimeout != "") {
		return declItem{}, it.Errorf("", "rate and idle-timeout apply to TCP only; a UDP mapping takes max-conns")
	}
	req := api.MappingRequest{Target: svc, Port: port, Bind: bind, Proto: proto, Limits: lim}
	return declItem{key: "use " + it.Name, ref: it.Ref(), origin: api.OriginFile, active: it.Bool("active"), use: &req}, nil
}

func cutAt(s string) (name, node string, ok bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '@' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

// checkClashes rejects two active declared items on one serveid, service name
// or local port.
func checkClashes(items []declItem, f *config.File) error {
	seen := map[string]declItem{}
	for _, d := range items {
		if !d.active {
			continue
		}
		var keys []string
		switch {
		case d.svc != nil && d.svc.ID != 0:
			keys = append(keys, "serveid "+strconv.Itoa(int(d.svc.ID)))
		}
		if d.svc != nil && d.svc.Name != "" {
			keys = append(keys, fmt.Sprintf("service name %q", d.svc.Name))
		}
		if d.use != nil {
			keys = append(keys, "port "+strconv.Itoa(d.use.Port))
		}
		for _, k := range keys {
			if o, dup := seen[k]; dup {
				msg := fmt.Sprintf("%s is already served by %s", k, o.ref)
				if d.use != nil {
					msg = fmt.Sprintf("%s is already mapped by %s", k, o.ref)
				}
				if d.origin == api.OriginFile {
					return itemError(f, d, msg)
				}
				return fmt.Errorf("%s: %s", d.ref, msg)
			}
			seen[k] = d
		}
	}
	return nil
}

// itemError is an error about a file item, at its header.
func itemError(f *config.File, d declItem, msg string) error {
	for _, sec := range []string{"serve", "use"} {
		for _, it := range f.Items(sec) {
			if it.Ref() == d.ref {
				return it.Errorf("", "%s", msg)
			}
		}
	}
	return fmt.Errorf("%s: %s", d.ref, msg)
}

// applied is a declared item and whether it is in effect.
type applied struct {
	item declItem
	ok   bool
	port int // a mapping's port
}

// applyItems brings the node's declared services and mappings from what is
// applied to items: removed, changed and deactivated ones first (freeing their
// serveids and ports), then new ones, and ones that were not in effect are
// retried. Live items are never touched: a declared item that clashes with
// one is not applied and says why. It returns one line per change and one per
// item not in effect.
func applyItems(node *overlay.Node, cur map[string]*applied, items []declItem) (next map[string]*applied, changes, notApplied []string) {
	want := make(map[string]declItem, len(items))
	for _, d := range items {
		want[d.key] = d
	}
	next = make(map[string]*applied, len(items))
	for _, key := range sortedKeys(cur) {
		a := cur[key]
		nw, still := want[key]
		if still && nw.same(a.item) {
			next[key] = a
			continue
		}
		if a.ok {
			line := removeItem(node, a)
			if !still {
				changes = append(changes, line)
			}
		}
	}
	for _, d := range items {
		if a := next[d.key]; a != nil && (a.ok || !d.active) {
			continue
		}
		_, had := cur[d.key]
		a := &applied{item: d}
		next[d.key] = a
		if !d.active {
			if had {
				changes = append(changes, d.ref+": inactive (active = false)")
			}
			continue
		}
		what, err := addItem(node, a)
		if err != nil {
			notApplied = append(notApplied, fmt.Sprintf("%s: not applied: %v", d.ref, err))
			continue
		}
		a.ok = true
		switch old := cur[d.key]; {
		case old == nil:
			changes = append(changes, d.ref+": added "+what)
		case old.item.same(d):
			changes = append(changes, d.ref+": applied "+what+" (what blocked it is gone)")
		default:
			changes = append(changes, d.ref+": changed, now "+what)
		}
	}
	return next, changes, notApplied
}

func sortedKeys(cur map[string]*applied) []string {
	out := make([]string, 0, len(cur))
	for k := range cur {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func addItem(node *overlay.Node, a *applied) (string, error) {
	d := a.item
	if d.svc != nil {
		s, err := node.ServeDeclared(*d.svc, d.origin, d.ref)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("(serveid %d -> %s)", s.ID, s.Target), nil
	}
	mi, err := node.MapDeclared(*d.use, d.origin, d.ref)
	if err != nil {
		return "", err
	}
	a.port = mi.Port
	return fmt.Sprintf("(%s -> service %s)", mi.Listen, mi.Target), nil
}

// removeItem takes an applied item out of the node. A service is found by
// where it is declared: the mesh may have moved its dynamic serveid.
func removeItem(node *overlay.Node, a *applied) string {
	d := a.item
	verb := "removed"
	if d.svc != nil {
		for _, s := range node.Status().Services {
			if s.Ref == d.ref && s.Origin == d.origin {
				node.UnserveDeclared(s.ID)
				return fmt.Sprintf("%s: %s (serveid %d)", d.ref, verb, s.ID)
			}
		}
		return d.ref + ": " + verb
	}
	node.UnmapDeclared(a.port)
	return fmt.Sprintf("%s: %s (port %d; its connections closed)", d.ref, verb, a.port)
}
