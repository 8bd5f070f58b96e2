package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/meshnode/meshnode/internal/sdnotify"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	notify, err := sdnotify.FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "rendezvous: not notifying the service manager:", err)
	}
	// STOPPING=1 as soon as SIGTERM or SIGINT begins the shutdown.
	stopping := notify.StoppingOnDone(ctx, func(err error) {
		fmt.Fprintln(os.Stderr, "rendezvous: cannot notify the service manager: STOPPING=1:", err)
	})
	code := runEnv(ctx, os.Args, &env{stdout: os.Stdout, stderr: os.Stderr, lookupEnv: os.LookupEnv, hup: hup, notify: notify})
	stopping()
	signal.Stop(hup)
	stop()
	os.Exit(code)
}

// run runs the command with args (args[0] is the program name) until ctx is done
// and returns the exit code. The environment is the process's; SIGHUP is not
// watched (main does that).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runEnv(ctx, args, &env{stdout: stdout, stderr: stderr, lookupEnv: os.LookupEnv})
}

func runEnv(ctx context.Context, args []string, e *env) int {
	if e.lookupEnv == nil {
		e.lookupEnv = func(string) (string, bool) { return "", false }
	}
	if err := newApp(e).RunContext(ctx, args); err != nil {
		fmt.Fprintf(e.stderr, "rendezvous: %v\n", err)
		return 1
	}
	return 0
}
