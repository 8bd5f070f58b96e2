package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// child is a helper process: the benchmark binary run again in one of its
// internal modes (the raw KCP peer, a TCP proxy), which prints "addr=ADDR" on
// stdout once it serves and exits when its stdin closes.
type child struct {
	cmd   *exec.Cmd
	stdin io.Closer
	addr  string
}

// startChild runs exe with args and waits for its address; what names it in
// errors.
func startChild(what, exe string, args ...string) (*child, error) {
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: in}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "addr=")
	if err != nil || !ok {
		c.stop()
		return nil, fmt.Errorf("%s: no address (%q, %v)", what, line, err)
	}
	c.addr = addr
	return c, nil
}

// stop closes the child's stdin and waits for it to exit, killing it after
// 5 s.
func (c *child) stop() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}
