package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/control/client"
	"github.com/meshnode/meshnode/pkg/ice"
	"github.com/meshnode/meshnode/pkg/overlay"
)

// stub is a Backend that records calls and answers from its fields.
type stub struct {
	added   []api.MappingRequest
	addErr  error
	removed []int
	rmErr   error

	services   []api.Service
	removedSvc []api.ServeID

	pinged []string
	events chan api.Event

	// When set, Ping signals pingStarted and then waits for pingRelease (or
	// its context to end, which it reports).
	pingStarted, pingRelease chan struct{}
	subscribed               chan struct{} // when set, Subscribe signals it
}

func (s *stub) Ping(ctx context.Context, peer string, count int, interval, timeout time.Duration) (api.PingResult, error) {
	if s.pingRelease != nil {
		s.pingStarted <- struct{}{}
		select {
		case <-s.pingRelease:
		case <-ctx.Done():
			return api.PingResult{}, fmt.Errorf("ping cut short: %w", context.Cause(ctx))
		}
	}
	s.pinged = append(s.pinged, fmt.Sprintf("%s/%d/%v/%v", peer, count, interval, timeout))
	if count > 1000 { // as the node does
		return api.PingResult{}, &overlay.Error{Kind: overlay.KindInvalid, Err: errors.New("ping count out of range")}
	}
	return api.PingResult{Name: peer, Path: api.PathDirect, RTTs: make([]float64, count)}, nil
}
func (s *stub) Netcheck(context.Context) (ice.Report, error) {
	var r ice.Report
	r.UDP.Known, r.UDP.Value = true, false
	return r, nil
}
func (s *stub) Subscribe() (<-chan api.Event, func(), bool) {
	if s.events == nil {
		return nil, nil, false
	}
	if s.subscribed != nil {
		s.subscribed <- struct{}{}
	}
	return s.events, func() {}, true
}

func (s *stub) Status() api.StatusInfo       { return api.StatusInfo{Name: "n1", Group: "g"} }
func (s *stub) Peers() []api.PeerInfo        { return []api.PeerInfo{{Name: "p", State: api.LinkStateUp}} }
func (s *stub) Services() []api.CatalogEntry { return []api.CatalogEntry{{ServeID: 700}} }
func (s *stub) Mappings() []api.MappingInfo  { return nil }
func (s *stub) RemoveMapping(port int) error { s.removed = append(s.removed, port); return s.rmErr }
func (s *stub) LocalServices() []api.Service {
	return []api.Service{{ID: 5, Proto: "tcp", Target: "127.0.0.1:1"}}
}
func (s *stub) AddService(svc api.Service, persist bool) (api.Service, error) {
	s.services = append(s.services, svc)
	if svc.ID == 0 {
		svc.ID = 1
	}
	return svc, s.addErr
}
func (s *stub) RemoveService(id api.ServeID) error {
	s.removedSvc = append(s.removedSvc, id)
	return s.rmErr
}
func (s *stub) AddMapping(_ context.Context, r api.MappingRequest) (api.MappingInfo, error) {
	s.added = append(s.added, r)
	if s.addErr != nil {
		return api.MappingInfo{}, s.addErr
	}
	return api.MappingInfo{MappingRequest: r, Origin: api.OriginLive, Listen: "127.0.0.1:1"}, nil
}

func serve(t *testing.T, b Backend) (*client.Client, string) {
	t.Helper()
	return serveWith(t, b, defaultTimeouts())
}

// serveWith serves b with the timeouts to.
func serveWith(t *testing.T, b Backend, to timeouts) (*client.Client, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "c.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(b, nil)
	srv.to = to
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	c := client.New(path)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := c.Status(context.Background()); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("control server did not come up: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c, path
}

func TestRoundTrips(t *testing.T) {
	b := &stub{}
	c, path := serve(t, b)
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil || st.Name != "n1" {
		t.Fatalf("status %+v %v", st, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v %v", fi.Mode(), err)
	}
	if p, err := c.Peers(ctx); err != nil || len(p) != 1 {
		t.Fatalf("peers %v %v", p, err)
	}
	if s, err := c.Services(ctx); err != nil || len(s) != 1 || s[0].ServeID != 700 {
		t.Fatalf("services %v %v", s, err)
	}
	mi, err := c.AddMapping(ctx, api.MappingRequest{Target: "700", Port: 2222})
	if err != nil || mi.Listen == "" || len(b.added) != 1 || b.added[0].Port != 2222 {
		t.Fatalf("add %+v %v %v", mi, err, b.added)
	}
	if err := c.RemoveMapping(ctx, 2222); err != nil || len(b.removed) != 1 {
		t.Fatalf("remove %v %v", err, b.removed)
	}
	if ls, err := c.LocalServices(ctx); err != nil || len(ls) != 1 || ls[0].Target == "" {
		t.Fatalf("local services %v %v", ls, err)
	}
	got, err := c.AddService(ctx, api.Service{Target: "127.0.0.1:22", Name: "ssh"})
	if err != nil || got.ID != 1 || len(b.services) != 1 || b.services[0].Proto != "tcp" {
		t.Fatalf("add service %+v %v %+v", got, err, b.services)
	}
	if err := c.RemoveService(ctx, 700); err != nil || len(b.removedSvc) != 1 || b.removedSvc[0] != 700 {
		t.Fatalf("remove service %v %v", err, b.removedSvc)
	}
}

func TestPingNetcheckEvents(t *testing.T) {
	b := &stub{events: make(chan api.Event, 4)}
	c, _ := serve(t, b)
	ctx := context.Background()
	res, err := c.Ping(ctx, api.PingRequest{Peer: "b", Count: 2, IntervalMS: 50, TimeoutMS: 500})
	if err != nil || res.Path != api.PathDirect || len(res.RTTs) != 2 || b.pinged[0] != "b/2/50ms/500ms" {
		t.Fatalf("ping %+v %v %v", res, err, b.pinged)
	}
	if _, err := c.Ping(ctx, api.PingRequest{Peer: "b", Count: 1001, IntervalMS: 10, TimeoutMS: 10}); err == nil ||
		!strings.Contains(err.Error(), "out of range") {
		t.Fatalf("ping count 1001: %v", err)
	}
	nc, err := c.Netcheck(ctx)
	if err != nil || !strings.Contains(nc.Summary, "no UDP") || !nc.Report.UDP.Known {
		t.Fatalf("netcheck %+v %v", nc, err)
	}
	b.events <- api.Event{Kind: api.EventPath, Name: "b", Path: api.PathDirect}
	b.events <- api.Event{Kind: api.EventPath, Name: "b", Path: api.PathRelay, Reason: "gone"}
	var got []api.Event
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = c.Events(sctx, func(ev api.Event) error {
		got = append(got, ev)
		if len(got) == 2 {
			return errors.New("enough")
		}
		return nil
	})
	if err == nil || err.Error() != "enough" || got[0].Path != api.PathDirect || got[1].Reason != "gone" {
		t.Fatalf("events %+v %v", got, err)
	}
	b.events = nil
	if err := c.Events(ctx, func(api.Event) error { return nil }); err == nil || !strings.Contains(err.Error(), "too many") {
		t.Fatalf("events when full: %v", err)
	}
}

func TestErrors(t *testing.T) {
	b := &stub{}
	c, _ := serve(t, b)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		err    error
		status int
	}{
		{"invalid", &overlay.Error{Kind: overlay.KindInvalid, Err: errors.New("port 0 out of range")}, 400},
		{"not found", &overlay.Error{Kind: overlay.KindNotFound, Err: errors.New("unknown serveid 9")}, 404},
		{"conflict", &overlay.Error{Kind: overlay.KindConflict, Err: errors.New("port in use")}, 409},
		{"internal", errors.New("disk full"), 500},
	} {
		b.addErr = tc.err
		_, err := c.AddMapping(ctx, api.MappingRequest{Target: "9", Port: 1})
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Status != tc.status || ae.Message != tc.err.Error() || ae.Code != api.CodeOf(tc.status) {
			t.Errorf("%s: got %v (%#v), want %d %q", tc.name, err, ae, tc.status, tc.err)
		}
	}
}

func TestBadRequests(t *testing.T) {
	_, path := serve(t, &stub{})
	hc := unixHTTPClient(path)
	for _, tc := range []struct {
		method, route, body string
		status              int
		want                string
	}{
		{"POST", "/v1/mappings", "", 400, "empty"},
		{"POST", "/v1/mappings", "{", 400, "request body"},
		{"POST", "/v1/mappings", `{"target":"1","port":1,"extra":true}`, 400, "unknown field"},
		{"POST", "/v1/mappings", `{"target":"1"} {}`, 400, "after the JSON"},
		{"POST", "/v1/mappings", `{"target":"` + strings.Repeat("x", maxBody) + `"}`, 400, "larger than"},
		{"DELETE", "/v1/mappings/abc", "", 400, "not a number"},
		{"DELETE", "/v1/mappings/70000", "", 400, "not a number"},
		{"GET", "/v1/nope", "", 404, "no API route"},
		{"PUT", "/v1/status", "", 404, "no API route PUT /v1/status"},
		{"POST", "/v1/serve", `{"serveid":1000,"target":"h:1"}`, 400, "out of range"},
		{"POST", "/v1/serve", `{"serveid":5}`, 400, "no target"},
		{"POST", "/v1/serve", `{"serveid":5,"target":"h:1","claimed":7}`, 400, "set by the mesh"},
		{"DELETE", "/v1/serve/x", "", 400, "not a number"},
		{"POST", "/v1/ping", `{}`, 400, "no peer"},
		{"POST", "/v1/ping", `{"peer":"b","interval_ms":1}`, 400, "interval 1 ms out of range"},
		{"POST", "/v1/ping", `{"peer":"b","timeout_ms":99999999}`, 400, "timeout 99999999 ms out of range"},
		{"POST", "/v1/ping", `{"peer":"b","count":"x"}`, 400, "request body"},
		{"POST", "/v1/ping", `{"peer":"b","count":1000,"interval_ms":1000}`, 400, "at most 10m0s per request"},
	} {
		req, _ := http.NewRequest(tc.method, "http://meshnode"+tc.route, strings.NewReader(tc.body))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 4096)
		n, _ := resp.Body.Read(b)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b[:n]), tc.want) {
			t.Errorf("%s %s %.20q: %d %s, want %d %q", tc.method, tc.route, tc.body, resp.StatusCode, b[:n], tc.status, tc.want)
		}
	}
}

func TestSocketInUse(t *testing.T) {
	_, path := serve(t, &stub{})
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "in use by another running node") {
		t.Fatalf("second listener: %v", err)
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	// Simulate a crash: the file stays, nobody listens.
	ln.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	ln.Close()
	ln2, err := Listen(path)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	ln2.Close()
}

func TestUnreachable(t *testing.T) {
	c := client.New(filepath.Join(t.TempDir(), "none.sock"))
	_, err := c.Status(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is `meshnode up` running") {
		t.Fatalf("got %v", err)
	}
}

func TestLongSocketPath(t *testing.T) {
	_, err := Listen("/tmp/" + strings.Repeat("x", 120))
	if err == nil || !strings.Contains(err.Error(), "unix sockets allow") {
		t.Fatalf("got %v", err)
	}
}

// unixHTTPClient is a plain HTTP client on the control socket at path, for
// requests the typed client would not send.
func unixHTTPClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}
