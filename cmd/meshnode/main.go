// Command meshnode runs a node of a meshnode group (`meshnode up`) and drives a
// running node through its control socket (`map`, `status`, `reload`, `down`,
// ...). See doc.go.
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
	notify, err := sdnotify.FromEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshnode: not notifying the service manager:", err)
	}
	code := runEnv(ctx, os.Args, &env{stdout: os.Stdout, stderr: os.Stderr, lookupEnv: os.LookupEnv,
		watchHUP: watchHUP, defaultConfig: defaultConfigFile, notify: notify})
	stop()
	os.Exit(code)
}

// watchHUP delivers SIGHUP to `up` (other verbs keep its default: a closed
// terminal ends `meshnode events`).
func watchHUP() (<-chan os.Signal, func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup, func() { signal.Stop(hup) }
}

// defaultConfigFile is read by `up` when it exists and no --group is given.
const defaultConfigFile = "/etc/meshnode/meshnode.toml"

// env is what a run of the command gets from its process: tests give their own.
type env struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
	// watchHUP starts delivering SIGHUP, on which `up` reloads its config
	// file; nil: never.
	watchHUP      func() (<-chan os.Signal, func())
	defaultConfig string // "" = no default config file
	// notify tells systemd (Type=notify) about `up`: ready, reloading,
	// stopping. nil: not run by a service manager.
	notify *sdnotify.Notifier
	// parseOnly checks the command line (verb, flags, argument counts) and
	// runs nothing: the README and help examples are checked this way.
	parseOnly bool
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
	a := newApp(e)
	if err := a.run(ctx, args); err != nil {
		fmt.Fprintln(e.stderr, "meshnode:", err)
		return 1
	}
	return 0
}
