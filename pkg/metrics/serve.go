package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ListenAddr checks a --metrics (or --admin) address and fills in the host:
// "PORT" and ":PORT" listen on 127.0.0.1 (loopback unless a host is given).
// It reports whether the address is a loopback one; what listens elsewhere is
// reachable by other machines, which the caller should say.
func ListenAddr(s string) (addr string, loopback bool, err error) {
	if s == "" {
		return "", false, errors.New("empty address: want host:port, :port or a port")
	}
	if _, err := strconv.Atoi(s); err == nil {
		s = ":" + s
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", false, fmt.Errorf("%q: want host:port, :port or a port: %w", s, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return "", false, fmt.Errorf("%q: port %q is not a number from 0 to 65535", s, port)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if strings.EqualFold(host, "localhost") {
		loopback = true
	} else if ip := net.ParseIP(host); ip != nil {
		loopback = ip.IsLoopback()
	}
	return net.JoinHostPort(host, port), loopback, nil
}

// Serve serves h on ln until ctx is done (then it shuts down, waiting up to a
// second for requests in flight, and returns nil) or ln fails. Requests are
// bounded: headers within 5 s, a response within 30 s, small headers.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(done)
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	})
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-done
		return nil
	}
	if !stop() {
		<-done
	}
	return fmt.Errorf("serve %s: %w", ln.Addr(), err)
}
