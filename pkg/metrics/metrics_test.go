package metrics

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/meshnode/meshnode/internal/promtest"
	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/overlay"
	"github.com/meshnode/meshnode/pkg/relay"
	"github.com/meshnode/meshnode/pkg/stunsrv"
)

// In-process nodes over a real relay server on loopback TCP, scraped over real
// HTTP and parsed with Prometheus' own text parser.

const (
	testGroup  = "metricsgroupname"
	testSecret = "metrics-test-secret-do-not-leak"
)

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

func startRelay(t *testing.T) (string, *relay.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := relay.NewServer(relay.ServerConfig{Logger: testLogger(t)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String(), srv
}

func runNode(t *testing.T, rdv, name string, services ...overlay.Service) *overlay.Node {
	t.Helper()
	return runNodeWith(t, overlay.Config{Rendezvous: rdv, Name: name, Services: services, RelayOnly: true})
}

// runNodeWith runs a node of the test group with cfg (a new key, the test logger).
func runNodeWith(t *testing.T, cfg overlay.Config) *overlay.Node {
	t.Helper()
	key, err := identity.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Group, cfg.Secret, cfg.Key, cfg.Logger = testGroup, testSecret, key, testLogger(t).With("node", cfg.Name)
	n, err := overlay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

func echoListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

// echo sends n bytes through addr and reads them back.
func echo(t *testing.T, addr string, n int) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	msg := bytes.Repeat([]byte("m"), n)
	go func() { c.Write(msg); c.(*net.TCPConn).CloseWrite() }()
	got, err := io.ReadAll(c)
	if err != nil || len(got) != n {
		t.Fatalf("echo through %s: got %d of %d bytes, %v", addr, len(got), n, err)
	}
}

func waitFor(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scrape GETs url and returns the body and its metric families (parsed by
// Prometheus' text parser).
func scrape(t *testing.T, url string) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v\n%s", url, resp.StatusCode, err, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET %s: content type %q, want the text format", url, ct)
	}
	fams, err := promtest.Parse(body)
	if err != nil {
		t.Fatalf("parse %s: %v\n%s", url, err, body)
	}
	return string(body), fams
}

// value returns the value of the series of family name whose labels include
// want (name=value pairs), and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	return promtest.Value(fams, name, want...)
}

func atLeast(fams map[string]*dto.MetricFamily, min float64, name string, labels ...string) error {
	v, ok := value(fams, name, labels...)
	if !ok {
		return fmt.Errorf("no series %s%v", name, labels)
	}
	if v < min {
		return fmt.Errorf("%s%v = %v, want >= %v", name, labels, v, min)
	}
	return nil
}

// TestScrapeCountersMove: two nodes linked through a real rendezvous, a
// mapping carrying 200 KB: the node's mapping and peer counters and the
// rendezvous' relayed bytes move, and no label holds a secret or a name.
func TestScrapeCountersMove(t *testing.T) {
	rdv, rsrv := startRelay(t)
	svc := echoListener(t)
	server := runNode(t, rdv, "servernodename", overlay.Service{ID: 700, Name: "echoservicename", Target: svc})
	client := runNode(t, rdv, "clientnodename")

	nodeHTTP := httptest.NewServer(Mux(Handler(NewNodeRegistry(client, NodeOptions{}), testLogger(t))))
	defer nodeHTTP.Close()
	stun := stunsrv.New(stunsrv.Config{})
	rdvHTTP := httptest.NewServer(Mux(Handler(NewRendezvousRegistry(RendezvousSource{Relay: rsrv, STUN: stun}), testLogger(t))))
	defer rdvHTTP.Close()

	_, fams := scrape(t, rdvHTTP.URL+Path)
	if err := atLeast(fams, 2, "rendezvous_nodes"); err != nil {
		waitFor(t, "both nodes at the rendezvous", func() error {
			_, fams = scrape(t, rdvHTTP.URL+Path)
			return atLeast(fams, 2, "rendezvous_nodes")
		})
	}
	relayedBefore, _ := value(fams, "rendezvous_relayed_bytes_total")

	var mi api.MappingInfo
	waitFor(t, "mapping to the server's service", func() error {
		var err error
		mi, err = client.AddMapping(context.Background(), api.MappingRequest{Target: "700"})
		return err
	})
	port := fmt.Sprint(mi.Port)
	const size = 200 << 10
	echo(t, mi.Listen, size)

	body, fams := scrape(t, nodeHTTP.URL+Path)
	// The echo finished: both directions' bytes went through the mapping.
	if err := atLeast(fams, size, "meshnode_mapping_sent_bytes_total", "port", port, "proto", "tcp"); err != nil {
		t.Error(err)
	}
	if err := atLeast(fams, size, "meshnode_mapping_received_bytes_total", "port", port, "proto", "tcp"); err != nil {
		t.Error(err)
	}
	if err := atLeast(fams, 1, "meshnode_mapping_connections_total", "port", port, "proto", "tcp"); err != nil {
		t.Error(err)
	}
	peer := server.ID().Short()
	if err := atLeast(fams, size, "meshnode_peer_sent_bytes_total", "peer", peer); err != nil {
		t.Error(err)
	}
	if err := atLeast(fams, size, "meshnode_peer_received_bytes_total", "peer", peer); err != nil {
		t.Error(err)
	}
	if v, ok := value(fams, "meshnode_peer_direct", "peer", peer); !ok || v != 0 {
		t.Errorf("meshnode_peer_direct{peer=%s} = %v, %v; want 0 (relay-only)", peer, v, ok)
	}
	if err := atLeast(fams, 1, "meshnode_handshakes_ok_total"); err != nil {
		t.Error(err)
	}
	if err := atLeast(fams, size, "meshnode_relay_sent_bytes_total"); err != nil {
		t.Error(err)
	}
	if err := atLeast(fams, 1, "meshnode_rendezvous_connected"); err != nil {
		t.Error(err)
	}
	checkHygiene(t, body, server.ID(), client.ID())

	// The serving node counts the same connection on its service.
	serverHTTP := httptest.NewServer(Mux(NodeHandler(server, testLogger(t), NodeOptions{})))
	defer serverHTTP.Close()
	sbody, sfams := scrape(t, serverHTTP.URL+Path)
	for _, name := range []string{"meshnode_service_received_bytes_total", "meshnode_service_sent_bytes_total"} {
		if err := atLeast(sfams, size, name, "serveid", "700", "proto", "tcp"); err != nil {
			t.Error(err)
		}
	}
	if err := atLeast(sfams, 1, "meshnode_service_connections_total", "serveid", "700"); err != nil {
		t.Error(err)
	}
	if v, _ := value(sfams, "meshnode_service_target_errors_total", "serveid", "700"); v != 0 {
		t.Errorf("meshnode_service_target_errors_total = %v, want 0", v)
	}
	checkHygiene(t, sbody, server.ID(), client.ID())

	rbody, fams := scrape(t, rdvHTTP.URL+Path)
	// Both directions of 200 KB crossed the relay (plus KCP's overhead).
	if err := atLeast(fams, relayedBefore+2*size, "rendezvous_relayed_bytes_total"); err != nil {
		t.Error(err)
	}
	if err := atLeast(fams, 1, "rendezvous_relayed_frames_total"); err != nil {
		t.Error(err)
	}
	if err := atLeast(fams, 1, "rendezvous_groups"); err != nil {
		t.Error(err)
	}
	checkHygiene(t, rbody, server.ID(), client.ID())
	for _, k := range []identity.PublicKey{server.ID(), client.ID()} {
		if strings.Contains(rbody, k.Short()) {
			t.Errorf("the rendezvous' metrics name node %s", k.Short())
		}
	}
}

// TestScrapeDirectPath: when ICE finds a direct path (host candidates on
// loopback), the peer's path gauge, the path change and the hole punch's
// outcome and method show.
func TestScrapeDirectPath(t *testing.T) {
	rdv, _ := startRelay(t)
	a := runNodeWith(t, overlay.Config{Rendezvous: rdv, Name: "a", ICEInterfaces: []string{"lo"}})
	b := runNodeWith(t, overlay.Config{Rendezvous: rdv, Name: "b", ICEInterfaces: []string{"lo"}})
	srv := httptest.NewServer(Mux(Handler(NewNodeRegistry(a, NodeOptions{}), nil)))
	defer srv.Close()
	peer := b.ID().Short()
	var fams map[string]*dto.MetricFamily
	waitFor(t, "a direct path to b", func() error {
		_, fams = scrape(t, srv.URL+Path)
		if v, ok := value(fams, "meshnode_peer_direct", "peer", peer); !ok || v != 1 {
			return fmt.Errorf("meshnode_peer_direct{peer=%s} = %v, %v", peer, v, ok)
		}
		return nil
	})
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"meshnode_path_changes_total", []string{"to", "direct", "reason", "ice_connected"}},
		{"meshnode_holepunch_attempts_total", []string{"outcome", "connected"}},
		{"meshnode_holepunch_connected_total", []string{"local_type", "host", "remote_type", "host"}},
		{"meshnode_peers", []string{"path", "direct"}},
	} {
		if err := atLeast(fams, 1, c.name, c.labels...); err != nil {
			t.Error(err)
		}
	} // Hard-NAT series exist from the start, at zero here (plain ICE worked).
	for _, method := range []string{"predict", "lockstep", "birthday"} {
		if v, ok := value(fams, "meshnode_hardnat_total", "method", method, "result", "attempt"); !ok || v != 0 {
			t.Errorf("meshnode_hardnat_total{method=%s,result=attempt} = %v, %v; want 0", method, v, ok)
		}
	}
}

// checkHygiene fails when the scrape holds the group name or secret, a node
// or service name, or a full node key.
func checkHygiene(t *testing.T, body string, keys ...identity.PublicKey) {
	t.Helper()
	for _, s := range []string{testGroup, testSecret, "servernodename", "clientnodename", "echoservicename"} {
		if strings.Contains(body, s) {
			t.Errorf("the scrape contains %q", s)
		}
	}
	for _, k := range keys {
		if strings.Contains(body, k.String()) {
			t.Errorf("the scrape contains the full node key %s", k.Short())
		}
	}
}

// TestPeerSeriesCapped: past MaxPeerSeries, peers get no series of their own
// and are counted as omitted; a peer that is gone has no series, nor has a
// link that never authenticated.
func TestPeerSeriesCapped(t *testing.T) {
	var keys []identity.PublicKey
	for range 5 {
		k, err := identity.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.Public())
	}
	src := &fakeSource{}
	for _, k := range keys {
		src.m.Peers = append(src.m.Peers, overlay.PeerMetrics{ID: k, Authenticated: true, BytesIn: 1})
	}
	stranger, err := identity.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	src.m.Peers = append([]overlay.PeerMetrics{{ID: stranger.Public(), BytesIn: 1}}, src.m.Peers...)
	srv := httptest.NewServer(Mux(Handler(NewNodeRegistry(src, NodeOptions{MaxPeerSeries: 3}), nil)))
	defer srv.Close()
	_, fams := scrape(t, srv.URL+Path)
	if n := len(fams["meshnode_peer_received_bytes_total"].GetMetric()); n != 3 {
		t.Errorf("%d peers with series, want 3 (the cap)", n)
	}
	if v, _ := value(fams, "meshnode_peer_series_omitted"); v != 2 {
		t.Errorf("meshnode_peer_series_omitted = %v, want 2", v)
	}
	if _, ok := value(fams, "meshnode_peer_received_bytes_total", "peer", stranger.Public().Short()); ok {
		t.Error("a link that never authenticated has series")
	}
	if v, _ := value(fams, "meshnode_unauthenticated_links"); v != 1 {
		t.Errorf("meshnode_unauthenticated_links = %v, want 1", v)
	}
	src.m.Peers = src.m.Peers[1:2] // the others' links closed
	_, fams = scrape(t, srv.URL+Path)
	if n := len(fams["meshnode_peer_received_bytes_total"].GetMetric()); n != 1 {
		t.Errorf("%d peers with series after 4 left, want 1", n)
	}
	if v, _ := value(fams, "meshnode_peer_series_omitted"); v != 0 {
		t.Errorf("meshnode_peer_series_omitted = %v, want 0", v)
	}
}

type fakeSource struct{ m overlay.Metrics }

func (f *fakeSource) Metrics() overlay.Metrics { return f.m }

func TestListenAddr(t *testing.T) {
	for _, c := range []struct {
		in, want string
		loopback bool
		err      string
	}{
		{"9100", "127.0.0.1:9100", true, ""},
		{":9100", "127.0.0.1:9100", true, ""},
		{"0", "127.0.0.1:0", true, ""},
		{"localhost:9100", "localhost:9100", true, ""},
		{"[::1]:9100", "[::1]:9100", true, ""},
		{"0.0.0.0:9100", "0.0.0.0:9100", false, ""},
		{"", "", false, "empty address"},
		{"host", "", false, "want host:port"},
		{"1.2.3.4:http", "", false, `port "http" is not a number`},
		{":70000", "", false, "not a number from 0 to 65535"},
	} {
		got, lo, err := ListenAddr(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ListenAddr(%q) = %q, %v; want an error with %q", c.in, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want || lo != c.loopback {
			t.Errorf("ListenAddr(%q) = %q, %v, %v; want %q, %v", c.in, got, lo, err, c.want, c.loopback)
		}
	}
}
