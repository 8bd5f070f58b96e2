package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/meshnode/meshnode/internal/meshproc"
	"github.com/meshnode/meshnode/internal/promtest"
)

var (
	rdvMetricsRE  = regexp.MustCompile(`msg="rendezvous listening" .*\bmetrics=(\S+)`)
	rdvAdminRE    = regexp.MustCompile(`msg="rendezvous listening" .*\badmin=(\S+)`)
	nodeMetricsRE = regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)
)

// httpDo does one request to url with the admin key (if any) and returns the
// status and body.
func httpDo(t *testing.T, method, url, key string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// scrapeFamilies GETs a /metrics URL and parses it with Prometheus' text parser.
func scrapeFamilies(t *testing.T, url, key string) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	code, body := httpDo(t, http.MethodGet, url, key)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", url, code, body)
	}
	fams, err := promtest.Parse(body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return string(body), fams
}

// metricValue is the value of the first series of name whose labels include
// the name=value pairs of want (-1: none).
func metricValue(fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	if v, ok := promtest.Value(fams, name, want...); ok {
		return v
	}
	return -1
}

type adminNodes struct {
	Nodes []struct {
		ID, Short, Group, Remote string
		Since                    time.Time
		BytesSent                uint64 `json:"bytes_sent"`
		BytesReceived            uint64 `json:"bytes_received"`
	}
}

func listAdmin(t *testing.T, base, key string) adminNodes {
	t.Helper()
	code, body := httpDo(t, http.MethodGet, base+"/api/v1/nodes", key)
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/nodes: %d %s", code, body)
	}
	var out adminNodes
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("admin list: %v\n%s", err, body)
	}
	return out
}

// TestMetricsAndAdmin: real rendezvous and node processes with --metrics (and
// the rendezvous' --admin); a mapping moves data through the relay; both
// scrapes parse and their counters move; no name or secret is in them; the
// admin API refuses requests without its key, lists the nodes and disconnects
// one, which reconnects by itself.
func TestMetricsAndAdmin(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "admin.key")
	r := startRendezvous(t, "", "--metrics", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--admin-key-file", keyFile)
	rdvMetrics := "http://" + waitLog(t, r.Proc, rdvMetricsRE, 5*time.Second)[1] + "/metrics"
	admin := "http://" + waitLog(t, r.Proc, rdvAdminRE, 5*time.Second)[1]
	st, err := os.Stat(keyFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin key file: %v, %v; want it created with mode 0600", st, err)
	}
	kb, _ := os.ReadFile(keyFile)
	key := strings.TrimSpace(string(kb))

	echo := startEcho(t)
	a := startNode(t, r, nodeOpts{Name: "alphanodename", Serve: []string{"700=" + echo.addr() + ",name=echoservice"},
		Extra: []string{"--relay-only", "--metrics", "127.0.0.1:0"}})
	b := startNode(t, r, nodeOpts{Name: "betanodename", Extra: []string{"--relay-only", "--metrics", "127.0.0.1:0"}})
	bMetrics := "http://" + waitLog(t, b.Proc, nodeMetricsRE, 5*time.Second)[1] + "/metrics"
	ctx := context.Background()
	aStatus, err := a.Ctl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bStatus, err := b.Ctl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}

	_, rf := scrapeFamilies(t, rdvMetrics, "")
	relayedBefore := metricValue(rf, "rendezvous_relayed_bytes_total")

	listen := mapService(t, b, "700")
	port := listen[strings.LastIndex(listen, ":")+1:]
	const size = 1 << 20
	if err := echoRoundTrip(listen, size, 7, time.Minute); err != nil {
		t.Fatal(err)
	}

	body, nf := scrapeFamilies(t, bMetrics, "")
	for _, c := range []struct {
		name   string
		labels []string
		min    float64
	}{
		{"meshnode_mapping_sent_bytes_total", []string{"port", port}, size},
		{"meshnode_mapping_received_bytes_total", []string{"port", port}, size},
		{"meshnode_mapping_connections_total", []string{"port", port}, 1},
		{"meshnode_peer_sent_bytes_total", []string{"peer", aStatus.ID[:10]}, size},
		{"meshnode_peer_received_bytes_total", []string{"peer", aStatus.ID[:10]}, size},
		{"meshnode_handshakes_ok_total", nil, 1},
		{"meshnode_relay_sent_bytes_total", nil, size},
		{"meshnode_catalog_services", nil, 1},
		{"meshnode_rendezvous_connected", nil, 1},
	} {
		if v := metricValue(nf, c.name, c.labels...); v < c.min {
			t.Errorf("node: %s%v = %v, want >= %v", c.name, c.labels, v, c.min)
		}
	}
	rbody, rf := scrapeFamilies(t, rdvMetrics, "")
	if v := metricValue(rf, "rendezvous_relayed_bytes_total"); v < relayedBefore+2*size {
		t.Errorf("rendezvous_relayed_bytes_total = %v, want >= %v (before) + 2 MiB", v, relayedBefore)
	}
	if v := metricValue(rf, "rendezvous_nodes"); v != 2 {
		t.Errorf("rendezvous_nodes = %v, want 2", v)
	}
	for _, s := range []string{"testgroup", meshproc.DefaultSecret, "alphanodename", "betanodename", "echoservice", aStatus.ID, bStatus.ID} {
		if strings.Contains(body, s) || strings.Contains(rbody, s) {
			t.Errorf("a scrape contains %q", s)
		}
	}

	// The admin API: 401 without the key or with another, and for every route.
	for _, k := range []string{"", "wrong-" + key} {
		for _, u := range []string{"/api/v1/nodes", "/metrics", "/nope"} {
			if code, body := httpDo(t, http.MethodGet, admin+u, k); code != http.StatusUnauthorized || bytes.Contains(body, []byte(key)) {
				t.Errorf("GET %s with key %q: %d, want 401", u, k, code)
			}
		}
		if code, _ := httpDo(t, http.MethodDelete, admin+"/api/v1/nodes/"+aStatus.ID, k); code != http.StatusUnauthorized {
			t.Errorf("DELETE without the key: %d, want 401", code)
		}
	}
	if _, af := scrapeFamilies(t, admin+"/metrics", key); metricValue(af, "rendezvous_nodes") != 2 {
		t.Errorf("admin /metrics: rendezvous_nodes = %v, want 2", metricValue(af, "rendezvous_nodes"))
	}
	list := listAdmin(t, admin, key)
	var since time.Time
	seen := map[string]bool{}
	for _, n := range list.Nodes {
		seen[n.ID] = true
		if n.ID == bStatus.ID {
			since = n.Since
			if n.BytesSent < size || n.BytesReceived < size || n.Short != bStatus.ID[:10] || n.Remote == "" || len(n.Group) != 10 {
				t.Errorf("admin list entry of beta: %+v", n)
			}
		}
	}
	if !seen[aStatus.ID] || !seen[bStatus.ID] || len(list.Nodes) != 2 {
		t.Fatalf("admin list: %+v; want alpha %s and beta %s", list, aStatus.ID, bStatus.ID)
	}
	_, listBody := httpDo(t, http.MethodGet, admin+"/api/v1/nodes", key)
	if bytes.Contains(listBody, []byte("testgroup")) || bytes.Contains(listBody, []byte("nodename")) {
		t.Errorf("admin list names the group or a node: %s", listBody)
	}

	// Bad requests name what is wrong.
	if code, body := httpDo(t, http.MethodDelete, admin+"/api/v1/nodes/ab", key); code != http.StatusBadRequest || !bytes.Contains(body, []byte("too short")) {
		t.Errorf("DELETE a 2-character ID: %d %s", code, body)
	}
	if code, body := httpDo(t, http.MethodDelete, admin+"/api/v1/nodes/zzzzzzzz", key); code != http.StatusNotFound || !bytes.Contains(body, []byte("no connected node")) {
		t.Errorf("DELETE an unknown ID: %d %s", code, body)
	}

	// Disconnect beta by its short ID: it drops, logs why, and comes back.
	if code, body := httpDo(t, http.MethodPost, admin+"/api/v1/nodes/"+bStatus.ID[:10]+"/disconnect", key); code != http.StatusOK {
		t.Fatalf("disconnect beta: %d %s", code, body)
	}
	waitLog(t, b.Proc, regexp.MustCompile(`lost rendezvous connection.*disconnected by the rendezvous' operator`), 10*time.Second)
	waitUntil(t, 30*time.Second, func() error {
		for _, n := range listAdmin(t, admin, key).Nodes {
			if n.ID == bStatus.ID && n.Since.After(since) {
				return nil
			}
		}
		return fmt.Errorf("beta not back at the rendezvous on a new connection")
	})
	waitUntil(t, 10*time.Second, func() error {
		_, nf := scrapeFamilies(t, bMetrics, "")
		if v := metricValue(nf, "meshnode_rendezvous_connects_total"); v < 2 {
			return fmt.Errorf("meshnode_rendezvous_connects_total = %v, want >= 2", v)
		}
		return nil
	})
	// And the mesh works again through the relay.
	if err := echoRoundTrip(listen, 64<<10, 8, time.Minute); err != nil {
		t.Fatalf("after the reconnect: %v", err)
	}
}
