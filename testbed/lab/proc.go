package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"time"
)

// Proc is a long-running process inside a node, started by Lab.Start. It is
// killed (with its whole process group) by Stop, Kill or Lab.Down, and by the
// kernel when the process that started it dies (parent-death signal).
type Proc struct {
	Node string
	Name string // label for logs: the command's base name unless set
	Cmd  *exec.Cmd

	out  *Output
	done chan struct{}
	err  error
}

// Output returns everything the process wrote to stdout and stderr so far.
func (p *Proc) Output() string { return p.out.String() }

// WaitFor waits until the output matches re and returns the submatches of the
// first match. It fails when ctx ends or the process exits without a match.
func (p *Proc) WaitFor(ctx context.Context, re *regexp.Regexp) ([]string, error) {
	for {
		ch := p.out.changed()
		if m := re.FindStringSubmatch(p.out.String()); m != nil {
			return m, nil
		}
		select {
		case <-ch:
		case <-p.done:
			if m := re.FindStringSubmatch(p.out.String()); m != nil {
				return m, nil
			}
			return nil, fmt.Errorf("%s on %s exited (%v) before printing %q", p.Name, p.Node, p.err, re)
		case <-ctx.Done():
			return nil, fmt.Errorf("%s on %s: waiting for %q: %w", p.Name, p.Node, re, ctx.Err())
		}
	}
}

// Done is closed when the process has exited and its output is complete.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is how the process ended (valid after Done).
func (p *Proc) Err() error { return p.err }

// Wait waits for the process to exit and returns how it ended.
func (p *Proc) Wait() error { <-p.done; return p.err }

// Pid is the process id (the process group id too).
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Signal sends sig to the process group.
func (p *Proc) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := syscall.Kill(-p.Cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %s on %s: %w", p.Name, p.Node, err)
	}
	return nil
}

// Kill SIGKILLs the process group and waits for the exit.
func (p *Proc) Kill() {
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM, waits up to grace for the exit, then kills.
func (p *Proc) Stop(grace time.Duration) error {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
	}
	return nil
}

func startProc(cmd *exec.Cmd, node, name string, tee io.Writer) (*Proc, error) {
	p := &Proc{Node: node, Name: name, Cmd: cmd, out: newOutput(), done: make(chan struct{})}
	var w io.Writer = p.out
	if tee != nil {
		w = io.MultiWriter(p.out, tee)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s on %s: %w", name, node, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Output is a goroutine-safe, growing log of a process's output.
type Output struct {
	mu     sync.Mutex
	buf    []byte
	notify chan struct{}
}

const maxOutput = 32 << 20

func newOutput() *Output { return &Output{notify: make(chan struct{})} }

func (o *Output) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.buf) < maxOutput {
		o.buf = append(o.buf, b...)
	}
	close(o.notify)
	o.notify = make(chan struct{})
	return len(b), nil
}

func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.buf)
}

func (o *Output) changed() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.notify
}
