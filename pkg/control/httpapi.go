package control

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"
)

// APIConfig configures the HTTP API (APIHandler).
type APIConfig struct {
	// Key is the API key every /api and /metrics request must present, as
	// "Authorization: Bearer KEY" or "X-API-Key: KEY". Required.
	Key string
	// Metrics, when set, is served at /metrics behind the same key (the
	// Prometheus handler).
	Metrics http.Handler
	// Profiling serves the Go runtime's profiles (net/http/pprof: CPU, heap,
	// goroutines, execution trace) at /debug/pprof/ behind the same key, for
	// finding where a running node spends its time.
	Profiling bool
	// Dashboard, when set, is served at / without a key: static files only;
	// the page asks for the key and sends it with its API calls.
	Dashboard http.Handler
	// Heartbeat is how often an idle SSE stream gets a comment; 0 means 15 s.
	Heartbeat time.Duration
}

// APIHandler returns the HTTP API's handler: the routes under /api/v1 (events
// as Server-Sent Events), /api/v1/openapi.json, cfg.Metrics at /metrics, the
// profiles at /debug/pprof/ (cfg.Profiling) and cfg.Dashboard at /. The event log it keeps for SSE resumes runs until ctx
// ends.
func (s *Server) APIHandler(ctx context.Context, cfg APIConfig) (http.Handler, error) {
	if len(cfg.Key) < minAPIKeyLen {
		return nil, fmt.Errorf("HTTP API: the API key must be at least %d characters", minAPIKeyLen)
	}
	evlog, err := newEventLog(ctx, s.b, cfg.Heartbeat)
	if err != nil {
		return nil, fmt.Errorf("HTTP API: %w", err)
	}
	mux := http.NewServeMux()
	for _, rt := range s.apiRoutes(evlog) {
		mux.HandleFunc(rt.method+" "+apiPrefix+rt.path, rt.h)
	}
	mux.HandleFunc("/api/", noRoute)
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	if cfg.Profiling {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index) // and the named profiles: heap, goroutine, allocs, block, mutex, ...
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	if cfg.Dashboard != nil {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				noRoute(w, r)
				return
			}
			cfg.Dashboard.ServeHTTP(w, r)
		})
	} else {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotFound, fmt.Errorf("no such page %s; the API is under %s/", r.URL.Path, apiPrefix))
		})
	}
	return guard(cfg.Key, mux), nil
}

// apiRoutes are the HTTP API's routes under apiPrefix: the socket's but down
// and the ndjson events, plus events as SSE and the OpenAPI document.
func (s *Server) apiRoutes(evlog *eventLog) []route {
	var out []route
	for _, rt := range s.routes() {
		if !rt.socketOnly {
			out = append(out, rt)
		}
	}
	return append(out,
		route{method: "GET", path: "/events", h: evlog.serveSSE},
		route{method: "GET", path: "/openapi.json", h: serveOpenAPI})
}

// apiPrefix is where the HTTP API's versioned routes are.
const apiPrefix = "/api/v1"

// needsKey says whether a path is behind the API key: the API, the metrics
// and the profiles; the dashboard's static files are not (they hold no data).
func needsKey(path string) bool {
	return strings.HasPrefix(path, "/api/") || path == "/api" || path == "/metrics" || strings.HasPrefix(path, "/debug/")
}

// guard refuses cross-origin browser requests (403) and, on the API and the
// metrics, requests without the key (401, with no detail: a missing key and a
// wrong one look the same).
func guard(key string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		if o := r.Header.Get("Origin"); o != "" && o != ownOrigin(r) {
			writeError(w, http.StatusForbidden, errors.New("cross-origin requests are refused"))
			return
		}
		if !needsKey(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		// A browser says where a request comes from even when it sends no
		// Origin (a GET from an <img> or a link): only the API's own pages
		// and direct requests (curl, the address bar) may use it.
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			writeError(w, http.StatusForbidden, errors.New("cross-origin requests are refused"))
			return
		}
		h.Set("Cache-Control", "no-store")
		if !keyMatches(presentedKey(r), key) {
			h.Set("WWW-Authenticate", `Bearer realm="meshnode"`)
			writeError(w, http.StatusUnauthorized, errors.New("missing or wrong API key"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// presentedKey is the key of "Authorization: Bearer KEY", else of
// "X-API-Key: KEY" (so a reverse proxy's own Basic authorization can stand
// beside it).
func presentedKey(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(tok)
	}
	return r.Header.Get("X-API-Key")
}

// ownOrigin is the origin a page served by this listener has.
func ownOrigin(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// ServeAPI serves h (from APIHandler) on ln, over TLS when tlsCfg is not nil,
// until ctx is done.
func (s *Server) ServeAPI(ctx context.Context, ln net.Listener, h http.Handler, tlsCfg *tls.Config) error {
	srv := s.to.server(h)
	// net/http's own complaints (TLS handshakes that fail, bad requests) go to
	// the node's log at debug level: anyone can cause them.
	srv.ErrorLog = slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	return serveUntil(ctx, srv, ln, "HTTP API")
}

// IsLoopback reports whether a listen address (HOST:PORT) only accepts
// connections from this machine.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
