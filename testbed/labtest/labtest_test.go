package labtest_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshnode/meshnode/testbed/lab"
	"github.com/meshnode/meshnode/testbed/labtest"
)

const childEnv = "LABTEST_INTERRUPT_CHILD"

func TestMain(m *testing.M) { os.Exit(labtest.Main(m)) }

// TestChildHoldsLab is the child of TestInterruptTearsDown: it brings a lab
// up, reports it and blocks until interrupted.
func TestChildHoldsLab(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("not a test by itself: the child process of TestInterruptTearsDown")
	}
	l := labtest.Up(t, "../lab/testdata/mini.clab.yml", nil)
	fmt.Println("UP", l.ID())
	time.Sleep(time.Minute)
}

// Interrupting a test run (Ctrl-C) tears its labs down before the process
// exits: right after the exit nothing is left, without waiting for the reaper.
func TestInterruptTearsDown(t *testing.T) {
	labtest.RequireRoot(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildHoldsLab$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	id := ""
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "UP" {
			id = f[1]
			break
		}
	}
	if id == "" {
		cmd.Wait()
		t.Fatal("child did not bring a lab up")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	if ns := netns(id); len(ns) != 3 {
		t.Fatalf("child lab %s: namespaces %v", id, ns)
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("interrupted test run exited 0")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("child did not exit after SIGINT")
	}
	if ns := netns(id); len(ns) != 0 {
		t.Errorf("after the interrupted run exited, namespaces %v remain", ns)
	}
	if s, _ := lab.Open(id); s != nil {
		t.Errorf("lab %s still recorded", id)
	}
}

func netns(id string) []string {
	ents, _ := os.ReadDir(lab.NetnsDir)
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), lab.NetnsPrefix+id+"-") {
			out = append(out, e.Name())
		}
	}
	return out
}
