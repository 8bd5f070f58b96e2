package portmap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meshnode/meshnode/testbed/lab"
	"github.com/meshnode/meshnode/testbed/labtest"
)

// Lab tests: the client against the real miniupnpd on a lab router of NAT
// kind upnp (symmetric otherwise), so a packet from the internet reaches the
// host only through the mapping.

// labBin holds meshlab (the upnp router's daemon), built by TestMain as root.
var labBin string

func TestMain(m *testing.M) {
	dir := ""
	if labtest.IsRoot() {
		var err error
		if dir, err = os.MkdirTemp("", "portmap-bin"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if _, err := labtest.Build(dir, map[string]string{"meshlab": "github.com/meshnode/meshnode/testbed/cmd/lab"}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
		labBin = dir
	}
	code := labtest.Main(m)
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

var (
	labGateway = netip.MustParseAddr("10.22.0.1")
	labHost    = netip.MustParseAddr("10.22.0.2")
	labPublic  = netip.MustParseAddr("198.18.12.2")
)

// upnpLab brings up the two-sites lab with site B behind the miniupnpd router.
func upnpLab(t *testing.T) *lab.Lab {
	t.Helper()
	return labtest.Up(t, filepath.Join("..", "..", "testbed", "two-sites.clab.yml"),
		labtest.Merge(labtest.BinEnv(labBin), map[string]string{"SITE_A_NAT": "portrestricted", "SITE_B_NAT": "upnp"}))
}

// labClient is a Client working inside node b1 (gateway found from b1's
// routing table).
func labClient(t *testing.T, l *lab.Lab, protos ...Protocol) *Client {
	t.Helper()
	c, err := New(Config{
		Protocols:    protos,
		Logger:       testLogger(t),
		ListenPacket: func(network, addr string) (net.PacketConn, error) { return l.ListenPacket("b1", network, addr) },
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return l.Dial(ctx, "b1", network, addr)
		},
		Routes: func() (b []byte, err error) {
			err = l.Do("b1", func() error { b, err = os.ReadFile("/proc/thread-self/net/route"); return err })
			return b, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// reaches sends from rdv (the internet) to dst and reports whether conn got it.
func reaches(t *testing.T, l *lab.Lab, conn net.PacketConn, dst netip.AddrPort) bool {
	t.Helper()
	src, err := l.ListenPacket("rdv", "udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	msg := []byte(fmt.Sprintf("probe %d", time.Now().UnixNano()))
	buf := make([]byte, 256)
	for range 3 {
		if _, err := src.WriteTo(msg, net.UDPAddrFromAddrPort(dst)); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				break
			}
			if bytes.Equal(buf[:n], msg) {
				return true
			}
		}
	}
	return false
}

func TestLabProbe(t *testing.T) {
	labtest.RequireRoot(t)
	t.Parallel()
	l := upnpLab(t)
	c := labClient(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.Probe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", st)
	if !st.PCP || !st.NATPMP || !st.UPnP || st.Protocol != PCP || st.External != labPublic ||
		st.Gateway != labGateway || st.Local != labHost {
		t.Errorf("probe %+v: want all three protocols, PCP first, external %v, gateway %v, local %v", st, labPublic, labGateway, labHost)
	}
}

// TestLabMap: each protocol maps a socket's port; the internet reaches the
// socket through the mapping (and not before it, nor after Close).
func TestLabMap(t *testing.T) {
	labtest.RequireRoot(t)
	t.Parallel()
	l := upnpLab(t)
	for _, p := range DefaultProtocols {
		t.Run(string(p), func(t *testing.T) {
			c := labClient(t, l, p)
			conn, err := l.ListenPacket("b1", "udp4", netip.AddrPortFrom(labHost, 0).String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
			if reaches(t, l, conn, netip.AddrPortFrom(labPublic, local.Port())) {
				t.Fatal("the internet reaches the host before any mapping: is the router symmetric?")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			m, err := c.Map(ctx, local)
			if err != nil {
				t.Fatal(err)
			}
			ext := m.External()
			t.Logf("%s: %v -> %v, lifetime %v", m.Protocol(), ext, m.Internal(), m.Lifetime())
			if m.Protocol() != string(p) || ext.Addr() != labPublic || m.Internal() != local || m.Lifetime() <= 0 {
				t.Errorf("mapping %s %v -> %v lifetime %v: want %s from %v to %v", m.Protocol(), ext, m.Internal(), m.Lifetime(), p, labPublic, local)
			}
			if st := c.Status(); len(st.Mappings) != 1 || st.Mappings[0].External != ext {
				t.Errorf("status lists %+v, want the one mapping", st.Mappings)
			}
			if !reaches(t, l, conn, ext) {
				t.Fatalf("a packet to the mapped %v did not arrive", ext)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if len(c.Status().Mappings) != 0 {
				t.Error("status lists a closed mapping")
			}
			if reaches(t, l, conn, ext) {
				t.Errorf("the mapping %v still forwards after Close", ext)
			}
		})
	}
}

// TestLabRenew: a mapping with a lifetime shorter than the wait still
// forwards afterwards: it was renewed.
func TestLabRenew(t *testing.T) {
	labtest.RequireRoot(t)
	t.Parallel()
	l := upnpLab(t)
	c := labClient(t, l, NATPMP) // miniupnpd clamps PCP lifetimes to >= 120 s, NAT-PMP's not
	c.cfg.Lifetime = 2 * time.Second
	c.minRenew = 0
	conn, err := l.ListenPacket("b1", "udp4", netip.AddrPortFrom(labHost, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := c.Map(ctx, conn.LocalAddr().(*net.UDPAddr).AddrPort())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Lifetime() != 2*time.Second {
		t.Fatalf("granted %v, want the 2s asked for", m.Lifetime())
	}
	first := m.Info().ExpiresIn
	time.Sleep(5 * time.Second) // renewed every second; without that it expired 3 s ago
	if !reaches(t, l, conn, m.External()) {
		t.Fatalf("mapping %v expired: not renewed", m.External())
	}
	if ei := m.Info().ExpiresIn; ei <= 0 {
		t.Errorf("expires in %v after renewal (was %v)", ei, first)
	}
}

func TestLabNotLocal(t *testing.T) {
	labtest.RequireRoot(t)
	t.Parallel()
	l := upnpLab(t)
	c := labClient(t, l)
	_, err := c.Map(context.Background(), netip.MustParseAddrPort("127.0.0.1:4000"))
	if !errors.Is(err, ErrNotLocal) {
		t.Fatalf("mapping a loopback socket: %v, want ErrNotLocal", err)
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}
