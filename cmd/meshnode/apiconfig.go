package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/meshnode/meshnode/internal/config"
	"github.com/meshnode/meshnode/pkg/control"
	"github.com/meshnode/meshnode/pkg/control/web"
	"github.com/meshnode/meshnode/pkg/metrics"
)

// defaultAPIPort is the HTTP API's port for `--api on` and `--api` with a host
// but no port.
const defaultAPIPort = "7750"

// apiConfig is the HTTP API's part of `up`'s configuration.
type apiConfig struct {
	addr    string // "" = off
	keyFile string
	tls     *tls.Config // nil: plain HTTP
}

// parseAPIAddr turns the api setting into a listen address: "" or "off" is
// off, "on" is 127.0.0.1:7750, a bare port is that port on 127.0.0.1, anything
// else must be HOST:PORT.
func parseAPIAddr(v string) (string, error) {
	v = strings.TrimSpace(v)
	switch strings.ToLower(v) {
	case "", "off", "false", "no":
		return "", nil
	case "on", "true", "yes":
		return net.JoinHostPort("127.0.0.1", defaultAPIPort), nil
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 1 || n > 65535 {
			return "", fmt.Errorf("port %d out of range 1-65535", n)
		}
		return net.JoinHostPort("127.0.0.1", v), nil
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", fmt.Errorf("%q is not HOST:PORT, a port, on or off", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("%q: port %q is not a number in 0-65535", v, port)
	}
	if host != "" && host != "localhost" && net.ParseIP(host) == nil {
		return "", fmt.Errorf("%q: host %q is not an IP address (or localhost)", v, host)
	}
	return v, nil
}

// readAPI checks the HTTP API's settings: the address, the TLS pair (both or
// neither, only with api) and the key file's place.
func (a *app) readAPI(vals *config.Values, u *upConfig) error {
	addr, err := parseAPIAddr(vals.String("api"))
	if err != nil {
		return vals.Errorf("api", "%s: %w", vals.Ref("api"), err)
	}
	cert, key := vals.String("api-tls-cert"), vals.String("api-tls-key")
	if addr == "" {
		for _, name := range []string{"api-tls-cert", "api-tls-key", "api-key-file"} {
			if vals.String(name) != "" {
				return vals.Errorf(name, "%s is set but the HTTP API is off (give --api ADDR)", vals.Ref(name))
			}
		}
		return nil
	}
	u.api.addr = addr
	u.api.keyFile = vals.String("api-key-file")
	if u.api.keyFile == "" {
		u.api.keyFile = filepath.Join(u.paths.state, "api.key")
	}
	switch {
	case cert == "" && key == "":
		if !control.IsLoopback(addr) {
			u.warnings = append(u.warnings, fmt.Sprintf("THE HTTP API LISTENS ON %s WITHOUT TLS: its key and everything it answers cross the network in clear text; give --api-tls-cert and --api-tls-key, or keep it on 127.0.0.1", addr))
		}
	case cert == "":
		return vals.Errorf("api-tls-key", "%s needs api-tls-cert too", vals.Ref("api-tls-key"))
	case key == "":
		return vals.Errorf("api-tls-cert", "%s needs api-tls-key too", vals.Ref("api-tls-cert"))
	default:
		if st, err := os.Stat(key); err == nil && st.Mode().Perm()&0o004 != 0 {
			return vals.Errorf("api-tls-key", "%s %s is readable by every user (mode %04o); chmod 600 it", vals.Ref("api-tls-key"), key, st.Mode().Perm())
		}
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return vals.Errorf("api-tls-cert", "%s / %s: %w", vals.Ref("api-tls-cert"), vals.Ref("api-tls-key"), err)
		}
		u.api.tls = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	return nil
}

// listenAPI opens the HTTP API's listener and reads (or creates) its key;
// nil when the API is off. It runs before the node answers anything, so a
// port in use or a bad key file stops `up` at once.
func (d *daemon) listenAPI() (net.Listener, string, error) {
	c := d.start.api
	if c.addr == "" {
		return nil, "", nil
	}
	key, created, err := control.LoadOrCreateAPIKey(c.keyFile)
	if err != nil {
		return nil, "", err
	}
	if created {
		d.log.Info("created the HTTP API's key", "path", c.keyFile)
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return nil, "", fmt.Errorf("HTTP API (--api %s): %w", c.addr, err)
	}
	return ln, key, nil
}

// serveAPI serves the HTTP API on ln until ctx ends; done gets Serve's result.
// The key is never logged: the log says where it is.
func (d *daemon) serveAPI(ctx context.Context, ctl *control.Server, ln net.Listener, key string, done chan<- error) error {
	c := d.start.api
	h, err := ctl.APIHandler(ctx, control.APIConfig{
		Key:       key,
		Dashboard: web.Handler(),
		Metrics:   metrics.NodeHandler(d.node, d.log, d.metricsOptions()), // behind the same key
		Profiling: true,                                                   // /debug/pprof/, behind the same key
	})
	if err != nil {
		ln.Close()
		return err
	}
	go func() { done <- ctl.ServeAPI(ctx, ln, h, c.tls) }()
	scheme := "http"
	if c.tls != nil {
		scheme = "https"
	}
	d.log.Info("HTTP API ready", "addr", ln.Addr().String(), "url", scheme+"://"+ln.Addr().String()+"/", "key_file", c.keyFile)
	return nil
}
