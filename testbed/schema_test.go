package testbed

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/meshnode/meshnode/testbed/lab"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("clab.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("parse clab.schema.json: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("clab.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("clab.schema.json")
	if err != nil {
		t.Fatalf("compile clab.schema.json: %v", err)
	}
	return sch
}

// validate expands a topology's variables, turns the YAML into JSON values
// and validates them against containerlab's schema.
func validate(sch *jsonschema.Schema, data []byte, env map[string]string) error {
	text, err := lab.Expand(string(data), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		return err
	}
	var v any
	if err := yaml.Unmarshal([]byte(text), &v); err != nil {
		return err
	}
	j, err := json.Marshal(v)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

func topologies(t *testing.T) []string {
	files, err := filepath.Glob("*.clab.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no *.clab.yml in testbed/ (%v)", err)
	}
	lt, _ := filepath.Glob("lab/testdata/*.clab.yml")
	return append(files, lt...)
}

func TestTopologiesMatchSchema(t *testing.T) {
	sch := compileSchema(t)
	nonDefault := map[string]string{
		"SITE_A_NAT": "symmetric", "SITE_B_NAT": "open", "SITE_A_HAIRPIN": "1", "SITE_A_CGN": "fullcone",
		"SITE_A_DELAY_MS": "20", "SITE_A_JITTER_MS": "5", "SITE_A_LOSS_PCT": "3", "SITE_A_RATE": "20mbit",
		"MESHNODE_BIN": "/tmp/bin", "MESHLAB": "/tmp/bin/meshlab",
	}
	for _, f := range topologies(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, env := range []map[string]string{nil, nonDefault} {
			if err := validate(sch, data, env); err != nil {
				t.Errorf("%s (env %v) does not match containerlab's schema: %v", f, env, err)
			}
		}
	}
	// The check is not vacuous: a broken topology fails.
	bad := []byte("name: x\ntopology:\n  nodes:\n    a: {kind: linux, network-mode: bogus, exec: [1]}\n  links:\n    - endpoints: 3\n")
	if err := validate(sch, bad, nil); err == nil {
		t.Error("an invalid topology validated")
	}
}

// Every variable of a topology carries a default at every occurrence
// (containerlab's ${VAR:=x} does not assign), the same default everywhere,
// and is named in the file's header comment.
func TestTopologyVariables(t *testing.T) {
	for _, f := range topologies(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		refs, err := lab.References(string(data))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		header := string(data)
		if i := strings.Index(header, "\nname:"); i > 0 {
			header = header[:i]
		}
		defaults := map[string]string{}
		for _, r := range refs {
			if r.Op != ":=" {
				t.Errorf("%s: ${%s%s...}: use ${%s:=default} at every occurrence", f, r.Name, r.Op, r.Name)
				continue
			}
			if d, ok := defaults[r.Name]; ok && d != r.Default {
				t.Errorf("%s: %s has defaults %q and %q", f, r.Name, d, r.Default)
			}
			defaults[r.Name] = r.Default
			if !strings.Contains(header, r.Name) && !strings.Contains(header, strings.Replace(r.Name, "SITE_B", "...", 1)) &&
				!strings.Contains(header, strings.Replace(r.Name, "SITE_B_", "SITE_A_", 1)) {
				t.Errorf("%s: variable %s is not documented in the header comment", f, r.Name)
			}
		}
	}
}
