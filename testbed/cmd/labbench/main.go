// Command labbench measures meshnode inside the NAT lab and prints markdown
// rows (the lab part of `just bench`): time from both nodes up to a direct
// path behind NATs, a mapping vs plain TCP over a lossy emulated WAN (also
// with a CPU hog beside the nodes), direct vs relay on the same nodes, and a
// fresh node's first connection over a WAN.
// Needs root (network namespaces); every lab it brings up is torn down, also
// on Ctrl-C.
//
//	go run ./testbed/cmd/labbench --bin ./bin [--quick] [--out FILE] [--only ttd,wan,hog,paths,cold,matrix]
//	    [--matrix-reps N] [--matrix-pairs KIND-KIND,...]
//
// --bin holds meshnode, rendezvous and meshlab (`just build` and
// `go build -o bin/meshlab ./testbed/cmd/lab`; `just lab-bench` does both).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/meshnode/meshnode/testbed/lab"
	"github.com/meshnode/meshnode/testbed/labbench"
)

func main() {
	bin := flag.String("bin", "./bin", "directory with the meshnode, rendezvous and meshlab binaries")
	quick := flag.Bool("quick", false, "a fast smoke run (one repetition, small sizes)")
	out := flag.String("out", "", "also append the rows to this file (\"\" = don't)")
	topo := flag.String("topo", "testbed/two-sites.clab.yml", "the two-sites topology file")
	only := flag.String("only", "", "comma-separated sections to run, of "+strings.Join(labbench.Sections, ",")+" (\"\" = all)")
	matrixReps := flag.Int("matrix-reps", 0, "runs per NAT pair in the matrix section (default 10, --quick 1)")
	matrixPairs := flag.String("matrix-pairs", "", "only these NAT pairs in the matrix section, e.g. portrestricted-symmetric,portrestricted-symseq (\"\" = all)")
	flag.Parse()
	sections, err := parseSections(*only)
	if err != nil {
		fmt.Fprintln(os.Stderr, "labbench: --only:", err)
		os.Exit(2)
	}
	pairs, err := parsePairs(*matrixPairs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "labbench: --matrix-pairs:", err)
		os.Exit(2)
	}
	if *matrixReps < 0 || *matrixReps > 100 {
		fmt.Fprintf(os.Stderr, "labbench: --matrix-reps %d: want 1..100\n", *matrixReps)
		os.Exit(2)
	}
	tune := func(p *labbench.Params) {
		if *matrixReps > 0 {
			p.MatrixReps = *matrixReps
		}
		p.MatrixPairs = pairs
	}
	if err := run(*bin, *topo, *out, *quick, sections, tune); err != nil {
		fmt.Fprintln(os.Stderr, "labbench:", err)
		os.Exit(1)
	}
}

// parseSections checks a --only list against labbench.Sections.
func parseSections(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(labbench.Sections, name) {
			return nil, fmt.Errorf("unknown section %q (sections: %s)", name, strings.Join(labbench.Sections, ", "))
		}
		out = append(out, name)
	}
	return out, nil
}

// parsePairs reads "a-b,c-d" (NAT kinds of labbench.MatrixKinds, a before b
// in that order).
func parsePairs(s string) ([][2]string, error) {
	if s == "" {
		return nil, nil
	}
	var out [][2]string
	for _, pr := range strings.Split(s, ",") {
		a, b, ok := strings.Cut(strings.TrimSpace(pr), "-")
		ia, ib := slices.Index(labbench.MatrixKinds, a), slices.Index(labbench.MatrixKinds, b)
		if !ok || ia < 0 || ib < 0 {
			return nil, fmt.Errorf("%q: want KIND-KIND of %s", pr, strings.Join(labbench.MatrixKinds, ", "))
		}
		if ia > ib {
			a, b = b, a
		}
		out = append(out, [2]string{a, b})
	}
	return out, nil
}

func run(bin, topo, out string, quick bool, sections []string, tune func(*labbench.Params)) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces, veth, nftables): run it as root")
	}
	env, err := binEnv(bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(topo); err != nil {
		return fmt.Errorf("topology: %w (run from the repository root or pass --topo)", err)
	}
	// Ctrl-C cancels the run; deferred Downs remove the labs. A second one
	// kills at once (the labs' reapers remove them within a second).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	context.AfterFunc(ctx, stop)
	defer func() {
		if removed, err := lab.Clean(lab.CleanOptions{Owner: os.Getpid()}); len(removed) > 0 || err != nil {
			fmt.Fprintf(os.Stderr, "labbench: removed labs left behind %v (err: %v)\n", removed, err)
		}
	}()

	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
	r := &labbench.Runner{Logf: logf, Up: func(ctx context.Context, vars map[string]string) (*lab.Lab, error) {
		all := maps.Clone(env)
		maps.Copy(all, vars)
		uctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return lab.Up(uctx, topo, lab.Options{Env: all, Label: "labbench", Logf: logf})
	}}
	p := labbench.Full()
	if quick {
		p = labbench.Quick()
	}
	p.Only = sections
	tune(&p)
	rep, err := r.Run(ctx, p)
	md := rep.Markdown()
	fmt.Print(md)
	if out != "" {
		if werr := appendFile(out, md); werr != nil {
			err = errors.Join(err, werr)
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", errors.Join(err, ctx.Err()))
	}
	return err
}

// binEnv points the topology at the binaries in dir (absolute: the topology
// resolves relative binds against its own directory).
func binEnv(dir string) (map[string]string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("--bin: %w", err)
	}
	for _, name := range []string{"meshnode", "rendezvous", "meshlab"} {
		if _, err := os.Stat(filepath.Join(abs, name)); err != nil {
			return nil, fmt.Errorf("--bin %s: %w (`just build` makes meshnode and rendezvous, `go build -o %s/meshlab ./testbed/cmd/lab` the WAN bridge)", dir, err, dir)
		}
	}
	return map[string]string{"MESHNODE_BIN": abs, "MESHLAB": filepath.Join(abs, "meshlab")}, nil
}

func appendFile(path, s string) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return fmt.Errorf("--out: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}
