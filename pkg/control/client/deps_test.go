package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoDataPlaneDeps fails when the client side of the control API (this
// package and pkg/control/api) imports anything beyond the standard library
// and the API's types: a Go client must not drag in pion, kcp, smux or
// memberlist.
func TestNoDataPlaneDeps(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is not on PATH: %v", err)
	}
	const mod = "github.com/meshnode/meshnode/"
	allowed := map[string]bool{mod + "pkg/control/api": true, mod + "pkg/control/client": true}
	for _, pkg := range []string{mod + "pkg/control/api", mod + "pkg/control/client"} {
		out, err := exec.Command(goTool, "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 {
			t.Fatalf("go list -deps %s listed only %q: not a dependency list", pkg, deps)
		}
		for _, d := range deps {
			first, _, _ := strings.Cut(d, "/")
			if !strings.Contains(first, ".") || allowed[d] {
				continue // the standard library, or the API itself
			}
			t.Errorf("%s depends on %s: the control API's client side must import only the standard library and pkg/control/api", pkg, d)
			for _, banned := range []string{"github.com/pion/", "github.com/xtaci/", "github.com/hashicorp/memberlist"} {
				if strings.HasPrefix(d, banned) {
					t.Errorf("%s pulls in the data plane (%s)", pkg, d)
				}
			}
		}
	}
}
