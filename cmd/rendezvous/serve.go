package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/meshnode/meshnode/pkg/relay"
	"github.com/meshnode/meshnode/pkg/stunsrv"
)

// serve runs the rendezvous until ctx is done. ready (nil: none) runs once
// the listeners are up.
func serve(ctx context.Context, cfg config, log *slog.Logger, ready func()) error {
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
	// Later issues add the admin listener here, next to the relay's.
	log.Info("rendezvous listening", append([]any{"addr", ln.Addr().String(), "ws", wsAddr, "tls", cfg.tlsCert != "",
		"max_conns", cfg.maxConns, "idle_timeout", cfg.idleTimeout}, stunAttr...)...)

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

	srv := relay.NewServer(relay.ServerConfig{
		Logger:      log,
		MaxConns:    cfg.maxConns,
		IdleTimeout: cfg.idleTimeout,
		STUNPorts:   ports,
	})
	if ready != nil {
		ready()
	}
	rctx, stopRelay := context.WithCancel(ctx)
	defer stopRelay()
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
	st, ss := srv.Stats(), stunSrv.Stats()
	log.Info("rendezvous stopped", "relayed_frames", st.FramesRelayed, "relayed_bytes", st.BytesRelayed,
		"dropped_queue_full", st.DroppedQueueFull, "dropped_unknown_dst", st.DroppedUnknownDst, "rejected", st.Rejected,
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
