package control

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/control/client"
)

const testKey = "test-key-0123456789abcdef"

// serveAPI serves b's HTTP API on a loopback TCP port and returns its base URL.
func serveAPI(t *testing.T, b Backend, cfg APIConfig) string {
	t.Helper()
	return serveAPIOf(t, NewServer(b, nil), cfg)
}

// serveAPIOf serves srv's HTTP API on a loopback TCP port.
func serveAPIOf(t *testing.T, srv *Server, cfg APIConfig) string {
	t.Helper()
	if cfg.Key == "" {
		cfg.Key = testKey
	}
	ctx, cancel := context.WithCancel(context.Background())
	h, err := srv.APIHandler(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeAPI(ctx, ln, h, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeAPI: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// call sends a request with the given headers and returns status and body.
func call(t *testing.T, method, url, body string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

var bearer = map[string]string{"Authorization": "Bearer " + testKey}

func TestAPIAuth(t *testing.T) {
	base := serveAPI(t, &stub{events: make(chan api.Event)}, APIConfig{
		Metrics:   http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "m 1\n") }),
		Dashboard: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "<html>dash</html>") }),
		Profiling: true,
	})
	var unauthorized string
	for _, tc := range []struct {
		name string
		hdr  map[string]string
	}{
		{"no key", nil},
		{"wrong bearer", map[string]string{"Authorization": "Bearer " + testKey + "x"}},
		{"wrong X-API-Key", map[string]string{"X-API-Key": "nope"}},
		{"basic auth", map[string]string{"Authorization": "Basic " + testKey}},
		{"key as a prefix", map[string]string{"Authorization": "Bearer " + testKey[:10]}},
	} {
		for _, path := range []string{"/api/v1/status", "/api/v1/nope", "/metrics", "/api/v1/openapi.json", "/debug/pprof/", "/debug/pprof/goroutine", "/debug/nope"} {
			code, h, body := call(t, "GET", base+path, "", tc.hdr)
			if code != 401 || h.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: %d %q, want 401 with WWW-Authenticate", tc.name, path, code, body)
			}
			// The same answer whatever was wrong: nothing to learn from it.
			if unauthorized == "" {
				unauthorized = body
			} else if body != unauthorized {
				t.Errorf("%s %s: 401 body %q differs from %q", tc.name, path, body, unauthorized)
			}
		}
	}
	var eb api.ErrorBody
	if err := json.Unmarshal([]byte(unauthorized), &eb); err != nil || eb.Error.Code != api.ErrUnauthorized {
		t.Errorf("401 body %q: %v", unauthorized, err)
	}
	for _, hdr := range []map[string]string{bearer, {"X-API-Key": testKey}, {"authorization": "bearer " + testKey},
		{"Authorization": "Basic cHJveHk6cHc=", "X-API-Key": testKey}} {
		if code, _, body := call(t, "GET", base+"/api/v1/status", "", hdr); code != 200 || !strings.Contains(body, `"name": "n1"`) {
			t.Errorf("status with %v: %d %s", hdr, code, body)
		}
	}
	if code, _, body := call(t, "GET", base+"/metrics", "", bearer); code != 200 || body != "m 1\n" {
		t.Errorf("metrics: %d %q", code, body)
	}
	// The runtime's profiles, with the key.
	if code, _, body := call(t, "GET", base+"/debug/pprof/goroutine?debug=1", "", bearer); code != 200 || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("goroutine profile: %d %.200q", code, body)
	}
	if code, _, body := call(t, "GET", base+"/debug/pprof/heap", "", bearer); code != 200 || len(body) == 0 {
		t.Errorf("heap profile: %d, %d bytes", code, len(body))
	}
	// The dashboard's static files need no key.
	if code, h, body := call(t, "GET", base+"/", "", nil); code != 200 || body != "<html>dash</html>" || h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("dashboard: %d %q %v", code, body, h)
	}
	// Browsers: only the API's own origin.
	own := strings.Replace(base, "127.0.0.1", "127.0.0.1", 1)
	for _, tc := range []struct {
		hdr  map[string]string
		path string
		want int
	}{
		{map[string]string{"Origin": "http://evil.example"}, "/api/v1/status", 403},
		{map[string]string{"Origin": "null"}, "/api/v1/status", 403},
		{map[string]string{"Origin": "http://evil.example"}, "/", 403},
		{map[string]string{"Origin": strings.Replace(base, "http:", "https:", 1)}, "/api/v1/status", 403},
		{map[string]string{"Sec-Fetch-Site": "cross-site"}, "/api/v1/status", 403},
		{map[string]string{"Sec-Fetch-Site": "same-site"}, "/api/v1/status", 403},
		{map[string]string{"Origin": own}, "/api/v1/status", 200},
		{map[string]string{"Sec-Fetch-Site": "same-origin"}, "/api/v1/status", 200},
		{map[string]string{"Sec-Fetch-Site": "none"}, "/api/v1/status", 200},
		{map[string]string{"Sec-Fetch-Site": "cross-site"}, "/", 200}, // a link to the dashboard
	} {
		hdr := map[string]string{"X-API-Key": testKey}
		for k, v := range tc.hdr {
			hdr[k] = v
		}
		if code, _, body := call(t, "GET", base+tc.path, "", hdr); code != tc.want {
			t.Errorf("%s with %v: %d %s, want %d", tc.path, tc.hdr, code, body, tc.want)
		} else if code == 403 && !strings.Contains(body, `"forbidden"`) {
			t.Errorf("403 body %s", body)
		}
	}
	// A preflight from another origin gets nothing that would let it through.
	code, h, _ := call(t, "OPTIONS", base+"/api/v1/status", "", map[string]string{"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"})
	if code != 403 || h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight: %d %v", code, h)
	}
}

func TestAPIErrorsAreJSON(t *testing.T) {
	base := serveAPI(t, &stub{events: make(chan api.Event)}, APIConfig{})
	for _, tc := range []struct {
		method, path, body string
		status             int
		code               api.ErrorCode
	}{
		{"GET", "/api/v1/nope", "", 404, api.ErrNotFound},
		{"POST", "/api/v1/down", "", 404, api.ErrNotFound}, // the socket's only
		{"POST", "/api/v1/mappings", "{", 400, api.ErrBadRequest},
		{"DELETE", "/api/v1/mappings/x", "", 400, api.ErrBadRequest},
		{"POST", "/api/v1/reload", "", 501, api.ErrNotImplemented},
		{"GET", "/nope", "", 404, api.ErrNotFound}, // no dashboard configured
	} {
		code, _, body := call(t, tc.method, base+tc.path, tc.body, bearer)
		var eb api.ErrorBody
		err := json.Unmarshal([]byte(body), &eb)
		if code != tc.status || err != nil || eb.Error.Code != tc.code || eb.Error.Message == "" {
			t.Errorf("%s %s: %d %s, want %d with code %s", tc.method, tc.path, code, body, tc.status, tc.code)
		}
	}
}

func TestChangeService(t *testing.T) {
	b := &stub{events: make(chan api.Event)}
	base := serveAPI(t, b, APIConfig{})
	code, _, body := call(t, "PUT", base+"/api/v1/serve/5", `{"target":"127.0.0.1:2","name":"web"}`, bearer)
	if code != 200 || !strings.Contains(body, `"target": "127.0.0.1:2"`) || len(b.removedSvc) != 1 || b.removedSvc[0] != 5 {
		t.Fatalf("change: %d %s %v", code, body, b.removedSvc)
	}
	if got := b.services[len(b.services)-1]; got.ID != 5 || got.Name != "web" || got.Proto != "tcp" {
		t.Fatalf("added %+v", got)
	}
	if code, _, body := call(t, "PUT", base+"/api/v1/serve/6", `{"target":"127.0.0.1:2"}`, bearer); code != 404 {
		t.Fatalf("change of a serveid not served: %d %s", code, body)
	}
	if code, _, body := call(t, "PUT", base+"/api/v1/serve/5", `{"serveid":7,"target":"127.0.0.1:2"}`, bearer); code != 400 || !strings.Contains(body, "not the path's") {
		t.Fatalf("serveid mismatch: %d %s", code, body)
	}
	// The add fails: the old service is put back.
	b.addErr = errors.New("disk full")
	n := len(b.services)
	if code, _, _ := call(t, "PUT", base+"/api/v1/serve/5", `{"target":"127.0.0.1:3"}`, bearer); code != 500 {
		t.Fatalf("failed change: %d", code)
	}
	if len(b.services) != n+2 || b.services[n+1].Target != "127.0.0.1:1" {
		t.Fatalf("old service not put back: %+v", b.services[n:])
	}
}

// sseEvent is one event of a text/event-stream.
type sseEvent struct{ event, id, data string }

// sseReader reads a text/event-stream; comments go to comments.
type sseReader struct {
	sc       *bufio.Scanner
	comments []string
}

func (r *sseReader) next() (sseEvent, error) {
	var ev sseEvent
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "":
			if ev.data != "" || ev.event != "" {
				return ev, nil
			}
		case strings.HasPrefix(line, ":"):
			r.comments = append(r.comments, strings.TrimSpace(line[1:]))
		default:
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimPrefix(v, " ")
			switch k {
			case "event":
				ev.event = v
			case "id":
				ev.id = v
			case "data":
				ev.data += v
			}
		}
	}
	if err := r.sc.Err(); err != nil {
		return ev, err
	}
	return ev, io.EOF
}

func openSSE(t *testing.T, ctx context.Context, url string, hdr map[string]string) (*http.Response, *sseReader) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, &sseReader{sc: bufio.NewScanner(resp.Body)}
}

func TestSSE(t *testing.T) {
	b := &stub{events: make(chan api.Event)}
	base := serveAPI(t, b, APIConfig{Heartbeat: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, rd := openSSE(t, ctx, base+"/api/v1/events", bearer)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %v", resp.StatusCode, resp.Header)
	}
	// The stream is attached once its first comment arrived.
	if !rd.sc.Scan() {
		t.Fatalf("no first line: %v", rd.sc.Err())
	}
	b.events <- api.Event{Kind: api.EventJoin, Peer: "p1", Name: "b"}
	b.events <- api.Event{Kind: api.EventPath, Peer: "p1", Name: "b", Path: api.PathDirect}
	b.events <- api.Event{Kind: api.EventLeave, Peer: "p1", Name: "b", Reason: "left"}
	var got []sseEvent
	for len(got) < 3 {
		ev, err := rd.next()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	if got[0].event != "join" || got[1].event != "path" || got[2].event != "leave" {
		t.Fatalf("events %+v", got)
	}
	var ev api.Event
	if err := json.Unmarshal([]byte(got[1].data), &ev); err != nil || ev.Path != api.PathDirect || ev.Name != "b" {
		t.Fatalf("data %q: %v", got[1].data, err)
	}
	if got[0].id == "" || got[0].id == got[1].id {
		t.Fatalf("ids %q %q", got[0].id, got[1].id)
	}
	// Heartbeats keep an idle stream alive.
	for !contains(rd.comments, "keepalive") {
		b.events <- api.Event{Kind: api.EventJoin, Peer: "p2"}
		if _, err := rd.next(); err != nil {
			t.Fatal(err)
		}
	}

	// Resume after the first event: the client gets the rest, in order.
	_, rd2 := openSSE(t, ctx, base+"/api/v1/events", map[string]string{"X-API-Key": testKey, "Last-Event-ID": got[0].id})
	for _, want := range got[1:] {
		ev, err := rd2.next()
		if err != nil || ev != want {
			t.Fatalf("resumed %+v %v, want %+v", ev, err, want)
		}
	}
	// The query parameter does the same (for EventSource-like clients).
	_, rd3 := openSSE(t, ctx, base+"/api/v1/events?last_event_id="+got[1].id, bearer)
	if ev, err := rd3.next(); err != nil || ev != got[2] {
		t.Fatalf("resumed by query %+v %v", ev, err)
	}
	// An ID from another run: a resync first, then new events.
	_, rd4 := openSSE(t, ctx, base+"/api/v1/events", map[string]string{"X-API-Key": testKey, "Last-Event-ID": "zzz.5"})
	if ev, err := rd4.next(); err != nil || ev.event != "resync" || !strings.Contains(ev.data, "re-read") {
		t.Fatalf("resync %+v %v", ev, err)
	}
}

// TestSSEPushesAtOnce: an event goes out when it happens, not with the next
// heartbeat (an hour away here).
func TestSSEPushesAtOnce(t *testing.T) {
	b := &stub{events: make(chan api.Event)}
	base := serveAPI(t, b, APIConfig{Heartbeat: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, rd := openSSE(t, ctx, base+"/api/v1/events", bearer)
	if !rd.sc.Scan() {
		t.Fatalf("no first line: %v", rd.sc.Err())
	}
	for i := 0; i < 3; i++ {
		b.events <- api.Event{Kind: api.EventPath, Peer: "p", Path: api.PathDirect}
		if ev, err := rd.next(); err != nil || ev.event != "path" {
			t.Fatalf("event %d: %+v %v", i, ev, err)
		}
	}
}

func TestSSEBounds(t *testing.T) {
	b := &stub{events: make(chan api.Event)}
	base := serveAPI(t, b, APIConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 0; i < maxSSEStreams; i++ {
		resp, rd := openSSE(t, ctx, base+"/api/v1/events", bearer)
		if resp.StatusCode != 200 || !rd.sc.Scan() {
			t.Fatalf("stream %d: %d", i, resp.StatusCode)
		}
	}
	code, _, body := call(t, "GET", base+"/api/v1/events", "", bearer)
	if code != 503 || !strings.Contains(body, "too many event streams") {
		t.Fatalf("one stream too many: %d %s", code, body)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestEventRing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := &stub{events: make(chan api.Event)}
	l, err := newEventLog(ctx, b, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < ringSize+10; i++ {
		l.add(api.Event{Kind: api.EventJoin})
	}
	if len(l.ring) != ringSize || l.ring[0].seq != 11 {
		t.Fatalf("ring: %d events from %d", len(l.ring), l.ring[0].seq)
	}
	if items, last, gap := l.since(5); !gap || len(items) != ringSize || last != ringSize+10 {
		t.Fatalf("since 5: %d items, last %d, gap %v", len(items), last, gap)
	}
	if items, _, gap := l.since(10); gap || len(items) != ringSize {
		t.Fatalf("since 10: %d items, gap %v", len(items), gap)
	}
	if _, ok := l.resumeFrom(l.boot + ".99999"); ok {
		t.Fatal("a future ID resumed")
	}
	if seq, ok := l.resumeFrom(l.boot + ".20"); !ok || seq != 20 {
		t.Fatalf("resume: %d %v", seq, ok)
	}
}

func TestAPIKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "api.key")
	key, created, err := LoadOrCreateAPIKey(path)
	if err != nil || !created || !strings.HasPrefix(key, apiKeyPrefix) || len(key) < 40 {
		t.Fatalf("create: %q %v %v", key, created, err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st.Mode(), err)
	}
	again, created, err := LoadOrCreateAPIKey(path)
	if err != nil || created || again != key {
		t.Fatalf("load: %q %v %v", again, created, err)
	}
	os.Chmod(path, 0o644)
	if _, _, err := LoadOrCreateAPIKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key file: %v", err)
	}
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	if _, _, err := LoadOrCreateAPIKey(short); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Fatalf("short key: %v", err)
	}
	if _, err := NewServer(&stub{events: make(chan api.Event)}, nil).APIHandler(context.Background(), APIConfig{Key: "short"}); err == nil {
		t.Fatal("APIHandler took a short key")
	}
}

func TestOwnOrigin(t *testing.T) {
	r, _ := http.NewRequest("GET", "http://127.0.0.1:7750/api/v1/status", nil)
	if o := ownOrigin(r); o != "http://127.0.0.1:7750" {
		t.Errorf("http: %q", o)
	}
	r.TLS = &tls.ConnectionState{}
	if o := ownOrigin(r); o != "https://127.0.0.1:7750" {
		t.Errorf("https: %q", o)
	}
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "[::1]:1": true, "localhost:1": true, "0.0.0.0:1": false, ":1": false, "10.0.0.1:1": false, "x": false} {
		if IsLoopback(addr) != want {
			t.Errorf("IsLoopback(%q) = %v", addr, !want)
		}
	}
}

// TestGoClientOverHTTP: pkg/control/client speaks the HTTP API too.
func TestGoClientOverHTTP(t *testing.T) {
	b := &stub{events: make(chan api.Event)}
	base := serveAPI(t, b, APIConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.NewHTTP(base, testKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.Status(ctx); err != nil || st.Name != "n1" {
		t.Fatalf("status %+v %v", st, err)
	}
	if mi, err := c.AddMapping(ctx, api.MappingRequest{Target: "700", Port: 2222}); err != nil || mi.Port != 2222 || len(b.added) != 1 {
		t.Fatalf("add mapping %+v %v", mi, err)
	}
	if got, err := c.ChangeService(ctx, 5, api.Service{Target: "127.0.0.1:9"}); err != nil || got.ID != 5 || got.Target != "127.0.0.1:9" {
		t.Fatalf("change service %+v %v", got, err)
	}
	var ae *api.Error
	if err := c.Down(ctx); !errors.As(err, &ae) || ae.Status != 404 || ae.Code != api.ErrNotFound {
		t.Fatalf("down over HTTP: %v", err)
	}
	bad, _ := client.NewHTTP(base, "wrong-key-wrong-key", nil)
	if _, err := bad.Peers(ctx); !errors.As(err, &ae) || ae.Status != 401 || ae.Code != api.ErrUnauthorized {
		t.Fatalf("wrong key: %v", err)
	}
	got := make(chan api.Event, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- c.Events(ctx, func(ev api.Event) error { got <- ev; return errors.New("enough") })
	}()
	// Events sent before the stream attaches are not for it: send until one arrives.
	for {
		select {
		case b.events <- api.Event{Kind: api.EventJoin, Peer: "p", Name: "x"}:
		case ev := <-got:
			if ev.Kind != api.EventJoin || ev.Name != "x" {
				t.Fatalf("event %+v", ev)
			}
			if err := <-errc; err == nil || err.Error() != "enough" {
				t.Fatalf("Events: %v", err)
			}
			for _, u := range []string{"ftp://x", "http://", "://"} {
				if _, err := client.NewHTTP(u, testKey, nil); err == nil {
					t.Errorf("NewHTTP(%q) took it", u)
				}
			}
			if _, err := client.NewHTTP(base, "", nil); err == nil {
				t.Error("NewHTTP without a key")
			}
			return
		case <-ctx.Done():
			t.Fatal("no event through the Go client")
		}
	}
}
