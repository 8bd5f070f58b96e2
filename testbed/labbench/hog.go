package labbench

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"github.com/meshnode/meshnode/internal/bench"
	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/testbed/lab"
)

// HogWAN is the lossy WAN's ping-pong rows again while a CPU hog keeps every
// core busy: "other processes loading the two cores" (issue 17).
type HogWAN struct {
	TCPPP, MeshPP bench.Series // 64-byte round trips, ms
	CC            string       // plain TCP's congestion control (the lab's default)
	Hogs          int          // busy processes
	HogCores      float64      // cores they kept busy on average (their CPU time / wall time)
	Before, After api.PeerInfo
	Err           error
}

// LossyWANHog brings up a lab with LossyEnv and a lossyPair like LossyWAN;
// once b1's link to a1 is direct it starts one busy process per CPU (nice
// 0, outside the lab's namespaces: ordinary other work on the host) and,
// while they run, does the ping-pongs of LossyWAN: plain TCP, then the
// mapping. The hog stops when the ping-pongs end (and with the run).
func (r *Runner) LossyWANHog(ctx context.Context, p Params) (res HogWAN) {
	res.Err = r.inLossyLab(ctx, "lossy WAN with a CPU hog", func(ctx context.Context, l *lab.Lab, lp lossyPair) (err error) {
		res.Before, res.CC, res.Hogs = lp.before, lp.ccs[0], runtime.NumCPU()
		h, err := startHog(ctx, res.Hogs)
		if err != nil {
			return fmt.Errorf("hog: %w", err)
		}
		r.logf("lossy WAN with a CPU hog: %d busy processes running", res.Hogs)
		res.TCPPP, res.MeshPP, err = lp.pingPongs(ctx, p)
		if res.HogCores, err = h.stop(err); err != nil {
			return err
		}
		r.logf("lossy WAN with a CPU hog (%.2f cores busy): ping-pong p50/p99: plain TCP %.1f/%.1f ms, mapping %.1f/%.1f ms", res.HogCores,
			res.TCPPP.Median(), res.TCPPP.Quantile(0.99), res.MeshPP.Median(), res.MeshPP.Quantile(0.99))
		if pi, ok, err := peer(ctx, lp.ctlB, "a1"); err == nil && ok {
			res.After = pi
		}
		return nil
	})
	return res
}

// hog is busy processes on the host.
type hog struct {
	cmds  []*exec.Cmd
	start time.Time
}

// hogLoop spins in the shell, looking every few thousand rounds whether its
// parent (this process) still lives: a hog never outlives the run, even one
// killed without a chance to stop it.
const hogLoop = `while kill -0 $PPID 2>/dev/null; do i=0; while [ $i -lt 5000 ]; do i=$((i+1)); done; done`

// startHog starts n busy processes at nice 0; they also end with ctx.
func startHog(ctx context.Context, n int) (*hog, error) {
	h := &hog{start: time.Now()}
	for range n {
		cmd := exec.CommandContext(ctx, "sh", "-c", hogLoop)
		if err := cmd.Start(); err != nil {
			h.stop(nil)
			return nil, err
		}
		h.cmds = append(h.cmds, cmd)
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, cmd.Process.Pid, 0); err != nil {
			h.stop(nil)
			return nil, fmt.Errorf("nice 0: %w", err)
		}
	}
	return h, nil
}

// stop kills the processes, waits for them and returns how many cores they
// kept busy on average, with err joined to any failure to read that.
func (h *hog) stop(err error) (cores float64, _ error) {
	var cpu time.Duration
	for _, cmd := range h.cmds {
		t, cerr := bench.CPUTime(cmd.Process.Pid)
		cpu += t
		err = errors.Join(err, cerr)
	}
	wall := time.Since(h.start)
	for _, cmd := range h.cmds {
		cmd.Process.Kill()
		cmd.Wait()
	}
	return cpu.Seconds() / wall.Seconds(), err
}
