package testbed

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshnode/meshnode/testbed/lab"
	"github.com/meshnode/meshnode/testbed/labtest"
)

// The CLI as people use it: `lab up` in one shell, ls/exec/probe/down from
// another; `up` leaves nothing behind when `down` or Ctrl-C ends it.
func TestCLI(t *testing.T) {
	labtest.RequireRoot(t)
	t.Parallel()
	for _, stop := range []string{"down", "interrupt"} {
		t.Run(stop, func(t *testing.T) {
			upCmd := exec.Command(filepath.Join(binDir, "meshlab"), "up", "--env", "SITE_A_NAT=fullcone", topo)
			upCmd.Env = append(os.Environ(), "SITE_B_NAT=symmetric") // from the environment too
			stdout, err := upCmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			upCmd.Stderr = &stderr
			if err := upCmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer upCmd.Process.Kill()
			sc := bufio.NewScanner(stdout)
			var printed strings.Builder
			id := ""
			for sc.Scan() {
				printed.WriteString(sc.Text() + "\n")
				if m := regexp.MustCompile(`^lab (\S+) is up`).FindStringSubmatch(sc.Text()); m != nil {
					id = m[1]
					break
				}
			}
			if id == "" {
				upCmd.Wait()
				t.Fatalf("lab up printed:\n%s\nstderr:\n%s", printed.String(), stderr.String())
			}
			go func() {
				for sc.Scan() {
				}
			}()
			if !regexp.MustCompile(`(?m)^rdv\s+` + lab.NetnsPrefix + id + `-rdv\s+eth1=198.18.0.2/24 eth1=198.18.0.3/24`).MatchString(printed.String()) {
				t.Errorf("lab up did not list rdv's addresses:\n%s", printed.String())
			}
			run := func(args ...string) string {
				out, err := exec.Command(filepath.Join(binDir, "meshlab"), args...).CombinedOutput()
				if err != nil {
					t.Fatalf("lab %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				return string(out)
			}
			if out := run("ls"); !strings.Contains(out, id) || !strings.Contains(out, "meshnode-2s") {
				t.Errorf("lab ls:\n%s", out)
			}
			if out := run("exec", "--lab", id, "a1", "--", "ip", "-4", "-o", "addr", "show", "eth1"); !strings.Contains(out, "10.21.0.2/24") {
				t.Errorf("lab exec a1: %s", out)
			}
			if err := exec.Command(filepath.Join(binDir, "meshlab"), "exec", "--lab", id, "a1", "--", "sh", "-c", "exit 7").Run(); err == nil || err.(*exec.ExitError).ExitCode() != 7 {
				t.Errorf("lab exec exit status: %v, want 7", err)
			}
			out := run("probe", "--lab", id, "a1", "b1")
			if !strings.Contains(out, "a1: kind=fullcone") || !strings.Contains(out, "b1: kind=symmetric") {
				t.Errorf("lab probe:\n%s", out)
			}
			if stop == "down" {
				run("down", id)
			} else {
				upCmd.Process.Signal(syscall.SIGINT)
			}
			done := make(chan error, 1)
			go func() { done <- upCmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("lab up exited with %v\n%s", err, stderr.String())
				}
			case <-time.After(20 * time.Second):
				t.Fatal("lab up still running")
			}
			ents, _ := os.ReadDir(lab.NetnsDir)
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), lab.NetnsPrefix+id) {
					t.Errorf("namespace %s left after %s", e.Name(), stop)
				}
			}
		})
	}
}
