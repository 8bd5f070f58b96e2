package meshproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/control/client"
)

// Rendezvous is a running rendezvous.
type Rendezvous struct {
	*Proc
	Addr   string
	WSAddr string // the WebSocket listener (--ws-listen), if any
}

var (
	listenRE = regexp.MustCompile(`msg="rendezvous listening" addr=(\S+)`)
	wsRE     = regexp.MustCompile(`msg="rendezvous listening" .*\bws=(\S+)`)
)

// StartRendezvous starts bin listening on listen ("" = a free loopback port) and
// waits for its "rendezvous listening" line.
func StartRendezvous(ctx context.Context, bin, listen string, tee io.Writer, extra ...string) (*Rendezvous, error) {
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	p, err := Start("rendezvous", tee, bin, append([]string{"--listen", listen}, extra...)...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := p.Out.WaitFor(ctx, listenRE)
	if err != nil {
		p.Kill()
		return nil, fmt.Errorf("rendezvous did not start: %w\n%s", err, p.Out.String())
	}
	r := &Rendezvous{Proc: p, Addr: m[1]}
	if ws := wsRE.FindStringSubmatch(p.Out.String()); ws != nil && ws[1] != "off" {
		r.WSAddr = ws[1]
	}
	return r, nil
}

// NodeOptions describe a node to start.
type NodeOptions struct {
	Name   string
	Group  string   // default "testgroup"
	Secret string   // default a fixed test secret
	Serve  []string // --serve specs
	State  string   // state dir; "" creates a temporary one (removed by Close)
	Extra  []string // more `up` flags
	Tee    io.Writer
}

// Node is a running `meshnode up`.
type Node struct {
	*Proc
	Name, State, Control string
	Ctl                  *client.Client
	tempState            bool
}

// DefaultSecret is the group secret nodes get unless told otherwise.
const DefaultSecret = "correct-horse-battery-staple"

// StartNode starts `bin up` against the rendezvous at rdv and waits until its
// control socket answers.
func StartNode(ctx context.Context, bin, rdv string, o NodeOptions) (*Node, error) {
	if o.Group == "" {
		o.Group = "testgroup"
	}
	if o.Secret == "" {
		o.Secret = DefaultSecret
	}
	n := &Node{Name: o.Name, State: o.State}
	if n.State == "" {
		// Short paths: the control socket lives here (unix sockets allow 107 bytes).
		d, err := os.MkdirTemp("", "mn-")
		if err != nil {
			return nil, err
		}
		n.State, n.tempState = d, true
	}
	if err := os.MkdirAll(n.State, 0o700); err != nil {
		return nil, err
	}
	n.Control = filepath.Join(n.State, "control.sock")
	secretFile := filepath.Join(n.State, "secret")
	if err := os.WriteFile(secretFile, []byte(o.Secret+"\n"), 0o600); err != nil {
		n.removeState()
		return nil, err
	}
	// Nodes of one host never need the gateway's port mapping; without the
	// flag every node would ask the machine's real router.
	args := []string{"--state", n.State, "up", "--group", o.Group, "--rendezvous", rdv,
		"--secret-file", secretFile, "--name", o.Name, "--no-port-mapping"}
	for _, s := range o.Serve {
		args = append(args, "--serve", s)
	}
	args = append(args, o.Extra...)
	p, err := Start(o.Name, o.Tee, bin, args...)
	if err != nil {
		n.removeState()
		return nil, err
	}
	n.Proc = p
	n.Ctl = client.New(n.Control)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := n.Ctl.Status(ctx)
		if err == nil {
			return n, nil
		}
		select {
		case <-p.Done():
			n.removeState()
			return nil, fmt.Errorf("%s exited early (%v):\n%s", o.Name, p.Err(), p.Out.String())
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			n.Close()
			return nil, fmt.Errorf("%s: control socket not ready: %w", o.Name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close kills the node and removes a temporary state dir.
func (n *Node) Close() {
	n.Kill()
	n.removeState()
}

func (n *Node) removeState() {
	if n.tempState {
		os.RemoveAll(n.State)
	}
}

// Map maps target to a free local port and returns the listen address.
func (n *Node) Map(ctx context.Context, target string) (string, error) {
	mi, err := n.Ctl.AddMapping(ctx, api.MappingRequest{Target: target})
	if err != nil {
		return "", fmt.Errorf("%s: map %s: %w", n.Name, target, err)
	}
	return mi.Listen, nil
}

// WaitPeersUp waits until at least want peers have an up link.
func (n *Node) WaitPeersUp(ctx context.Context, want int) error {
	for {
		ps, err := n.Ctl.Peers(ctx)
		up := 0
		for _, p := range ps {
			if p.State == api.LinkStateUp {
				up++
			}
		}
		if err == nil && up >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("not enough peers up")
			}
			return fmt.Errorf("%s: %d of %d peers up: %w", n.Name, up, want, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
