package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"

	"github.com/meshnode/meshnode/pkg/relay"
)

// serve runs the rendezvous until ctx is done.
func serve(ctx context.Context, cfg config, log *slog.Logger) error {
	ln, err := listen(cfg)
	if err != nil {
		return err
	}
	// Later issues add the STUN (UDP) and admin listeners here, next to the relay's.
	log.Info("rendezvous listening", "addr", ln.Addr().String(), "tls", cfg.tlsCert != "",
		"max_conns", cfg.maxConns, "idle_timeout", cfg.idleTimeout)
	srv := relay.NewServer(relay.ServerConfig{
		Logger:      log,
		MaxConns:    cfg.maxConns,
		IdleTimeout: cfg.idleTimeout,
	})
	err = srv.Serve(ctx, ln)
	st := srv.Stats()
	log.Info("rendezvous stopped", "relayed_frames", st.FramesRelayed, "relayed_bytes", st.BytesRelayed,
		"dropped_queue_full", st.DroppedQueueFull, "dropped_unknown_dst", st.DroppedUnknownDst, "rejected", st.Rejected)
	return err
}

// listen opens the relay's TCP listener, wrapped in TLS when configured.
func listen(cfg config) (net.Listener, error) {
	var tlsCfg *tls.Config
	if cfg.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("load --tls-cert %s / --tls-key %s: %w", cfg.tlsCert, cfg.tlsKey, err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %s: %w", cfg.listen, err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	return ln, nil
}
