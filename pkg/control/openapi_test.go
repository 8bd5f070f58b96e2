package control

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/meshnode/meshnode/pkg/control/api"
)

// richStub answers with every field set, so the schemas are checked against
// full answers, not only empty ones.
type richStub struct{ *stub }

func (richStub) Status() api.StatusInfo {
	t0 := time.Date(2026, 12, 6, 1, 2, 3, 4, time.UTC)
	svc := api.Service{ID: 700, Name: "ssh", Proto: "tcp", Info: "i", Target: "127.0.0.1:22", Claimed: 5, Was: 7,
		Limits: &api.Limits{MaxConns: 10, Rate: 1000, IdleTimeout: "5m", ProxyProtocol: "v2"}, WantsClient: true}
	return api.StatusInfo{ID: "id", Name: "n", Group: "g", Started: t0, Cipher: "c", Transport: "t",
		Rendezvous: api.RendezvousStatus{Addr: "a", Connected: true, Since: t0, RTTMillis: 1.5, LastError: "e", Refused: "r", OthersInGroup: 2},
		PeersUp:    1, Peers: 2, Services: []api.LocalService{{Service: svc, Origin: api.OriginFile, Ref: "[serve.ssh]"}},
		CatalogVersion: 9, Mappings: richStub{}.Mappings(),
		Plugins: []api.PluginStatus{{Kind: api.PluginCipher, Name: "n", Version: "v", Suite: "s", State: api.PluginRunning, PID: 4, Restarts: 1, Since: t0, LastError: "e"}}}
}

func (richStub) Peers() []api.PeerInfo {
	t0 := time.Date(2026, 12, 6, 1, 2, 3, 4, time.UTC)
	return []api.PeerInfo{{ID: "i", Name: "n", Present: true, State: api.LinkStateUp, Path: api.PathDirect, RTTMillis: 3, Since: t0, BytesIn: 1, BytesOut: 2, Streams: 3,
		Endpoint: "e", Local: "l", PathSince: t0, Why: "w", ICETries: 4, LastSeen: t0, Member: "alive", Error: "x"}}
}

func (richStub) Services() []api.CatalogEntry {
	return []api.CatalogEntry{{ServeID: 5, Name: "n", Proto: "tcp", Info: "i", Owner: "o", OwnerName: "on", Local: true, Reachable: true, Conflict: "c"}}
}

func (richStub) Mappings() []api.MappingInfo {
	return []api.MappingInfo{{MappingRequest: api.MappingRequest{Target: "700", Port: 2222, Bind: "127.0.0.1", Proto: "tcp",
		Limits: &api.Limits{MaxConns: 1, Rate: 2, IdleTimeout: "1s"}},
		Origin: api.OriginLive, Ref: "r", Listen: "l", Active: 1, Total: 2, Failed: 3, LastError: "x"}}
}

func loadDoc(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData([]byte(openAPIDoc))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	return doc
}

// TestOpenAPIMatchesRoutes: every route of the HTTP API is in the document,
// and the document has no route the API lacks; every documented route is
// served (not answered "no API route").
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadDoc(t)
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	srv := NewServer(&stub{events: make(chan api.Event)}, nil).WithLifecycle(&stubLife{})
	var routed []string
	for _, rt := range srv.apiRoutes(&eventLog{}) {
		routed = append(routed, rt.method+" "+apiPrefix+rt.path)
	}
	slices.Sort(documented)
	slices.Sort(routed)
	if !slices.Equal(documented, routed) {
		t.Fatalf("the document and the router differ:\ndocumented %q\nrouted     %q", documented, routed)
	}
	base := serveAPIOf(t, srv, APIConfig{})
	for _, r := range routed {
		method, path, _ := strings.Cut(r, " ")
		path = strings.NewReplacer("{port}", "2222", "{serveid}", "5").Replace(path)
		if method == "GET" && strings.HasSuffix(path, "/events") {
			continue // a stream; TestOpenAPIResponses covers it
		}
		code, _, body := call(t, method, base+path, "", bearer)
		if strings.Contains(body, "no API route") {
			t.Errorf("%s: %d %s", r, code, body)
		}
	}
}

// TestOpenAPIResponses: the real handlers' answers, successes and errors,
// validate against the document's schemas (kin-openapi, JSON Schema 2020-12
// as OpenAPI 3.1 says).
func TestOpenAPIResponses(t *testing.T) {
	doc := loadDoc(t)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	b := richStub{&stub{events: make(chan api.Event)}}
	base := serveAPIOf(t, NewServer(b, nil).WithLifecycle(&stubLife{}), APIConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seen := map[string]bool{}
	for _, tc := range []struct {
		method, path, body string
		status             int
		hdr                map[string]string
	}{
		{"GET", "/api/v1/status", "", 200, nil},
		{"GET", "/api/v1/peers", "", 200, nil},
		{"GET", "/api/v1/services", "", 200, nil},
		{"GET", "/api/v1/mappings", "", 200, nil},
		{"POST", "/api/v1/mappings", `{"target":"700","port":2222,"limits":{"max_conns":5,"idle_timeout":"1m"}}`, 201, nil},
		{"POST", "/api/v1/mappings", `{"port":"x"}`, 400, nil},
		{"DELETE", "/api/v1/mappings/2222", "", 204, nil},
		{"DELETE", "/api/v1/mappings/0", "", 400, nil},
		{"GET", "/api/v1/serve", "", 200, nil},
		{"POST", "/api/v1/serve", `{"target":"127.0.0.1:22","name":"ssh","limits":{"proxy_protocol":"v1"}}`, 201, nil},
		{"PUT", "/api/v1/serve/5", `{"target":"127.0.0.1:23"}`, 200, nil},
		{"PUT", "/api/v1/serve/9", `{"target":"127.0.0.1:23"}`, 404, nil},
		{"DELETE", "/api/v1/serve/5", "", 204, nil},
		{"POST", "/api/v1/ping", `{"peer":"b","count":2,"interval_ms":10,"timeout_ms":100}`, 200, nil},
		{"POST", "/api/v1/ping", `{}`, 400, nil},
		{"GET", "/api/v1/netcheck", "", 200, nil},
		{"POST", "/api/v1/reload", "", 200, nil},
		{"GET", "/api/v1/openapi.json", "", 200, nil},
		{"GET", "/api/v1/status", "", 401, map[string]string{"Authorization": "Bearer wrong"}},
		{"GET", "/api/v1/events", "", 200, nil},
	} {
		req, _ := http.NewRequestWithContext(ctx, tc.method, base+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+testKey)
		if tc.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range tc.hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		stream := resp.Header.Get("Content-Type") == "text/event-stream"
		var body []byte
		if stream {
			line := make([]byte, 64)
			n, _ := resp.Body.Read(line)
			body = line[:n]
		} else {
			body, _ = io.ReadAll(resp.Body)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, resp.StatusCode, body, tc.status)
			continue
		}
		// The router needs the request as the document sees it.
		vreq, _ := http.NewRequest(tc.method, "http://meshnode"+tc.path, nil)
		route, params, err := router.FindRoute(vreq)
		if err != nil {
			t.Errorf("%s %s: not in the document: %v", tc.method, tc.path, err)
			continue
		}
		seen[tc.method+" "+route.Path] = true
		// What the handlers took, the document allows.
		if resp.StatusCode < 300 {
			rreq, _ := http.NewRequest(tc.method, "http://meshnode"+tc.path, strings.NewReader(tc.body))
			rreq.Header.Set("Authorization", "Bearer "+testKey)
			if tc.body != "" {
				rreq.Header.Set("Content-Type", "application/json")
			}
			rin := &openapi3filter.RequestValidationInput{Request: rreq, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
			if err := openapi3filter.ValidateRequest(ctx, rin); err != nil {
				t.Errorf("%s %s %s: the request does not match the document: %v", tc.method, tc.path, tc.body, err)
			}
		}
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route},
			Status:                 resp.StatusCode,
			Header:                 resp.Header,
			Body:                   io.NopCloser(bytes.NewReader(body)),
			Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, ExcludeResponseBody: stream},
		}
		if err := openapi3filter.ValidateResponse(ctx, in); err != nil {
			t.Errorf("%s %s (%d): the answer does not match the document: %v\n%s", tc.method, tc.path, resp.StatusCode, err, body)
		}
		if stream && !strings.HasPrefix(string(body), "retry:") {
			t.Errorf("events stream starts %q", body)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !seen[method+" "+path] {
				t.Errorf("%s %s: no answer checked against the document", method, path)
			}
		}
	}
}

// TestOpenAPICatchesDrift: the validation is real: an answer with a field
// the document does not have fails it, and so does such a request.
func TestOpenAPICatchesDrift(t *testing.T) {
	doc := loadDoc(t)
	router, _ := legacy.NewRouter(doc)
	vreq, _ := http.NewRequest("GET", "http://meshnode/api/v1/peers", nil)
	route, params, err := router.FindRoute(vreq)
	if err != nil {
		t.Fatal(err)
	}
	for body, bad := range map[string]bool{
		`[{"id":"i","name":"n","present":true,"state":"up","path":"relay","rtt_ms":0,"bytes_in":0,"bytes_out":0,"streams":0,"ice_tries":0,"member":"-"}]`:         false,
		`[{"id":"i","name":"n","present":true,"state":"up","path":"relay","rtt_ms":0,"bytes_in":0,"bytes_out":0,"streams":0,"ice_tries":0,"member":"-","new":1}]`: true,
		`[{"id":"i","name":"n","present":true,"state":"sideways","path":"relay","rtt_ms":0,"bytes_in":0,"bytes_out":0,"streams":0,"ice_tries":0,"member":"-"}]`:   true,
		`[{"name":"n","present":true,"state":"up","path":"relay","rtt_ms":0,"bytes_in":0,"bytes_out":0,"streams":0,"ice_tries":0,"member":"-"}]`:                  true,
	} {
		h := http.Header{"Content-Type": {"application/json"}}
		err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route},
			Status:                 200, Header: h, Body: io.NopCloser(strings.NewReader(body)),
		})
		if (err != nil) != bad {
			t.Errorf("%s: %v (want failure: %v)", body, err, bad)
		}
	}
	for body, bad := range map[string]bool{`{"target":"700","port":2222}`: false, `{"target":"700","prot":2222}`: true, `{"port":1}`: true} {
		req, _ := http.NewRequest("POST", "http://meshnode/api/v1/mappings", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Fatal(err)
		}
		err = openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}})
		if (err != nil) != bad {
			t.Errorf("request %s: %v (want failure: %v)", body, err, bad)
		}
	}

}
