package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/meshnode/meshnode/testbed/wanem"
)

const readyEnv = "MESHLAB_READY_FD"

// cmdWANBridge runs the delay bridge of a WAN box (see scripts/wan.sh).
func cmdWANBridge(args []string) error {
	fs := flag.NewFlagSet("wanbridge", flag.ContinueOnError)
	delay := fs.Duration("delay", 0, "one-way delay per direction")
	jitter := fs.Duration("jitter", 0, "uniform jitter +- (never reorders)")
	bg := fs.Bool("background", false, "detach once the bridge runs (setup errors are reported first)")
	logFile := fs.String("log", "", "with --background: append logs to this file (default: discard)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("usage: lab wanbridge [--background] [--delay D] [--jitter D] IFACE-A IFACE-B")
	}
	if *bg {
		var rest []string
		for _, a := range args {
			if a != "--background" && a != "-background" {
				rest = append(rest, a)
			}
		}
		return detach("wan bridge", append([]string{"wanbridge"}, rest...), *logFile)
	}
	ready := readyFunc()
	br, err := wanem.Open(wanem.Config{A: fs.Arg(0), B: fs.Arg(1), Delay: *delay, Jitter: *jitter})
	ready(err)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	slog.Info("wan bridge running", "a", fs.Arg(0), "b", fs.Arg(1), "delay", *delay, "jitter", *jitter)
	err = br.Run(ctx)
	slog.Info("wan bridge stopped",
		"a_to_b", br.AtoB.Forwarded.Load(), "a_to_b_dropped", br.AtoB.Dropped.Load()+br.AtoB.SendErrors.Load(),
		"b_to_a", br.BtoA.Forwarded.Load(), "b_to_a_dropped", br.BtoA.Dropped.Load()+br.BtoA.SendErrors.Load())
	return err
}

// readyFunc returns what a detached child (see detach) calls once its setup
// is done or failed; outside detach it does nothing.
func readyFunc() func(error) {
	if fd := os.Getenv(readyEnv); fd != "3" {
		return func(error) {}
	}
	syscall.CloseOnExec(3) // children (miniupnpd) must not hold it open
	f := os.NewFile(3, "ready")
	return func(err error) {
		msg := "ok\n"
		if err != nil {
			msg = err.Error()
		}
		_, _ = io.WriteString(f, msg)
		f.Close()
	}
}

// detach re-runs this binary with args in a new session, waits until it
// reports ready (or fails), and returns: the exec line that started it can
// finish while what (a name for errors) keeps running.
func detach(what string, args []string, logFile string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("pipe: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), readyEnv+"=3")
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if logFile != "" {
		f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("open log: %w", err)
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("start %s: %w", self, err)
	}
	w.Close()
	_ = r.SetReadDeadline(time.Now().Add(10 * time.Second))
	msg, _ := io.ReadAll(r)
	if strings.HasPrefix(string(msg), "ok") {
		_ = cmd.Process.Release()
		return nil
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if len(msg) == 0 {
		return errors.New(what + " exited during setup")
	}
	return errors.New(strings.TrimSpace(string(msg)))
}
