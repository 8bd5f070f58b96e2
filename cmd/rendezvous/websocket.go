package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"golang.org/x/net/netutil"

	"github.com/meshnode/meshnode/pkg/relay"
	"github.com/meshnode/meshnode/pkg/transport"
)

// HTTP limits of the WebSocket endpoint: requests are a single upgrade with a
// few headers, so anything slow or large is not a node.
const (
	wsMaxHeaderBytes = 16 << 10
	wsReadHeader     = relay.DefaultHandshakeTimeout
	// wsConnHeadroom: TCP connections the endpoint holds beyond --max-conns, so
	// a node over the limit still reaches the relay server and hears why it is
	// refused, while connections that never upgrade stay bounded.
	wsConnHeadroom = 64
)

// listenWS opens the WebSocket endpoint's listener (TLS when tlsCfg is set), or
// returns nil when --ws-listen is off.
func listenWS(cfg config, tlsCfg *tls.Config) (net.Listener, error) {
	if cfg.wsListen == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.wsListen)
	if err != nil {
		return nil, fmt.Errorf("--ws-listen %s: %w", cfg.wsListen, err)
	}
	// Upgraded or not, every connection counts: idle HTTP clients cannot pile up.
	ln = netutil.LimitListener(ln, cfg.maxConns+wsConnHeadroom)
	if tlsCfg != nil {
		c := tlsCfg.Clone()
		c.NextProtos = []string{"http/1.1"} // a WebSocket upgrade needs HTTP/1.1, never h2
		ln = tls.NewListener(ln, c)
	}
	return ln, nil
}

// serveWS serves HTTP on ln in the background, upgrading requests for cfg.wsPath
// to WebSockets that srv serves like its TCP connections. If the HTTP server
// fails, it logs why and calls fail (which stops the rendezvous). The returned
// stop closes the HTTP server (upgraded connections are srv's and close with it)
// and returns the HTTP server's error, if it failed.
func serveWS(ctx context.Context, fail func(), ln net.Listener, cfg config, srv *relay.Server, log *slog.Logger) (stop func() error) {
	hs := &http.Server{
		Handler:           &wsHandler{path: cfg.wsPath, relay: srv, log: log},
		ReadHeaderTimeout: wsReadHeader,
		IdleTimeout:       cfg.idleTimeout,
		MaxHeaderBytes:    wsMaxHeaderBytes,
		// TLS handshake failures and the like: one debug line each.
		ErrorLog:    slog.NewLogLogger(log.With("listener", "ws").Handler(), slog.LevelDebug),
		BaseContext: func(net.Listener) context.Context { return ctx }, // ServeConn ends with ctx
	}
	done := make(chan error, 1)
	go func() {
		err := hs.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		} else {
			err = fmt.Errorf("--ws-listen %s: %w", ln.Addr(), err)
			log.Error("WebSocket listener failed; stopping", "err", err)
			fail()
		}
		done <- err
	}()
	return func() error {
		hs.Close()
		return <-done
	}
}

// wsHandler routes the WebSocket endpoint: its path is upgraded and handed to the
// relay server; everything else gets a short HTTP error saying what is wrong.
type wsHandler struct {
	path  string
	relay *relay.Server
	log   *slog.Logger
}

// ServeHTTP serves one request; for an upgraded one it returns when the relay
// connection has ended.
func (h *wsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != h.path {
		// The configured path is not named: it may be what keeps scanners away.
		http.Error(w, "404 not found: no meshnode relay WebSocket endpoint at this path; the node's URL must use the rendezvous' --ws-path", http.StatusNotFound)
		h.refused(r, http.StatusNotFound, "wrong path")
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	nc, err := transport.AcceptWebSocket(sw, r)
	if err != nil {
		h.refused(r, sw.status, err.Error())
		return
	}
	if err := h.relay.ServeConn(r.Context(), nc); err != nil {
		h.log.Debug("websocket connection refused", "remote", r.RemoteAddr, "reason", err.Error())
	}
}

// refused logs a request that was not upgraded: one debug line, with the path
// but never the query or headers (they may carry credentials).
func (h *wsHandler) refused(r *http.Request, status int, reason string) {
	h.log.Debug("websocket request refused", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path,
		"status", status, "reason", reason)
}

// statusWriter records the status code of a response, for the log. Unwrap lets
// the WebSocket library reach the connection's Hijacker.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
