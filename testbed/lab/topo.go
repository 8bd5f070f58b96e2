package lab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultMTU is the MTU containerlab gives a veth link that does not set one.
const DefaultMTU = 9500

// Topology is a containerlab topology after variable expansion and
// defaults/kinds/groups/nodes merging: what the netns runner builds.
type Topology struct {
	Name  string
	File  string // absolute path of the topology file ("" when parsed from bytes)
	Dir   string // directory relative binds are resolved against
	Nodes map[string]*Node
	Links []Link
}

// Node is one node with its merged settings.
type Node struct {
	Name    string
	Kind    string
	Env     map[string]string
	Sysctls map[string]string
	Binds   []Bind
	Exec    []string // run in order after all links exist
}

// Bind maps a host path into a node. The netns runner has no mount namespace:
// it rewrites Container paths in exec lines and commands to Host paths.
type Bind struct {
	Host      string `json:"host"`
	Container string `json:"container"`
	ReadOnly  bool   `json:"ro,omitempty"`
}

// Link is a veth pair between two node interfaces.
type Link struct {
	A, B Endpoint
	MTU  int
}

// Endpoint is one end of a link.
type Endpoint struct {
	Node, Iface string
}

func (e Endpoint) String() string { return e.Node + ":" + e.Iface }

// NodeNames returns the node names sorted.
func (t *Topology) NodeNames() []string {
	names := make([]string, 0, len(t.Nodes))
	for n := range t.Nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// raw YAML shapes. Fields the runner does not interpret but accepts are listed
// in ignoredNodeFields; anything else is an error, so a topology never silently
// means something different here than under containerlab.
type rawFile struct {
	Name     string         `yaml:"name"`
	Prefix   string         `yaml:"prefix"`
	Mgmt     yaml.Node      `yaml:"mgmt"`
	Topology rawTopology    `yaml:"topology"`
	Extra    map[string]any `yaml:",inline"`
}

type rawTopology struct {
	Defaults *rawNode            `yaml:"defaults"`
	Kinds    map[string]*rawNode `yaml:"kinds"`
	Groups   map[string]*rawNode `yaml:"groups"`
	Nodes    map[string]*rawNode `yaml:"nodes"`
	Links    []rawLink           `yaml:"links"`
	Extra    map[string]any      `yaml:",inline"`
}

type rawNode struct {
	Kind    string         `yaml:"kind"`
	Group   string         `yaml:"group"`
	Env     map[string]any `yaml:"env"`
	Sysctls map[string]any `yaml:"sysctls"`
	Binds   []string       `yaml:"binds"`
	Exec    []string       `yaml:"exec"`
	Extra   map[string]any `yaml:",inline"`
}

type rawLink struct {
	Type      string         `yaml:"type"`
	Endpoints []yaml.Node    `yaml:"endpoints"`
	MTU       int            `yaml:"mtu"`
	Extra     map[string]any `yaml:",inline"`
}

// Node fields that only matter to containers; the netns runner accepts and ignores them.
var ignoredNodeFields = map[string]bool{
	"image": true, "image-pull-policy": true, "network-mode": true, "mgmt-ipv4": true,
	"mgmt-ipv6": true, "ports": true, "labels": true, "restart-policy": true, "user": true,
	"hostname": true, "cpu": true, "memory": true, "cpu-set": true, "shm-size": true,
	"cap-add": true, "privileged": true, "security-opts": true, "devices": true,
	"volumes": true, "tmpfs": true, "auto-remove": true, "startup-delay": true,
	"entrypoint": true, "cmd": true, "runtime": true, "dns": true, "healthcheck": true,
	"aliases": true, "cgroupns-mode": true, "cgroup-parent": true, "pid-mode": true,
	"license": true, "type": true,
}

var (
	nodeNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	ifNameRE   = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,15}$`)
)

// ParseFile reads, expands and parses a topology file.
func ParseFile(path string, lookup Lookup) (*Topology, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("topology %s: %w", path, err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("read topology: %w", err)
	}
	t, err := Parse(data, filepath.Dir(abs), lookup)
	if err != nil {
		return nil, fmt.Errorf("topology %s: %w", path, err)
	}
	t.File = abs
	return t, nil
}

// Parse expands variables in data (see Expand), then parses and merges the
// topology. dir is where relative bind paths start.
func Parse(data []byte, dir string, lookup Lookup) (*Topology, error) {
	if bytes.Contains(data, []byte("{{")) {
		// containerlab runs the file through Go text/template first.
		return nil, errors.New(`"{{" found: containerlab would treat it as a Go template; the netns runner does not do templates`)
	}
	text, err := Expand(string(data), lookup)
	if err != nil {
		return nil, fmt.Errorf("expand variables: %w", err)
	}
	var raw rawFile
	dec := yaml.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	for k := range raw.Extra {
		return nil, fmt.Errorf("top-level field %q is not supported by the netns runner", k)
	}
	for k := range raw.Topology.Extra {
		return nil, fmt.Errorf("field topology.%s is not supported by the netns runner", k)
	}
	if raw.Name == "" {
		return nil, errors.New("the topology has no name")
	}
	t := &Topology{Name: raw.Name, Dir: dir, Nodes: map[string]*Node{}}
	defaults := raw.Topology.Defaults
	if defaults == nil {
		defaults = &rawNode{}
	}
	for _, def := range append([]*rawNode{defaults}, mapValues(raw.Topology.Kinds, raw.Topology.Groups)...) {
		if err := checkNodeFields("defaults/kinds/groups", def); err != nil {
			return nil, err
		}
	}
	if len(raw.Topology.Nodes) == 0 {
		return nil, errors.New("the topology has no nodes")
	}
	for name, rn := range raw.Topology.Nodes {
		if rn == nil {
			rn = &rawNode{}
		}
		if !nodeNameRE.MatchString(name) || len(name) > 40 {
			return nil, fmt.Errorf("node name %q: want letters, digits, '_', '.', '-' (at most 40)", name)
		}
		if err := checkNodeFields("node "+name, rn); err != nil {
			return nil, err
		}
		n, err := mergeNode(name, rn, defaults, raw.Topology.Kinds, raw.Topology.Groups, dir)
		if err != nil {
			return nil, err
		}
		t.Nodes[name] = n
	}
	used := map[Endpoint]bool{}
	for i, rl := range raw.Topology.Links {
		l, err := parseLink(rl)
		if err != nil {
			return nil, fmt.Errorf("link %d: %w", i+1, err)
		}
		for _, e := range []Endpoint{l.A, l.B} {
			if _, ok := t.Nodes[e.Node]; !ok {
				return nil, fmt.Errorf("link %d: endpoint %s: no node %q", i+1, e, e.Node)
			}
			if !ifNameRE.MatchString(e.Iface) || e.Iface == "lo" {
				return nil, fmt.Errorf("link %d: endpoint %s: interface name must be 1-15 of [a-zA-Z0-9_.-] and not lo", i+1, e)
			}
			if used[e] {
				return nil, fmt.Errorf("link %d: endpoint %s is used by another link", i+1, e)
			}
			used[e] = true
		}
		t.Links = append(t.Links, l)
	}
	return t, nil
}

func mapValues(ms ...map[string]*rawNode) []*rawNode {
	var out []*rawNode
	for _, m := range ms {
		for _, v := range m {
			if v != nil {
				out = append(out, v)
			}
		}
	}
	return out
}

func checkNodeFields(where string, n *rawNode) error {
	for k := range n.Extra {
		if !ignoredNodeFields[k] {
			return fmt.Errorf("%s: field %q is not supported by the netns runner", where, k)
		}
	}
	return nil
}

// mergeNode merges defaults < kind < group < node like containerlab: maps
// key by key, binds by container path, exec lines appended in that order.
func mergeNode(name string, n, defaults *rawNode, kinds, groups map[string]*rawNode, dir string) (*Node, error) {
	kind := n.Kind
	if kind == "" {
		kind = defaults.Kind
	}
	if kind != "linux" {
		return nil, fmt.Errorf("node %s: kind %q: the netns runner supports only kind linux", name, kind)
	}
	layers := []*rawNode{defaults}
	if k := kinds[kind]; k != nil {
		layers = append(layers, k)
	}
	if n.Group != "" {
		g := groups[n.Group]
		if g == nil {
			return nil, fmt.Errorf("node %s: no group %q", name, n.Group)
		}
		layers = append(layers, g)
	}
	layers = append(layers, n)
	out := &Node{Name: name, Kind: kind, Env: map[string]string{}, Sysctls: map[string]string{}}
	bindAt := map[string]int{}
	for _, l := range layers {
		for k, v := range l.Env {
			out.Env[k] = scalar(v)
		}
		for k, v := range l.Sysctls {
			out.Sysctls[k] = scalar(v)
		}
		for _, s := range l.Binds {
			b, err := parseBind(s, dir)
			if err != nil {
				return nil, fmt.Errorf("node %s: %w", name, err)
			}
			if i, ok := bindAt[b.Container]; ok {
				out.Binds[i] = b
				continue
			}
			bindAt[b.Container] = len(out.Binds)
			out.Binds = append(out.Binds, b)
		}
		out.Exec = append(out.Exec, l.Exec...)
	}
	return out, nil
}

func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

func parseBind(s, dir string) (Bind, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || !strings.HasPrefix(parts[1], "/") {
		return Bind{}, fmt.Errorf("bind %q: want HOST:/CONTAINER[:ro|rw]", s)
	}
	b := Bind{Host: parts[0], Container: filepath.Clean(parts[1])}
	if len(parts) == 3 {
		for _, o := range strings.Split(parts[2], ",") {
			if o == "ro" {
				b.ReadOnly = true
			}
		}
	}
	if strings.HasPrefix(b.Host, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return Bind{}, fmt.Errorf("bind %q: %w", s, err)
		}
		b.Host = filepath.Join(home, b.Host[2:])
	}
	if !filepath.IsAbs(b.Host) {
		b.Host = filepath.Join(dir, b.Host)
	}
	b.Host = filepath.Clean(b.Host)
	return b, nil
}

func parseLink(rl rawLink) (Link, error) {
	for k := range rl.Extra {
		if k != "labels" && k != "vars" {
			return Link{}, fmt.Errorf("field %q is not supported by the netns runner", k)
		}
	}
	if rl.Type != "" && rl.Type != "veth" {
		return Link{}, fmt.Errorf("type %q: the netns runner supports only veth links", rl.Type)
	}
	if len(rl.Endpoints) != 2 {
		return Link{}, fmt.Errorf("want 2 endpoints, have %d", len(rl.Endpoints))
	}
	var eps [2]Endpoint
	for i, en := range rl.Endpoints {
		switch en.Kind {
		case yaml.ScalarNode:
			node, iface, ok := strings.Cut(en.Value, ":")
			if !ok || node == "" || iface == "" {
				return Link{}, fmt.Errorf("endpoint %q: want NODE:IFACE", en.Value)
			}
			eps[i] = Endpoint{Node: node, Iface: iface}
		case yaml.MappingNode:
			var e struct {
				Node  string         `yaml:"node"`
				Iface string         `yaml:"interface"`
				Extra map[string]any `yaml:",inline"`
			}
			if err := en.Decode(&e); err != nil {
				return Link{}, fmt.Errorf("endpoint %d: %w", i+1, err)
			}
			for k := range e.Extra {
				return Link{}, fmt.Errorf("endpoint %s:%s: field %q is not supported by the netns runner", e.Node, e.Iface, k)
			}
			eps[i] = Endpoint{Node: e.Node, Iface: e.Iface}
		default:
			return Link{}, fmt.Errorf("endpoint %d: want \"node:iface\" or {node, interface}", i+1)
		}
	}
	if rl.MTU == 0 {
		rl.MTU = DefaultMTU
	}
	if rl.MTU < 68 || rl.MTU > 65535 {
		return Link{}, fmt.Errorf("mtu %d out of range", rl.MTU)
	}
	return Link{A: eps[0], B: eps[1], MTU: rl.MTU}, nil
}

// rewritePaths replaces bound container paths in s by their host paths. A
// container path matches only as a whole path (or a prefix followed by "/"),
// starting where a path can start (beginning, or after a character that cannot
// be part of one), so "/opt/x" inside `sh -c 'cat /opt/x/y'` is rewritten but
// "/opt/xy" and "a/opt/x" are not.
func rewritePaths(s string, binds []Bind) string {
	if len(binds) == 0 || !strings.Contains(s, "/") {
		return s
	}
	bs := append([]Bind(nil), binds...)
	sort.Slice(bs, func(i, j int) bool { return len(bs[i].Container) > len(bs[j].Container) })
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '/' && (i == 0 || !isPathChar(s[i-1])) {
			matched := false
			for _, bd := range bs {
				c := bd.Container
				if strings.HasPrefix(s[i:], c) {
					end := i + len(c)
					if end == len(s) || s[end] == '/' || !isPathChar(s[end]) {
						b.WriteString(bd.Host)
						i = end
						matched = true
						break
					}
				}
			}
			if matched {
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

func isPathChar(c byte) bool {
	return isNameChar(c) || c == '.' || c == '-' || c == '/' || c == '+' || c == '~' || c == '@'
}
