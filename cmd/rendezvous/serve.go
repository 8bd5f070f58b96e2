package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/meshnode/meshnode/pkg/metrics"
	"github.com/meshnode/meshnode/pkg/relay"
	"github.com/meshnode/meshnode/pkg/stunsrv"
	"github.com/meshnode/meshnode/pkg/transport"
)

// serve runs the rendezvous until ctx is done. keys are the auth keys (nil:
// open); ready runs once the listeners are up, with the relay server.
func serve(ctx context.Context, cfg config, keys *relay.AuthKeys, log *slog.Logger, ready func(*relay.Server)) error {
	tlsCfg, err := loadTLS(cfg)
	if err != nil {
		return err
	}
	ln, err := listen(cfg, tlsCfg)
	if err != nil {
		return err
	}
	wsln, err := listenWS(cfg, tlsCfg)
	if err != nil {
		ln.Close()
		return err
	}
	stunConns, err := listenSTUN(cfg, log)
	if err != nil {
		ln.Close()
		if wsln != nil {
			wsln.Close()
		}
		return err
	}
	httpLns, err := listenHTTP(cfg, log)
	if err != nil {
		ln.Close()
		if wsln != nil {
			wsln.Close()
		}
		for _, pc := range stunConns {
			pc.Close()
		}
		return err
	}
	defer httpLns.close()
	wsAddr := "off"
	if wsln != nil {
		wsAddr = wsln.Addr().String()
	}
	var ports []uint16
	stunAttr := []any{"stun", "off"}
	if len(stunConns) > 0 {
		stunAttr = stunAttr[:0]
	}
	for i, pc := range stunConns {
		ports = append(ports, uint16(pc.LocalAddr().(*net.UDPAddr).Port))
		stunAttr = append(stunAttr, [...]string{"stun", "stun2"}[i], pc.LocalAddr().String())
	}
	access := "open"
	if keys != nil {
		access = fmt.Sprintf("%d auth keys", keys.Len())
	}
	if tlsCfg != nil {
		// The certificate's key hash: what nodes give --rendezvous-pin (a
		// public value) to trust a self-signed or private certificate.
		if pin, err := transport.TLSCertPin(tlsCfg.Certificates[0]); err == nil {
			stunAttr = append(stunAttr, "tls_pin", pin)
		}
	}
	log.Info("rendezvous listening", append(append([]any{"addr", ln.Addr().String(), "ws", wsAddr, "tls", cfg.tlsCert != "",
		"access", access, "max_conns", cfg.maxConns, "idle_timeout", cfg.idleTimeout}, stunAttr...), httpLns.attrs()...)...)
	wsExposed := ""
	if wsln != nil {
		wsExposed = wsAddr
	}
	if keys == nil && len(exposed(ln.Addr().String(), wsExposed)) > 0 {
		log.Warn("this rendezvous is OPEN: anyone who can reach it may relay through it (--open); give it --auth-keys to admit only your nodes")
	}

	stunSrv := stunsrv.New(stunsrv.Config{Logger: log})
	sctx, stopSTUN := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, pc := range stunConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := stunSrv.Serve(sctx, pc); err != nil {
				log.Error("STUN server stopped", "err", err)
			}
		}()
	}

	limits := cfg.limits
	limits.Logger, limits.STUNPorts, limits.AuthKeys = log, ports, keys
	srv := relay.NewServer(limits)
	if ready != nil {
		ready(srv)
	}
	rctx, stopRelay := context.WithCancel(ctx)
	defer stopRelay()
	httpDone := httpLns.serve(rctx, srv, stunSrv, log)
	stopWS := func() error { return nil }
	if wsln != nil {
		stopWS = serveWS(rctx, stopRelay, wsln, cfg, srv, log)
	}
	err = srv.Serve(rctx, ln)
	if werr := stopWS(); err == nil {
		err = werr
	}
	stopSTUN()
	wg.Wait()
	stopRelay()
	if herr := httpDone(); err == nil {
		err = herr
	}
	st, ss := srv.Stats(), stunSrv.Stats()
	log.Info("rendezvous stopped", "relayed_frames", st.FramesRelayed, "relayed_bytes", st.BytesRelayed,
		"dropped_queue_full", st.DroppedQueueFull, "dropped_fair_share", st.DroppedFairShare, "dropped_memory", st.DroppedMemory,
		"dropped_unknown_dst", st.DroppedUnknownDst, "rejected", st.Rejected, "rejected_auth", st.RejectedAuth,
		"evicted", st.Evicted, "clashes", st.Clashes,
		"stun_answered", ss.Answered, "stun_malformed", ss.Malformed, "stun_rate_limited", ss.RateLimited)
	return err
}

// loadTLS returns the server's TLS configuration, or nil without --tls-cert.
func loadTLS(cfg config) (*tls.Config, error) {
	if cfg.tlsCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("load --tls-cert %s / --tls-key %s: %w", cfg.tlsCert, cfg.tlsKey, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// listen opens the relay's TCP listener, wrapped in TLS when tlsCfg is set.
func listen(cfg config, tlsCfg *tls.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %s: %w", cfg.listen, err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	return ln, nil
}

// listenSTUN opens the STUN sockets, primary first. When the addresses are the
// defaults (not set by flag or environment) a port that is taken (another
// rendezvous on this host, a coturn) only costs a warning: the rendezvous runs
// without it and announces only the ports it has. An explicit address that cannot
// be bound is an error.
func listenSTUN(cfg config, log *slog.Logger) ([]*net.UDPConn, error) {
	var conns []*net.UDPConn
	for _, f := range []struct{ name, addr string }{{"--stun", cfg.stun}, {"--stun2", cfg.stun2}} {
		if f.addr == "" {
			continue
		}
		pc, err := listenUDP(f.addr)
		if err != nil {
			if cfg.stunSet {
				for _, c := range conns {
					c.Close()
				}
				return nil, fmt.Errorf("%s %s: %w", f.name, f.addr, err)
			}
			log.Warn("STUN port unavailable; running without it", "flag", f.name, "addr", f.addr, "err", err)
			if len(conns) == 0 {
				return nil, nil // a second port alone cannot classify a NAT's mapping
			}
			continue
		}
		conns = append(conns, pc)
	}
	return conns, nil
}

func listenUDP(addr string) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	return net.ListenUDP("udp", ua)
}

// httpListeners are the metrics and admin listeners (nil: off) and the admin key.
type httpListeners struct {
	metrics, admin net.Listener
	adminKey       string
}

// listenHTTP opens the --metrics and --admin listeners and reads (or creates)
// the admin key.
func listenHTTP(cfg config, log *slog.Logger) (*httpListeners, error) {
	h := &httpListeners{}
	if cfg.admin != "" {
		key, err := loadAdminKey(cfg.adminKey, log)
		if err != nil {
			return nil, err
		}
		h.adminKey = key
	}
	for _, l := range []struct {
		flag, addr string
		ln         *net.Listener
	}{{"--metrics", cfg.metrics, &h.metrics}, {"--admin", cfg.admin, &h.admin}} {
		if l.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			h.close()
			return nil, fmt.Errorf("%s %s: %w", l.flag, l.addr, err)
		}
		*l.ln = ln
		if _, loopback, _ := metrics.ListenAddr(ln.Addr().String()); !loopback {
			what := "metrics are served without authentication"
			if l.flag == "--admin" {
				what = "the admin API is plain HTTP: its key crosses the network in clear"
			}
			log.Warn(what+" on a non-loopback address; keep it on loopback or a private network, or behind a TLS proxy", "addr", ln.Addr().String())
		}
	}
	return h, nil
}

// attrs are the listeners' bound addresses for the "rendezvous listening" line.
func (h *httpListeners) attrs() []any {
	var a []any
	if h.metrics != nil {
		a = append(a, "metrics", h.metrics.Addr().String())
	}
	if h.admin != nil {
		a = append(a, "admin", h.admin.Addr().String())
	}
	return a
}

func (h *httpListeners) close() {
	for _, ln := range []net.Listener{h.metrics, h.admin} {
		if ln != nil {
			ln.Close()
		}
	}
}

// serve serves metrics and the admin API until ctx is done; the function it
// returns waits for both to stop and returns the first error.
func (h *httpListeners) serve(ctx context.Context, srv *relay.Server, stunSrv *stunsrv.Server, log *slog.Logger) func() error {
	if h.metrics == nil && h.admin == nil {
		return func() error { return nil }
	}
	reg := metrics.NewRendezvousRegistry(metrics.RendezvousSource{Relay: srv, STUN: stunSrv})
	mh := metrics.Handler(reg, log)
	errs := make(chan error, 2)
	n := 0
	if h.metrics != nil {
		n++
		go func() { errs <- metrics.Serve(ctx, h.metrics, metrics.Mux(mh)) }()
	}
	if h.admin != nil {
		n++
		go func() { errs <- metrics.Serve(ctx, h.admin, newAdminHandler(srv, h.adminKey, mh, log)) }()
	}
	return func() error {
		var first error
		for range n {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		return first
	}
}
