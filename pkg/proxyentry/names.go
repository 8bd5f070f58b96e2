package proxyentry

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The .mesh names. A proxy request names a host and a port; a host ending in
// ".mesh" is a mesh service:
//
//	SERVEID.mesh                  the service with that serveid (1-999), any port
//	NAME.NODE.mesh                the service NAME of node NODE, any port
//	NODE.adhoc.mesh:PORT          ad-hoc: port PORT on NODE's loopback
//	A-B-C-D.NODE.adhoc.mesh:PORT  ad-hoc: PORT at IPv4 address A.B.C.D as NODE
//	                              reaches it (NODE must allow remote ad-hoc targets)
//
// NODE is a node's name or a prefix of its ID (4 characters or more), as in
// `meshnode map NAME@NODE`. It is the last label before ".mesh" (or
// ".adhoc.mesh"), so a service name may contain dots and a node name may
// not (reach such a node by its ID prefix). Names are matched as written
// except the suffix, which is case-insensitive. The port of a request for a
// service (the first two forms) is not used: the service's target has its
// own. A host that does not end in ".mesh" is not a mesh name (ErrNotMesh).

// Suffix is the domain of mesh names.
const Suffix = ".mesh"

const (
	adhocSuffix = ".adhoc" + Suffix
	// maxServeID is the largest serveid (overlay.MaxServeID; a literal here
	// so that this package does not import the data plane).
	maxServeID = 999
	maxLabel   = 64 // a service or node name (overlay.MaxServiceName)
)

// Target is a mesh destination named by a proxy request.
type Target struct {
	ServeID int    // SERVEID.mesh (0 otherwise)
	Name    string // NAME.NODE.mesh
	Node    string // NAME.NODE.mesh, and the node of an ad-hoc target
	// An ad-hoc target (Port != 0): Host:Port as Node reaches it.
	Host string
	Port int
}

// AdHoc reports whether t asks for a service the node never declared.
func (t Target) AdHoc() bool { return t.Port != 0 }

// Spec is t in the form `meshnode map` takes: "700", "web@home",
// "127.0.0.1:8888@home".
func (t Target) Spec() string {
	switch {
	case t.ServeID != 0:
		return strconv.Itoa(t.ServeID)
	case t.AdHoc():
		return netip.AddrPortFrom(netip.MustParseAddr(t.Host), uint16(t.Port)).String() + "@" + t.Node
	default:
		return t.Name + "@" + t.Node
	}
}

func (t Target) String() string { return t.Spec() }

// ErrNotMesh is returned by ParseName for a host outside the .mesh domain.
var ErrNotMesh = errors.New("not a .mesh name")

// ParseName turns a requested host and port into a Target. Errors other than
// ErrNotMesh say what is wrong with the name.
func ParseName(host string, port int) (Target, error) {
	h := strings.TrimSuffix(host, ".") // a fully qualified "web.home.mesh."
	lower := strings.ToLower(h)
	if !strings.HasSuffix(lower, Suffix) {
		return Target{}, ErrNotMesh
	}
	if strings.HasSuffix(lower, adhocSuffix) {
		return parseAdHoc(h[:len(h)-len(adhocSuffix)], port)
	}
	if lower == adhocSuffix[1:] {
		return parseAdHoc("", port)
	}
	rest := h[:len(h)-len(Suffix)]
	if rest == "" {
		return Target{}, fmt.Errorf("%q: want SERVEID.mesh or NAME.NODE.mesh", host)
	}
	dot := strings.LastIndexByte(rest, '.')
	if dot < 0 {
		id, err := strconv.Atoi(rest)
		if err != nil || id < 1 || id > maxServeID || rest[0] < '1' || rest[0] > '9' {
			return Target{}, fmt.Errorf("%q: %q is not a serveid (1-%d); a service by name is NAME.NODE.mesh", host, rest, maxServeID)
		}
		return Target{ServeID: id}, nil
	}
	name, node := rest[:dot], rest[dot+1:]
	if err := checkLabel("service name", name); err != nil {
		return Target{}, fmt.Errorf("%q: %w", host, err)
	}
	if err := checkLabel("node", node); err != nil {
		return Target{}, fmt.Errorf("%q: %w", host, err)
	}
	return Target{Name: name, Node: node}, nil
}

// parseAdHoc parses what precedes ".adhoc.mesh": NODE or A-B-C-D.NODE.
func parseAdHoc(rest string, port int) (Target, error) {
	full := rest + adhocSuffix
	if port < 1 || port > 65535 {
		return Target{}, fmt.Errorf("%q: an ad-hoc name needs the port to reach (1-65535), got %d", full, port)
	}
	host, node := "127.0.0.1", rest
	if dot := strings.LastIndexByte(rest, '.'); dot >= 0 {
		ip, err := netip.ParseAddr(strings.ReplaceAll(rest[:dot], "-", "."))
		if err != nil || !ip.Is4() || strings.Contains(rest[:dot], ".") {
			return Target{}, fmt.Errorf("%q: %q is not an IPv4 address written with dashes (10-0-0-5)", full, rest[:dot])
		}
		host, node = ip.String(), rest[dot+1:]
	}
	if err := checkLabel("node", node); err != nil {
		return Target{}, fmt.Errorf("%q: %w", full, err)
	}
	return Target{Node: node, Host: host, Port: port}, nil
}

func checkLabel(what, v string) error {
	if v == "" {
		return fmt.Errorf("empty %s", what)
	}
	if len(v) > maxLabel {
		return fmt.Errorf("%s of %d bytes; the limit is %d", what, len(v), maxLabel)
	}
	for _, r := range v {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return fmt.Errorf("%s %q: only letters, digits, '-', '_' and '.' are allowed", what, v)
		}
	}
	return nil
}
