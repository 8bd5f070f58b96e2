package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/ice"
	"github.com/meshnode/meshnode/pkg/overlay"
)

// Backend is what the control API drives: the node. It answers in the API's
// types, except Netcheck: netcheck.go converts its report.
type Backend interface {
	Status() api.StatusInfo
	Peers() []api.PeerInfo
	Services() []api.CatalogEntry
	Mappings() []api.MappingInfo
	AddMapping(ctx context.Context, req api.MappingRequest) (api.MappingInfo, error)
	RemoveMapping(port int) error
	LocalServices() []api.Service
	AddService(s api.Service, persist bool) (api.Service, error)
	RemoveService(id api.ServeID) error
	Ping(ctx context.Context, peer string, count int, interval, timeout time.Duration) (api.PingResult, error)
	Netcheck(ctx context.Context) (ice.Report, error)
	Subscribe() (events <-chan api.Event, cancel func(), ok bool)
}

// maxPingTime bounds one ping request (count x (interval + timeout)).
const maxPingTime = 10 * time.Minute

var errNoLifecycle = errors.New("this node's API has no reload or down (not started by `meshnode up`)")

// maxBody bounds request bodies.
const maxBody = 64 << 10

// maxSocketPath is the longest unix socket path Linux accepts.
const maxSocketPath = 107

// Server serves the control API.
type Server struct {
	b    Backend
	log  *slog.Logger
	life Lifecycle // nil: no reload, down or config status
	to   timeouts
}

// NewServer returns a control server for b.
func NewServer(b Backend, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{b: b, log: log, to: defaultTimeouts()}
}

// route is one route of the API, relative to its version prefix: the unix
// socket serves it under /v1, the HTTP API under /api/v1.
type route struct {
	method, path string
	h            http.HandlerFunc
	// socketOnly routes are not on the HTTP API: down (stopping the node is
	// for its local user), and the ndjson events (the HTTP API streams SSE).
	socketOnly bool
}

// routes is every route the API has; the OpenAPI document describes the
// HTTP API's (openapi_test.go checks both ways).
func (s *Server) routes() []route {
	return []route{
		{method: "GET", path: "/status", h: s.status},
		{method: "GET", path: "/peers", h: func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, list(s.b.Peers())) }},
		{method: "GET", path: "/services", h: func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, list(s.b.Services())) }},
		{method: "GET", path: "/mappings", h: func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, list(s.b.Mappings())) }},
		{method: "POST", path: "/mappings", h: s.addMapping},
		{method: "DELETE", path: "/mappings/{port}", h: s.removeMapping},
		{method: "GET", path: "/serve", h: func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, list(s.b.LocalServices())) }},
		{method: "POST", path: "/serve", h: s.addService},
		{method: "PUT", path: "/serve/{serveid}", h: s.changeService},
		{method: "DELETE", path: "/serve/{serveid}", h: s.removeService},
		{method: "POST", path: "/ping", h: s.ping},
		{method: "GET", path: "/netcheck", h: s.netcheck},
		{method: "GET", path: "/events", h: s.events, socketOnly: true},
		{method: "POST", path: "/reload", h: s.reload},
		{method: "POST", path: "/down", h: s.down, socketOnly: true},
	}
}

// Handler returns the unix socket's HTTP handler: the routes under /v1.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.HandleFunc(rt.method+" /v1"+rt.path, rt.h)
	}
	mux.HandleFunc("/", noRoute)
	return mux
}

// list answers an empty list as [], not null.
func list[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func noRoute(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, fmt.Errorf("no API route %s %s", r.Method, r.URL.Path))
}

func (s *Server) addMapping(w http.ResponseWriter, r *http.Request) {
	var req api.MappingRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	mi, err := s.b.AddMapping(r.Context(), req)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusCreated, mi)
}

func (s *Server) removeMapping(w http.ResponseWriter, r *http.Request) {
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil || port < 1 || port > 65535 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("port %q is not a number in 1-65535", r.PathValue("port")))
		return
	}
	if err := s.b.RemoveMapping(port); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) addService(w http.ResponseWriter, r *http.Request) {
	var svc api.Service
	if err := decodeBody(w, r, &svc); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if err := checkServiceRequest(&svc); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	got, err := s.b.AddService(svc, true)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusCreated, got)
}

// checkServiceRequest checks a service a request asks this node to serve,
// defaulting its proto to tcp.
func checkServiceRequest(svc *api.Service) error {
	if svc.Proto == "" {
		svc.Proto = "tcp"
	}
	if err := overlay.Service(*svc).ValidateDeclared(); err != nil {
		return err
	}
	if svc.Claimed != 0 || svc.Was != 0 {
		return errors.New("claimed and was are set by the mesh, not by requests")
	}
	return nil
}

func (s *Server) removeService(w http.ResponseWriter, r *http.Request) {
	id, err := api.ParseServeID(r.PathValue("serveid"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if err := s.b.RemoveService(id); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// changeService replaces what this node serves under a serveid (target,
// name, info, proto), keeping its claim on the serveid. It is a remove and an
// add: when the add fails, the old service is put back.
func (s *Server) changeService(w http.ResponseWriter, r *http.Request) {
	id, err := api.ParseServeID(r.PathValue("serveid"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	var svc api.Service
	if err := decodeBody(w, r, &svc); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if svc.ID != 0 && svc.ID != id {
		writeError(w, http.StatusBadRequest, fmt.Errorf("the body's serveid %d is not the path's %d (a serveid does not change; remove and add instead)", svc.ID, id))
		return
	}
	svc.ID = id
	if err := checkServiceRequest(&svc); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	var old *api.Service
	for _, ls := range s.b.LocalServices() {
		if ls.ID == id {
			old = &ls
			break
		}
	}
	if old == nil {
		writeError(w, http.StatusNotFound, fmt.Errorf("serveid %d is not served by this node", id))
		return
	}
	if err := s.b.RemoveService(id); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	svc.Claimed = old.Claimed
	got, err := s.b.AddService(svc, true)
	if err != nil {
		if _, rerr := s.b.AddService(*old, true); rerr != nil {
			s.log.Error("changing a service failed and the old one could not be put back", "serveid", id, "err", rerr)
		}
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, got)
}

func (s *Server) ping(w http.ResponseWriter, r *http.Request) {
	req := api.PingRequest{Count: 3, IntervalMS: 200, TimeoutMS: 2000}
	if err := decodeBody(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	switch {
	case req.Peer == "":
		writeError(w, http.StatusBadRequest, errors.New("ping: no peer given"))
		return
	case req.IntervalMS < 10 || req.IntervalMS > 60_000:
		writeError(w, http.StatusBadRequest, fmt.Errorf("ping interval %d ms out of range 10-60000", req.IntervalMS))
		return
	case req.TimeoutMS < 10 || req.TimeoutMS > 60_000:
		writeError(w, http.StatusBadRequest, fmt.Errorf("ping timeout %d ms out of range 10-60000", req.TimeoutMS))
		return
	}
	if total := time.Duration(req.Count) * time.Duration(req.IntervalMS+req.TimeoutMS) * time.Millisecond; total > maxPingTime {
		writeError(w, http.StatusBadRequest, fmt.Errorf("ping of %d x (%d ms interval + %d ms timeout) could take %v; at most %v per request",
			req.Count, req.IntervalMS, req.TimeoutMS, total, maxPingTime))
		return
	}
	res, err := s.b.Ping(r.Context(), req.Peer, req.Count,
		time.Duration(req.IntervalMS)*time.Millisecond, time.Duration(req.TimeoutMS)*time.Millisecond)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) netcheck(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	rep, err := s.b.Netcheck(ctx)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, netcheckResult(rep))
}

// events streams events as JSON lines until the client goes away.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	evs, cancel, ok := s.b.Subscribe()
	if !ok {
		writeError(w, http.StatusServiceUnavailable, errors.New("too many event subscribers on this node"))
		return
	}
	defer cancel()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	enc := json.NewEncoder(w)
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-evs:
			if !ok {
				return
			}
			if enc.Encode(ev) != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("request body larger than %d bytes", maxBody)
		}
		if errors.Is(err, io.EOF) {
			return errors.New("request body is empty; want a JSON object")
		}
		return fmt.Errorf("request body: %w", err)
	}
	if dec.More() {
		return errors.New("request body has data after the JSON object")
	}
	return nil
}

func statusOf(err error) int {
	switch overlay.KindOf(err) {
	case overlay.KindInvalid:
		return http.StatusBadRequest
	case overlay.KindNotFound:
		return http.StatusNotFound
	case overlay.KindConflict:
		return http.StatusConflict
	case overlay.KindForbidden:
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, api.ErrorBody{Error: api.ErrorDetail{Code: api.CodeOf(code), Message: err.Error()}})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// Serve serves the API on ln (from Listen) until ctx is done, then removes the
// socket.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return serveUntil(ctx, s.to.server(s.Handler()), ln, "control API")
}

// serveUntil runs srv on ln until ctx is done, then shuts it down (open
// requests get 2 s); what names it in the error.
func serveUntil(ctx context.Context, srv *http.Server, ln net.Listener, what string) error {
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Listen opens the control socket at path (0600). A stale socket left by a crashed
// node is replaced; one that a live node answers on is not.
func Listen(path string) (net.Listener, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("control socket path %s is %d bytes; unix sockets allow %d", path, len(path), maxSocketPath)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control socket directory: %w", err)
	}
	if _, err := os.Stat(path); err == nil {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s is in use by another running node (give this one its own --control)", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale control socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}
