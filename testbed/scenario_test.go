package testbed

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/meshnode/meshnode/internal/meshproc"
	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/control/client"
	"github.com/meshnode/meshnode/testbed/lab"
	"github.com/meshnode/meshnode/testbed/labtest"
)

// Scenario tests: the real rendezvous and meshnode binaries inside a lab, data
// through `meshnode map`, the path asserted. The rendezvous runs on the public
// host rdv; node a1 (site A) serves an echo as serveid 700; node b1 (site B)
// maps it.

const rdvPort = "7749"

// mesh is a running product inside a lab.
type mesh struct {
	l        *lab.Lab
	rdv      string
	ctlA     *client.Client
	ctlB     *client.Client
	echoAddr string
	procs    []*lab.Proc // a1's and b1's meshnode
}

// startMesh starts the rendezvous, an echo service in a1, and the two nodes.
func startMesh(ctx context.Context, t *testing.T, l *lab.Lab) (*mesh, error) {
	return startMeshWith(ctx, t, l, nil)
}

// startMeshWith is startMesh with extra `meshnode up` arguments per node.
func startMeshWith(ctx context.Context, t *testing.T, l *lab.Lab, extra map[string][]string) (*mesh, error) {
	m := &mesh{l: l, rdv: labtest.Addr(t, l, "rdv", "eth1").String() + ":" + rdvPort}
	keys, nodeKeys, err := meshproc.WriteAuthKeys(l.Dir("rdv"), "label=a1", "label=b1")
	if err != nil {
		return nil, err
	}
	r, err := l.Start(ctx, "rdv", "/opt/meshnode/bin/rendezvous", "--listen", m.rdv, "--auth-keys", keys, "--log-level", "debug",
		"--stun", ":3478", "--stun2", ":3479")
	if err != nil {
		return nil, err
	}
	if _, err := r.WaitFor(ctx, regexp.MustCompile(`rendezvous listening`)); err != nil {
		return nil, fmt.Errorf("rendezvous: %w", err)
	}
	ln, err := l.Listen("a1", "tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { ln.Close() })
	go echoServe(ln)
	m.echoAddr = ln.Addr().String()
	for i, node := range []string{"a1", "b1"} {
		dir := l.Dir(node)
		secret := filepath.Join(dir, "secret")
		if err := os.WriteFile(secret, []byte("lab-group-secret-0123\n"), 0o600); err != nil {
			return nil, err
		}
		args := []string{"--state", dir, "up", "--group", "lab", "--rendezvous", m.rdv, "--secret-file", secret,
			"--auth-key-file", nodeKeys[i], "--name", node, "--log-level", "debug"}
		if node == "a1" {
			args = append(args, "--serve", "700="+m.echoAddr+",name=echo")
		}
		args = append(args, extra[node]...)
		p, err := l.Start(ctx, node, "/opt/meshnode/bin/meshnode", args...)
		if err != nil {
			return nil, err
		}
		m.procs = append(m.procs, p)
	}
	m.ctlA = client.New(filepath.Join(l.Dir("a1"), "control.sock"))
	m.ctlB = client.New(filepath.Join(l.Dir("b1"), "control.sock"))
	return m, nil
}

func echoServe(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() { defer c.Close(); io.Copy(c, c) }()
	}
}

// peerOfB waits until b1's link to a1 is up and returns it.
func (m *mesh) peerOfB(ctx context.Context) (api.PeerInfo, error) {
	return m.peerOf(ctx, m.ctlB, "a1")
}

// peerOf waits until the link of ctl's node to peer is up and returns it.
func (m *mesh) peerOf(ctx context.Context, ctl *client.Client, peer string) (api.PeerInfo, error) {
	var last error
	for {
		ps, err := ctl.Peers(ctx)
		if err == nil {
			for _, p := range ps {
				if p.Name == peer && p.State == api.LinkStateUp {
					return p, nil
				}
			}
			err = fmt.Errorf("peers: %+v", ps)
		}
		last = err
		select {
		case <-ctx.Done():
			return api.PeerInfo{}, fmt.Errorf("no link to %s: %v", peer, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// transfer maps serveid 700 on b1 and echoes n random bytes through it from
// inside b1's namespace; it returns an error unless they come back intact.
func (m *mesh) transfer(ctx context.Context, n int) error {
	mi, err := m.ctlB.AddMapping(ctx, api.MappingRequest{Target: "700"})
	if err != nil {
		return fmt.Errorf("map 700: %w", err)
	}
	c, err := m.l.Dial(ctx, "b1", "tcp4", mi.Listen)
	if err != nil {
		return err
	}
	defer c.Close()
	if d, ok := ctx.Deadline(); ok {
		c.SetDeadline(d)
	}
	data := make([]byte, n)
	rand.NewChaCha8([32]byte{1}).Read(data)
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(c)
	if e := <-werr; e != nil {
		return fmt.Errorf("write: %w", e)
	}
	if err != nil {
		return fmt.Errorf("read after %d of %d bytes: %w", len(got), n, err)
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("echoed %d bytes differ from the %d sent (sha256 %x vs %x)", len(got), n, sha256.Sum256(got), sha256.Sum256(data))
	}
	return nil
}

// directPath waits up to limit for b1's link to a1 to go direct; after that
// it returns the link as it is.
func (m *mesh) directPath(ctx context.Context, limit time.Duration) (api.PeerInfo, error) {
	deadline := time.Now().Add(limit)
	for {
		p, err := m.peerOfB(ctx)
		if err != nil || p.Path == pathDirect || time.Now().After(deadline) {
			return p, err
		}
		select {
		case <-ctx.Done():
			return p, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// settledPath waits until b1's link to a1 has settled: on a direct path, or on
// the relay after at least one ICE attempt ended (so "relay" is a verdict, not
// a link that has not tried yet).
func (m *mesh) settledPath(ctx context.Context) (api.PeerInfo, error) {
	for {
		p, err := m.peerOfB(ctx)
		if err != nil {
			return p, err
		}
		if p.Path == pathDirect || p.ICETries > 0 {
			return p, nil
		}
		select {
		case <-ctx.Done():
			return p, fmt.Errorf("b1's link to a1 never settled: %+v", p)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// productCell runs one matrix cell: the product between a1 behind NAT kind a
// and b1 behind kind b settles on the expected path and moves data intact.
func productCell(t *testing.T, c matrixCell) error {
	l := up(t, map[string]string{"SITE_A_NAT": c.a, "SITE_B_NAT": c.b})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	started := time.Now()
	m, err := startMesh(ctx, t, l)
	if err != nil {
		return err
	}
	var p api.PeerInfo
	if c.path == pathDirect {
		// Hard-NAT methods run after a plain attempt failed: give them the
		// issue's 20 s (and some slack for a loaded machine).
		p, err = m.directPath(ctx, 30*time.Second)
	} else {
		p, err = m.settledPath(ctx)
	}
	if err != nil {
		return err
	}
	settled := time.Since(started)
	if p.Path != c.path {
		return fmt.Errorf("%s: path %s, want %s (why: %s)", c.name(), p.Path, c.path, p.Why)
	}
	if err := m.transfer(ctx, 2<<20); err != nil {
		return fmt.Errorf("%s: %w", c.name(), err)
	}
	if p, err = m.peerOfB(ctx); err != nil {
		return err
	}
	if p.Path != c.path {
		return fmt.Errorf("%s: path %s after the transfer, want %s (why: %s)", c.name(), p.Path, c.path, p.Why)
	}
	t.Logf("%s: %s %v after the nodes started; endpoint %q, method %q, why %q", c.name(), p.Path, settled.Round(time.Millisecond), p.Endpoint, p.Method, p.Why)
	if c.path == pathDirect && c.method != methodICE {
		// The method shows on at least one side (the side whose candidate
		// it made is sure of it).
		pa, err := m.peerOf(ctx, m.ctlA, "b1")
		if err != nil {
			return err
		}
		if p.Method != c.method && pa.Method != c.method {
			return fmt.Errorf("%s: direct, but found by %q (b1) and %q (a1), want %q", c.name(), p.Method, pa.Method, c.method)
		}
	}
	return nil
}

// TestProductMatrix: every NAT pair moves data intact through a mapping, on the
// path the table expects.
func TestProductMatrix(t *testing.T) {
	labtest.RequireRoot(t)
	t.Parallel()
	tally := runMatrix(t, natMatrix, 4, productCell)
	t.Logf("product matrix: %s", tally.summary())
}

// TestProductLossyWAN: with 40 ms RTT and 3% loss on site A's uplink (each way),
// a mapping still moves data intact.
func TestProductLossyWAN(t *testing.T) {
	labtest.RequireRoot(t)
	t.Parallel()
	l := up(t, map[string]string{"SITE_A_NAT": "portrestricted", "SITE_B_NAT": "symmetric",
		"SITE_A_DELAY_MS": "20", "SITE_A_LOSS_PCT": "3"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, err := startMesh(ctx, t, l)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.peerOfB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.transfer(ctx, 4<<20); err != nil {
		t.Fatal(err)
	}
	p, _ = m.peerOfB(ctx)
	t.Logf("4 MiB intact over 40 ms RTT / 3%% loss; link rtt %d ms, path %s", p.RTTMillis, p.Path)
	if p.RTTMillis < 40 {
		t.Errorf("link RTT %d ms under a 40 ms emulated RTT: is the WAN emulator on?", p.RTTMillis)
	}
}
