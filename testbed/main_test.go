package testbed

import (
	"fmt"
	"os"
	"testing"

	"github.com/meshnode/meshnode/testbed/lab"
	"github.com/meshnode/meshnode/testbed/labtest"
)

// topo is the lab every test here builds (fresh per case).
const topo = "two-sites.clab.yml"

// binDir holds the binaries TestMain built once: the product (meshnode,
// rendezvous) and meshlab (the WAN boxes' delay bridge); empty when not root.
var binDir string

func TestMain(m *testing.M) {
	dir := ""
	if labtest.IsRoot() {
		var err error
		if dir, err = os.MkdirTemp("", "testbed-bin"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if _, err := labtest.Build(dir, labtest.ProductPackages()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
		binDir = dir
	}
	code := labtest.Main(m)
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// up builds a fresh two-sites lab with env (NAT kinds, WAN knobs).
func up(t *testing.T, env map[string]string) *lab.Lab {
	t.Helper()
	return labtest.Up(t, topo, labtest.Merge(labtest.BinEnv(binDir), env))
}
