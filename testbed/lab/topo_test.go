package lab

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const mergeTopo = `name: merge
topology:
  defaults:
    kind: linux
    image: x
    env: {A: defaults, B: defaults}
    sysctls: {net.ipv4.ip_forward: 0}
    binds: [ "./d:/opt/d", "/abs:/opt/shared:ro" ]
    exec: [ "echo defaults" ]
  kinds:
    linux:
      env: {B: kind, C: kind}
      exec: [ "echo kind" ]
  groups:
    routers:
      sysctls: {net.ipv4.ip_forward: 1}
      binds: [ "./g:/opt/shared" ]
  nodes:
    r1:
      group: routers
      env: {C: node, N: 5}
      exec: [ "echo node" ]
    h1:
  links:
    - endpoints: ["r1:eth1", "h1:eth1"]
    - type: veth
      mtu: 1500
      endpoints:
        - {node: r1, interface: eth2}
        - {node: h1, interface: eth2}
`

func TestParseMerge(t *testing.T) {
	topo, err := Parse([]byte(mergeTopo), "/top", nil)
	if err != nil {
		t.Fatal(err)
	}
	r1 := topo.Nodes["r1"]
	if want := map[string]string{"A": "defaults", "B": "kind", "C": "node", "N": "5"}; !reflect.DeepEqual(r1.Env, want) {
		t.Errorf("r1 env = %v, want %v", r1.Env, want)
	}
	if got := r1.Sysctls["net.ipv4.ip_forward"]; got != "1" {
		t.Errorf("r1 ip_forward = %q, want the group's 1", got)
	}
	if want := []string{"echo defaults", "echo kind", "echo node"}; !reflect.DeepEqual(r1.Exec, want) {
		t.Errorf("r1 exec = %q, want %q", r1.Exec, want)
	}
	wantBinds := []Bind{{Host: "/top/d", Container: "/opt/d"}, {Host: "/top/g", Container: "/opt/shared"}}
	if !reflect.DeepEqual(r1.Binds, wantBinds) {
		t.Errorf("r1 binds = %+v, want %+v", r1.Binds, wantBinds)
	}
	h1 := topo.Nodes["h1"]
	if h1.Sysctls["net.ipv4.ip_forward"] != "0" || h1.Binds[1] != (Bind{Host: "/abs", Container: "/opt/shared", ReadOnly: true}) {
		t.Errorf("h1 = %+v", h1)
	}
	want := []Link{{A: Endpoint{"r1", "eth1"}, B: Endpoint{"h1", "eth1"}, MTU: DefaultMTU}, {A: Endpoint{"r1", "eth2"}, B: Endpoint{"h1", "eth2"}, MTU: 1500}}
	if !reflect.DeepEqual(topo.Links, want) {
		t.Errorf("links = %+v, want %+v", topo.Links, want)
	}
}

func TestParseRejects(t *testing.T) {
	base := "name: x\ntopology:\n  nodes:\n    a: {kind: linux}\n    b: {kind: linux}\n"
	cases := map[string]string{
		"unknown node field":  "name: x\ntopology:\n  nodes:\n    a: {kind: linux, startup-config: x}\n",
		"unsupported kind":    "name: x\ntopology:\n  nodes:\n    a: {kind: nokia_srlinux}\n",
		"no name":             "topology:\n  nodes:\n    a: {kind: linux}\n",
		"long ifname":         base + "  links:\n    - endpoints: [\"a:eth1234567890123\", \"b:eth1\"]\n",
		"missing node":        base + "  links:\n    - endpoints: [\"a:eth1\", \"c:eth1\"]\n",
		"endpoint used twice": base + "  links:\n    - endpoints: [\"a:eth1\", \"b:eth1\"]\n    - endpoints: [\"a:eth1\", \"b:eth2\"]\n",
		"host link":           base + "  links:\n    - type: host\n      endpoints: [{node: a, interface: eth1}, {node: b, interface: eth1}]\n",
		"template":            "name: {{ .x }}\n",
		"bad bind":            "name: x\ntopology:\n  nodes:\n    a: {kind: linux, binds: [\"relative\"]}\n",
	}
	for name, doc := range cases {
		if _, err := Parse([]byte(doc), "/", nil); err == nil {
			t.Errorf("%s: Parse accepted\n%s", name, doc)
		}
	}
}

func TestParseExpandsVariables(t *testing.T) {
	doc := "name: x\ntopology:\n  nodes:\n    a:\n      kind: linux\n      exec: [\"sh -c 'echo $$HOME ${K:=dflt}'\"]\n"
	for _, c := range []struct {
		env  map[string]string
		want string
	}{{nil, "sh -c 'echo $HOME dflt'"}, {map[string]string{"K": "v"}, "sh -c 'echo $HOME v'"}} {
		topo, err := Parse([]byte(doc), "/", func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
		if err != nil {
			t.Fatal(err)
		}
		if got := topo.Nodes["a"].Exec[0]; got != c.want {
			t.Errorf("env %v: exec = %q, want %q", c.env, got, c.want)
		}
	}
}

func TestRewritePaths(t *testing.T) {
	binds := []Bind{{Host: "/h/lab", Container: "/opt/m/lab"}, {Host: "/h/bin", Container: "/opt/m"}}
	cases := map[string]string{
		"/opt/m/lab/nat.sh":             "/h/lab/nat.sh",
		"/opt/m/meshlab":                "/h/bin/meshlab",
		"/opt/m":                        "/h/bin",
		"--x=/opt/m/lab":                "--x=/h/lab",
		"cat /opt/m/lab/a > /opt/mx/b":  "cat /h/lab/a > /opt/mx/b",
		"a/opt/m/lab":                   "a/opt/m/lab",
		"/opt/mlab":                     "/opt/mlab",
		"'/opt/m/lab/x' \"/opt/m/lab\"": "'/h/lab/x' \"/h/lab\"",
	}
	for in, want := range cases {
		if got := rewritePaths(in, binds); got != want {
			t.Errorf("rewritePaths(%q) = %q, want %q", in, got, want)
		}
	}
}

// The real topologies must parse with their defaults, with every node's exec
// lines splittable and every script they call present.
func TestParseRepoTopologies(t *testing.T) {
	files, _ := filepath.Glob("../*.clab.yml")
	if len(files) == 0 {
		t.Fatal("no ../*.clab.yml")
	}
	for _, f := range files {
		topo, err := ParseFile(f, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range topo.Nodes {
			for _, line := range n.Exec {
				argv, err := SplitCommand(line)
				if err != nil {
					t.Errorf("%s node %s: %v", f, n.Name, err)
					continue
				}
				for _, a := range argv {
					if strings.HasPrefix(a, "/opt/meshnode/lab/") {
						if host := rewritePaths(a, n.Binds); !fileExists(host) {
							t.Errorf("%s node %s: %s (%s) does not exist", f, n.Name, a, host)
						}
					}
				}
			}
		}
	}
}
