package testbed

import (
	"context"
	"testing"
	"time"

	"github.com/meshnode/meshnode/testbed/labtest"
)

// TestHardNATStreamSurvives: a paced stream that starts on the relay keeps
// running, intact and in order, while the link moves to a path found by a
// hard-NAT method: birthday punching (port-restricted <-> random symmetric)
// and port prediction (port-restricted <-> sequential symmetric).
func TestHardNATStreamSurvives(t *testing.T) {
	labtest.RequireRoot(t)
	t.Parallel()
	for _, c := range []struct{ b, method string }{{"symmetric", methodBirthday}, {"symseq", methodPredict}} {
		t.Run(c.method, func(t *testing.T) {
			t.Parallel()
			l := up(t, map[string]string{"SITE_A_NAT": "portrestricted", "SITE_B_NAT": c.b})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			m, err := startMesh(ctx, t, l)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.peerOfB(ctx); err != nil {
				t.Fatal(err)
			}
			pe := m.watchPaths(ctx, t)
			s, err := m.startStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if p, err := m.peerOfB(ctx); err != nil || p.Path != pathRelay {
				t.Fatalf("the stream did not start on the relay: %+v %v", p, err)
			}
			wctx, wcancel := context.WithTimeout(ctx, 40*time.Second)
			took, err := pe.wait(wctx, pathDirect)
			wcancel()
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Second) // data on the new path
			n, err := s.finish()
			if err != nil {
				t.Fatal(err)
			}
			pb, _ := m.peerOfB(ctx)
			pa, _ := m.peerOf(ctx, m.ctlA, "b1")
			t.Logf("%d KiB intact across relay -> direct (%v after the stream started); b1: %s via %s by %q; a1: by %q",
				n>>10, took.Round(time.Millisecond), pb.Path, pb.Endpoint, pb.Method, pa.Method)
			if pb.Path != pathDirect || (pb.Method != c.method && pa.Method != c.method) {
				t.Errorf("path %s by %q/%q, want direct by %s", pb.Path, pb.Method, pa.Method, c.method)
			}
			st, err := m.ctlA.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if hc := st.HardNAT[c.method]; hc.Attempts == 0 || hc.Direct == 0 {
				t.Errorf("a1's status counts %+v for %s, want an attempt that went direct", st.HardNAT, c.method)
			}
		})
	}
}

// TestProductNoHardNAT: with --no-hard-nat on the easy side, port-restricted
// <-> random symmetric stays relayed past the time birthday punching needs,
// and nothing is attempted.
func TestProductNoHardNAT(t *testing.T) {
	labtest.RequireRoot(t)
	t.Parallel()
	l := up(t, map[string]string{"SITE_A_NAT": "portrestricted", "SITE_B_NAT": "symmetric"})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	m, err := startMeshWith(ctx, t, l, map[string][]string{"a1": {"--no-hard-nat"}})
	if err != nil {
		t.Fatal(err)
	}
	// With birthday punching this pair is direct after ~10-15 s.
	p, err := m.directPath(ctx, 25*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if p.Path != pathRelay {
		t.Fatalf("path %s (%s, by %q) with --no-hard-nat, want relay", p.Path, p.Endpoint, p.Method)
	}
	st, err := m.ctlA.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.HardNAT) != 0 {
		t.Errorf("a1 ran hard-NAT attempts with --no-hard-nat: %+v", st.HardNAT)
	}
	t.Logf("relayed: %s", p.Why)
}
