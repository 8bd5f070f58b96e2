package proxyentry

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The HTTP proxy entry: CONNECT host:port (any TCP protocol, https:// from
// browsers and curl) and plain http:// requests in absolute form, which are
// forwarded over a connection to the named service. A request that is not a
// proxy request gets 400; a missing or wrong Proxy-Authorization 407; an
// unknown or unreachable name 502, a refused one 403, each with a one-line
// text body saying why.

const (
	httpIdleTimeout = 2 * time.Minute
	maxHeaderBytes  = 64 << 10
)

func (s *Server) newHTTPProxy() *http.Server {
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL = r.In.URL // already absolute: forward as asked
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{
			DialContext:           s.httpDial,
			MaxIdleConns:          64,
			MaxIdleConnsPerHost:   8,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: 0, // a slow service is the client's business
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Info("proxy request failed", "client", r.RemoteAddr, "to", r.URL.Host, "err", err)
			httpError(w, err)
		},
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.httpAuthorized(r) {
			w.Header().Set("Proxy-Authenticate", `Basic realm="meshnode"`)
			http.Error(w, "proxy authentication required", http.StatusProxyAuthRequired)
			return
		}
		switch {
		case r.Method == http.MethodConnect:
			s.httpConnect(w, r)
		case r.URL.IsAbs() && r.URL.Scheme == "http":
			rp.ServeHTTP(w, r)
		case r.URL.IsAbs():
			http.Error(w, fmt.Sprintf("this proxy forwards http:// URLs; for %s:// use CONNECT (the client's proxy setting does)", r.URL.Scheme), http.StatusBadRequest)
		default:
			http.Error(w, "this is a proxy: send requests for http://NAME.NODE.mesh/ through it, or CONNECT", http.StatusBadRequest)
		}
	})
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.cfg.HandshakeTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// httpAuthorized checks Proxy-Authorization when the entry has credentials.
func (s *Server) httpAuthorized(r *http.Request) bool {
	if s.cfg.Username == "" {
		return true
	}
	v := r.Header.Get("Proxy-Authorization")
	scheme, enc, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return false
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	return ok && checkUserPass(s.cfg.Username, s.cfg.Password, user, pass)
}

// httpDial is the forwarding transport's dialer: addr is host:port of the
// request's URL.
func (s *Server) httpDial(ctx context.Context, _, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, _ := strconv.Atoi(portStr)
	t, mesh, err := s.cfg.target(host, port)
	switch {
	case err != nil:
		return nil, err
	case mesh:
		return s.d.DialTCP(ctx, t)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", classifyNetErr(err), err)
	}
	return c, nil
}

// httpConnect answers CONNECT host:port with a spliced connection.
func (s *Server) httpConnect(w http.ResponseWriter, r *http.Request) {
	host, portStr, err := net.SplitHostPort(r.Host)
	port, perr := strconv.Atoi(portStr)
	if err != nil || perr != nil || port < 1 || port > 65535 {
		http.Error(w, fmt.Sprintf("CONNECT %q: want HOST:PORT", r.Host), http.StatusBadRequest)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "CONNECT is not supported on this connection (HTTP/2)", http.StatusHTTPVersionNotSupported)
		return
	}
	var client net.Addr
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		client = net.TCPAddrFromAddrPort(ap)
	}
	ctx, cancel := context.WithTimeout(withClient(r.Context(), client), s.cfg.HandshakeTimeout)
	defer cancel()
	svc, err := s.httpDial(ctx, "tcp", net.JoinHostPort(host, portStr))
	if err != nil {
		s.log.Info("proxy request failed", "client", r.RemoteAddr, "to", r.Host, "err", err)
		httpError(w, err)
		return
	}
	defer svc.Close()
	c, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	if !s.track(c) {
		return
	}
	defer s.untrack(c)
	s.log.Debug("proxy request", "client", r.RemoteAddr, "to", r.Host)
	c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		c.Close()
		return
	}
	splice(c, brw.Reader, svc)
}

// httpError answers a failed dial with the status its cause calls for.
func httpError(w http.ResponseWriter, err error) {
	code := http.StatusBadGateway
	switch {
	case errors.Is(err, ErrNotAllowed):
		code = http.StatusForbidden
	case errors.Is(err, context.DeadlineExceeded):
		code = http.StatusGatewayTimeout
	}
	http.Error(w, err.Error(), code)
}
