package e2e

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

func itoa(i int) string { return strconv.Itoa(i) }

func makeTemp(t *testing.T) (string, error) {
	d, err := os.MkdirTemp("", "mn-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d, nil
}

// runCLI runs the meshnode binary and returns its combined output.
func runCLI(args ...string) (string, error) {
	out, err := exec.Command(bins.meshnode, args...).CombinedOutput()
	return string(out), err
}
