package labbench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/meshnode/meshnode/internal/bench"
	"github.com/meshnode/meshnode/internal/meshproc"
	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/control/client"
	"github.com/meshnode/meshnode/testbed/lab"
)

// The product inside a lab, as the scenario tests run it: the rendezvous (with
// STUN) on the public host rdv, a node per site host.

const (
	rdvPort   = "7749"
	nodeBin   = "/opt/meshnode/bin/meshnode"
	rdvBin    = "/opt/meshnode/bin/rendezvous"
	pathDir   = api.PathDirect
	logLevel  = "info"
	groupName = "labbench"
)

var rdvListening = regexp.MustCompile(`rendezvous listening`)

// startRendezvous starts the rendezvous on rdv and returns its address.
func startRendezvous(ctx context.Context, l *lab.Lab) (string, error) {
	ip, err := l.Addr("rdv", "eth1")
	if err != nil {
		return "", err
	}
	addr := ip.String() + ":" + rdvPort
	// As deployed: a rendezvous on a public address admits only key holders.
	keys, _, err := meshproc.WriteAuthKeys(l.Dir("rdv"), "label=lab")
	if err != nil {
		return "", err
	}
	p, err := l.Start(ctx, "rdv", rdvBin, "--listen", addr, "--auth-keys", keys, "--log-level", logLevel, "--stun", ":3478", "--stun2", ":3479")
	if err != nil {
		return "", err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := p.WaitFor(wctx, rdvListening); err != nil {
		return "", fmt.Errorf("rendezvous: %w", err)
	}
	return addr, nil
}

// nodeSpec is how launchNode starts a node beyond its name.
type nodeSpec struct {
	state string   // state directory ("" = the lab's directory of the node)
	extra []string // more `up` flags
	serve []string // --serve specs
}

// launchNode starts `meshnode up` on node (named after it) without waiting
// and returns the process and the node's control client.
func launchNode(ctx context.Context, l *lab.Lab, node, rdv string, spec nodeSpec) (*lab.Proc, *client.Client, error) {
	dir := spec.state
	if dir == "" {
		dir = l.Dir(node)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("state of %s: %w", node, err)
	}
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("labbench-group-secret\n"), 0o600); err != nil {
		return nil, nil, fmt.Errorf("secret for %s: %w", node, err)
	}
	args := []string{"--state", dir, "up", "--group", groupName, "--rendezvous", rdv, "--secret-file", secret,
		"--auth-key-file", filepath.Join(l.Dir("rdv"), "node1.key"), "--name", node, "--log-level", logLevel}
	for _, s := range spec.serve {
		args = append(args, "--serve", s)
	}
	p, err := l.Start(ctx, node, nodeBin, append(args, spec.extra...)...)
	if err != nil {
		return nil, nil, err
	}
	return p, client.New(filepath.Join(dir, "control.sock")), nil
}

// startNode launches a node and waits until it is on the rendezvous.
func startNode(ctx context.Context, l *lab.Lab, node, rdv string, spec nodeSpec) (*lab.Proc, *client.Client, error) {
	p, ctl, err := launchNode(ctx, l, node, rdv, spec)
	if err != nil {
		return nil, nil, err
	}
	if _, err := waitRendezvous(ctx, ctl, node); err != nil {
		return nil, nil, err
	}
	return p, ctl, nil
}

// waitRendezvous polls a node's control API every 10 ms (at most 20 s) until
// the node is on the rendezvous, and returns when (by the node) it got there.
func waitRendezvous(ctx context.Context, ctl *client.Client, node string) (time.Time, error) {
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		st, err := ctl.Status(wctx)
		if err == nil && st.Rendezvous.Connected {
			return st.Rendezvous.Since, nil
		}
		if err == nil {
			err = fmt.Errorf("not connected to the rendezvous (last error %q)", st.Rendezvous.LastError)
		}
		select {
		case <-wctx.Done():
			return time.Time{}, fmt.Errorf("%s did not come up: %w", node, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// peer returns ctl's link to the peer named name (ok false if it has none).
func peer(ctx context.Context, ctl *client.Client, name string) (api.PeerInfo, bool, error) {
	ps, err := ctl.Peers(ctx)
	if err != nil {
		return api.PeerInfo{}, false, err
	}
	for _, p := range ps {
		if p.Name == name {
			return p, true, nil
		}
	}
	return api.PeerInfo{}, false, nil
}

func isDirect(p api.PeerInfo, ok bool) bool {
	return ok && p.State == api.LinkStateUp && p.Path == pathDir
}

// waitDirect polls ctl every 10 ms until its link to name is up on a direct path.
func waitDirect(ctx context.Context, ctl *client.Client, name string) (api.PeerInfo, error) {
	var last string
	for {
		p, ok, err := peer(ctx, ctl, name)
		if isDirect(p, ok) {
			return p, nil
		}
		last = describe(p, ok, err)
		select {
		case <-ctx.Done():
			return p, fmt.Errorf("no direct path to %s (last: %s): %w", name, last, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func describe(p api.PeerInfo, ok bool, err error) string {
	switch {
	case err != nil:
		return err.Error()
	case !ok:
		return "no such peer yet"
	}
	return fmt.Sprintf("state %s, path %s, ICE tries %d, why %q", p.State, p.Path, p.ICETries, p.Why)
}

// inLab brings up a lab with env and runs section in it, bounded by limit; the
// lab goes down when section returns. A section's error gets the tail of every
// lab process's output.
func (r *Runner) inLab(ctx context.Context, env map[string]string, limit time.Duration, section func(ctx context.Context, l *lab.Lab) error) error {
	l, err := r.Up(ctx, env)
	if err != nil {
		return err
	}
	defer l.Down()
	sctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	return withOutput(ctx, section(sctx, l), l)
}

// withOutput adds the tail of every lab process's output to err, unless the
// run was cancelled (Ctrl-C: the output would only be noise).
func withOutput(run context.Context, err error, l *lab.Lab) error {
	if err == nil || l == nil || run.Err() != nil {
		return err
	}
	var b strings.Builder
	for _, p := range l.Procs() {
		out := strings.Split(strings.TrimRight(p.Output(), "\n"), "\n")
		out = out[max(0, len(out)-15):]
		fmt.Fprintf(&b, "\n---- last output of %s on %s ----\n%s", p.Name, p.Node, strings.Join(out, "\n"))
	}
	return errors.Join(err, errors.New(strings.TrimPrefix(b.String(), "\n")))
}

// pair is the product running in a lab: a sink (serveid 700) and an echo
// (701) in a1, served by a1's node, and b1's node linked to it directly.
type pair struct {
	srv    *bench.Servers
	ctlB   *client.Client
	before api.PeerInfo // b1's link to a1 once direct
}

// startPair starts the servers in a1 (listening on host), the rendezvous and
// both nodes, and waits (at most a minute) for b1's link to a1 to be direct.
// The caller closes p.srv; the lab's teardown ends the processes.
func startPair(ctx context.Context, l *lab.Lab, host string) (p pair, what string, err error) {
	if p.srv, err = startServers(l, "a1", host); err != nil {
		return p, "servers in a1", err
	}
	fail := func(what string, err error) (pair, string, error) {
		p.srv.Close()
		return p, what, err
	}
	rdv, err := startRendezvous(ctx, l)
	if err != nil {
		return fail("rendezvous", err)
	}
	if _, _, err := startNode(ctx, l, "a1", rdv, nodeSpec{serve: []string{"700=127.0.0.1:" + port(p.srv.Sink) + ",name=sink",
		"701=127.0.0.1:" + port(p.srv.Echo) + ",name=echo"}}); err != nil {
		return fail("node a1", err)
	}
	if _, p.ctlB, err = startNode(ctx, l, "b1", rdv, nodeSpec{}); err != nil {
		return fail("node b1", err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if p.before, err = waitDirect(wctx, p.ctlB, "a1"); err != nil {
		return fail("b1 -> a1", err)
	}
	return p, "", nil
}
