package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshnode/meshnode/internal/meshproc"
	"github.com/meshnode/meshnode/pkg/control/api"
)

// httpAPI is a node's HTTP API as a script would use it: a base URL and the
// key read from the node's key file.
type httpAPI struct {
	base, key string
	hc        *http.Client
}

var apiReadyRE = regexp.MustCompile(`msg="HTTP API ready" addr=(\S+) url=(https?)://\S+ key_file=(\S+)`)

// apiOf waits for n's "HTTP API ready" line and reads the key file it names.
// caFile, when not "", is the CA of the API's TLS certificate.
func apiOf(t *testing.T, n *meshproc.Node, caFile string) httpAPI {
	t.Helper()
	m := waitLog(t, n.Proc, apiReadyRE, 10*time.Second)
	hc := http.DefaultClient
	if caFile != "" {
		pemData, err := os.ReadFile(caFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pemData)
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		t.Cleanup(hc.CloseIdleConnections)
	}
	addr, scheme, keyFile := m[1], m[2], m[3]
	if want := filepath.Join(n.State, "api.key"); keyFile != want {
		t.Fatalf("key file %s, want the default %s", keyFile, want)
	}
	st, err := os.Stat(keyFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file %s: %v %v", keyFile, st, err)
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(b))
	if strings.Contains(n.Out.String(), key) {
		t.Fatalf("%s logged its API key", n.Name)
	}
	return httpAPI{base: scheme + "://" + addr, key: key, hc: hc}
}

// do sends a request with the key (when withKey) and decodes a JSON answer into out.
func (a httpAPI) do(t *testing.T, method, path string, body any, withKey bool, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if withKey {
		req.Header.Set("Authorization", "Bearer "+a.key)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(data))
	}
	return resp.StatusCode
}

// sseEvents streams the node's Server-Sent Events into a channel; it returns
// once the stream is open (its first line arrived).
func (a httpAPI) sseEvents(t *testing.T, ctx context.Context) <-chan api.Event {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", a.base+"/api/v1/events", nil)
	req.Header.Set("X-API-Key", a.key)
	resp, err := a.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %v", resp.StatusCode, resp.Header)
	}
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "retry:") {
		t.Fatalf("events stream starts %q: %v", sc.Text(), sc.Err())
	}
	out := make(chan api.Event, 64)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		var id string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "data: ") && id != "":
				var ev api.Event
				if json.Unmarshal([]byte(line[6:]), &ev) == nil {
					select {
					case out <- ev:
					default:
					}
				}
				id = ""
			}
		}
	}()
	return out
}

// TestHTTPAPI: a node with --api over HTTPS (a private CA's certificate). A
// script with the key lists peers and services, adds a mapping that moves
// data and removes it; without the key it gets 401; the SSE stream shows the
// peer joining and going direct. (TestDashboard covers plain HTTP.)
func TestHTTPAPI(t *testing.T) {
	r := startRendezvous(t, "")
	echo := startEcho(t)
	ca, cert, key := privateCA(t, t.TempDir())
	b := startNode(t, r, nodeOpts{Name: "beta", Extra: []string{"--api", "127.0.0.1:0", "--api-tls-cert", cert, "--api-tls-key", key}})
	bapi := apiOf(t, b, ca)
	if !strings.HasPrefix(bapi.base, "https://") {
		t.Fatalf("API at %s, want https", bapi.base)
	}

	// No key, a wrong key, another origin: refused.
	if code := bapi.do(t, "GET", "/api/v1/peers", nil, false, nil); code != 401 {
		t.Fatalf("peers without the key: %d", code)
	}
	wrong := bapi
	wrong.key += "x"
	if code := wrong.do(t, "GET", "/api/v1/peers", nil, true, nil); code != 401 {
		t.Fatalf("peers with a wrong key: %d", code)
	}
	req, _ := http.NewRequest("GET", bapi.base+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+bapi.key)
	req.Header.Set("Origin", "http://evil.example")
	if resp, err := bapi.hc.Do(req); err != nil || resp.StatusCode != 403 {
		t.Fatalf("cross-origin request: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// The unix socket needs no key and keeps working.
	if _, err := b.Ctl.Status(context.Background()); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := bapi.sseEvents(t, ctx)
	startNode(t, r, nodeOpts{Name: "alpha", Serve: []string{"700=" + echo.addr() + ",name=echo"}})

	for want := map[api.EventKind]bool{api.EventJoin: true, api.EventPath: true}; len(want) > 0; {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the event stream ended")
			}
			if ev.Name == "alpha" && (ev.Kind == api.EventJoin || ev.Kind == api.EventPath && ev.Path == api.PathDirect) {
				delete(want, ev.Kind)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("SSE events of beta: missing %v", want)
		}
	}
	var peers []api.PeerInfo
	if code := bapi.do(t, "GET", "/api/v1/peers", nil, true, &peers); code != 200 {
		t.Fatalf("peers: %d", code)
	}
	if len(peers) != 1 || peers[0].Name != "alpha" || peers[0].Path != api.PathDirect {
		t.Fatalf("peers after the direct event: %+v", peers)
	}
	waitUntil(t, 20*time.Second, func() error {
		var cat []api.CatalogEntry
		if code := bapi.do(t, "GET", "/api/v1/services", nil, true, &cat); code != 200 {
			return fmt.Errorf("services: %d", code)
		}
		for _, e := range cat {
			if e.ServeID == 700 && e.Name == "echo" && e.OwnerName == "alpha" && e.Reachable {
				return nil
			}
		}
		return fmt.Errorf("services: %+v", cat)
	})

	var mi api.MappingInfo
	if code := bapi.do(t, "POST", "/api/v1/mappings", api.MappingRequest{Target: "echo@alpha"}, true, &mi); code != 201 || mi.Listen == "" {
		t.Fatalf("add mapping: %d %+v", code, mi)
	}
	c, err := net.DialTimeout("tcp", mi.Listen, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte("meshnode over http "), 1000)
	go c.Write(msg)
	got := make([]byte, len(msg))
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo through the mapping: %v", err)
	}
	c.Close()
	var maps []api.MappingInfo
	if code := bapi.do(t, "GET", "/api/v1/mappings", nil, true, &maps); code != 200 || len(maps) != 1 || maps[0].Total < 1 {
		t.Fatalf("mappings: %d %+v", code, maps)
	}
	if code := bapi.do(t, "DELETE", fmt.Sprintf("/api/v1/mappings/%d", mi.Port), nil, true, nil); code != 204 {
		t.Fatalf("remove mapping: %d", code)
	}
	if c, err := net.DialTimeout("tcp", mi.Listen, time.Second); err == nil {
		c.Close()
		t.Fatal("the mapping still listens after DELETE")
	}
	if code := bapi.do(t, "DELETE", fmt.Sprintf("/api/v1/mappings/%d", mi.Port), nil, true, nil); code != 404 {
		t.Fatalf("second remove: %d", code)
	}
	// /metrics on the API listener, behind the same key; the mapping's
	// peer's bytes are in it.
	if code := bapi.do(t, "GET", "/metrics", nil, false, nil); code != 401 {
		t.Fatalf("metrics without the key: %d", code)
	}
	req, _ = http.NewRequest("GET", bapi.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+bapi.key)
	resp, err := bapi.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	scrape, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !regexp.MustCompile(`(?m)^meshnode_peer_received_bytes_total\{[^}]*\} [1-9]`).Match(scrape) {
		t.Fatalf("metrics on the API listener: %d, no peer bytes in:\n%.2000s", resp.StatusCode, scrape)
	}
}
