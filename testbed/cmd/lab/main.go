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
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/meshnode/meshnode/testbed/lab"
)

const usage = `lab: run containerlab topologies with network namespaces (no Docker).

  lab up [--env K=V]... FILE      bring FILE up, print nodes and addresses, stay up
                                  until Ctrl-C or 'lab down' (variables also come
                                  from the environment, --env wins)
  lab down [--all] [LAB...]       tear down the named labs; without names, the labs
                                  of 'lab up' and leftovers of crashed runs; --all:
                                  every lab, also those of running tests
  lab exec [--lab LAB] NODE -- CMD [ARG...]
                                  run CMD inside NODE (interactive)
  lab ls                          list running labs
  lab probe [--lab LAB] [--server NODE] NODE...
                                  classify the NAT in front of each NODE
  lab clean                       remove leftovers of crashed labs

LAB is a lab id or topology name; it may be omitted when one lab runs.
Needs root. State lives in ` + lab.StateDir + `.
`

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	slog.SetDefault(log)
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	code := 1
	switch cmd {
	case "up":
		err = cmdUp(args)
	case "down":
		err = cmdDown(args)
	case "exec":
		code, err = cmdExec(args)
		if err == nil {
			os.Exit(code)
		}
	case "ls", "list":
		err = cmdLs(args)
	case "clean":
		err = cmdClean(args)
	case "probe":
		err = cmdProbe(args)
	case "wanbridge": // used by scripts/wan.sh inside the WAN box nodes
		err = cmdWANBridge(args)
	case "upnpd": // used by scripts/upnp.sh inside a upnp router node
		err = cmdUPnPd(args)
	case "natprobe": // standalone probe server/client, e.g. inside containerlab nodes
		err = cmdNATProbe(args)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "lab: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		slog.Error("lab "+cmd, "err", err)
		os.Exit(code)
	}
}

type envFlags map[string]string

func (e envFlags) String() string { return fmt.Sprint(map[string]string(e)) }
func (e envFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want K=V, got %q", s)
	}
	e[k] = v
	return nil
}

func cmdUp(args []string) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	env := envFlags{}
	fs.Var(env, "env", "topology variable K=V (repeatable)")
	// Flags may come before or after FILE.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) != 1 {
		return fmt.Errorf("usage: lab up [--env K=V]... FILE (got %d files)", len(files))
	}
	// The WAN delay bridge runs this very binary unless told otherwise.
	if _, ok := env["MESHLAB"]; !ok && os.Getenv("MESHLAB") == "" {
		if self, err := os.Executable(); err == nil {
			env["MESHLAB"] = self
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	l, err := lab.Up(ctx, files[0], lab.Options{Env: env, UseOSEnv: true, Label: lab.CLILabel,
		Logf: func(f string, a ...any) { slog.Info(fmt.Sprintf(f, a...)) }})
	if err != nil {
		return err
	}
	printLab(os.Stdout, l)
	fmt.Printf("\nlab %s is up. Ctrl-C or `lab down %s` ends it; `lab exec NODE -- CMD` runs commands in it.\n", l.ID(), l.ID())
	// Stay up until a signal, or until someone removed the lab under us.
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return l.Down()
		case <-t.C:
			if _, err := l.Netns(l.Nodes()[0]); err != nil || !labExists(l.ID()) {
				slog.Warn("lab removed from outside", "lab", l.ID())
				return l.Down()
			}
		}
	}
}

func labExists(id string) bool {
	_, err := os.Stat(filepath.Join(lab.StateDir, id))
	return err == nil
}

func printLab(w io.Writer, l *lab.Lab) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "NODE\tNETNS\tADDRESSES\n")
	for _, n := range l.Nodes() {
		ns, _ := l.Netns(n)
		var addrs []string
		_ = l.Do(n, func() error {
			ifs, err := netInterfaces()
			addrs = ifs
			return err
		})
		fmt.Fprintf(tw, "%s\t%s\t%s\n", n, ns, strings.Join(addrs, " "))
	}
	tw.Flush()
}

func cmdDown(args []string) error {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	all := fs.Bool("all", false, "every lab (also those of running tests) and every namespace named "+lab.NetnsPrefix+"*")
	if err := fs.Parse(args); err != nil {
		return err
	}
	labs, err := lab.List()
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, a := range fs.Args() {
		want[a] = true
	}
	var errs []error
	matched := map[string]bool{}
	for _, s := range labs {
		switch {
		case len(want) > 0 && !want[s.ID] && !want[s.Name]:
			continue
		case len(want) == 0 && !*all && s.Label != lab.CLILabel && s.OwnerAlive():
			fmt.Printf("leaving lab %s (%s, owner pid %d): not from `lab up`; name it or use --all\n", s.ID, s.Name, s.Owner)
			continue
		}
		matched[s.ID], matched[s.Name] = true, true
		if err := lab.Stop(s, 10*time.Second); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Printf("lab %s (%s) is down\n", s.ID, s.Name)
	}
	for a := range want {
		if !matched[a] {
			errs = append(errs, fmt.Errorf("no lab %q", a))
		}
	}
	if len(want) == 0 {
		removed, err := lab.Clean(lab.CleanOptions{Dead: true, All: *all})
		if err != nil {
			errs = append(errs, err)
		}
		for _, r := range removed {
			fmt.Printf("removed leftover %s\n", r)
		}
	}
	return errors.Join(errs...)
}

func cmdClean(args []string) error {
	fs := flag.NewFlagSet("clean", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	removed, err := lab.Clean(lab.CleanOptions{Dead: true})
	for _, r := range removed {
		fmt.Printf("removed %s\n", r)
	}
	return err
}

func cmdLs(args []string) error {
	fs := flag.NewFlagSet("ls", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	labs, err := lab.List()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\tNAME\tOWNER\tLABEL\tCREATED\tNODES\tFILE\n")
	for _, s := range labs {
		owner := fmt.Sprint(s.Owner)
		if !s.OwnerAlive() {
			owner += " (dead)"
		}
		label := s.Label
		if label == "" {
			label = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Name, owner, label, s.Created.Local().Format(time.TimeOnly),
			strings.Join(s.NodeNames(), ","), s.File)
	}
	return tw.Flush()
}

func cmdExec(args []string) (int, error) {
	fs := flag.NewFlagSet("exec", flag.ContinueOnError)
	id := fs.String("lab", "", "lab id or name")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	rest := fs.Args()
	if len(rest) >= 2 && rest[1] == "--" {
		rest = append(rest[:1], rest[2:]...)
	}
	if len(rest) < 2 {
		return 2, errors.New("usage: lab exec [--lab LAB] NODE -- CMD [ARG...]")
	}
	l, err := lab.Open(*id)
	if err != nil {
		return 1, err
	}
	cmd, err := l.Command(context.Background(), rest[0], rest[1], rest[2:]...)
	if err != nil {
		return 1, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr.Setpgid = false // stay in the terminal's foreground group
	signal.Ignore(os.Interrupt)     // Ctrl-C is for the command
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}
