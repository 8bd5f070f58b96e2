package meshproc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a started process.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Out  *LogBuf
	done chan struct{}
	err  error
}

// Start runs bin with args. Its stdout and stderr go to p.Out (and to tee if not nil).
func Start(name string, tee io.Writer, bin string, args ...string) (*Proc, error) {
	p := &Proc{Name: name, Out: NewLogBuf(), done: make(chan struct{})}
	p.Cmd = exec.Command(bin, args...)
	var w io.Writer = p.Out
	if tee != nil {
		w = io.MultiWriter(p.Out, &prefixWriter{prefix: "[" + name + "] ", w: tee})
	}
	p.Cmd.Stdout, p.Cmd.Stderr = w, w
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := p.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Done is closed when the process has exited; Err then tells how.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error (after Done).
func (p *Proc) Err() error { return p.err }

// Kill kills the process group and waits for the exit.
func (p *Proc) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits up to timeout for a clean exit; then it kills.
func (p *Proc) Stop(timeout time.Duration) error {
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("%s exited with %v after SIGTERM", p.Name, p.err)
		}
		return nil
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("%s did not exit within %v of SIGTERM", p.Name, timeout)
	}
}

// LogBuf collects output and lets callers wait for a pattern.
type LogBuf struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

// NewLogBuf returns an empty LogBuf.
func NewLogBuf() *LogBuf { return &LogBuf{changed: make(chan struct{})} }

func (l *LogBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *LogBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Count counts occurrences of substr.
func (l *LogBuf) Count(substr string) int { return strings.Count(l.String(), substr) }

// WaitFor waits until the output matches re and returns the match and submatches.
func (l *LogBuf) WaitFor(ctx context.Context, re *regexp.Regexp) ([]string, error) {
	for {
		l.mu.Lock()
		m := re.FindStringSubmatch(l.buf.String())
		ch := l.changed
		l.mu.Unlock()
		if m != nil {
			return m, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("no output matching %q: %w", re, ctx.Err())
		}
	}
}

type prefixWriter struct {
	mu     sync.Mutex
	prefix string
	w      io.Writer
	line   []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line = append(p.line, b...)
	for {
		i := bytes.IndexByte(p.line, '\n')
		if i < 0 {
			return len(b), nil
		}
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.line[:i])
		p.line = p.line[i+1:]
	}
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }
