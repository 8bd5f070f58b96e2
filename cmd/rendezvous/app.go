package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/meshnode/meshnode/pkg/relay"
	"github.com/meshnode/meshnode/pkg/transport"
)

// config is the server's configuration, from flags and environment.
type config struct {
	listen      string
	wsListen    string // "" = no WebSocket endpoint
	wsPath      string
	stun        string // "" = no STUN
	stun2       string // "" = no second STUN port
	stunSet     bool   // --stun/--stun2 given explicitly: a bind failure is fatal
	maxConns    int
	idleTimeout time.Duration
	tlsCert     string
	tlsKey      string
	logLevel    slog.Level
	logJSON     bool
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:      "rendezvous",
		Usage:     "where meshnode nodes meet: authentication, group presence and relay",
		UsageText: "rendezvous [--listen ADDR] [--ws-listen ADDR [--ws-path PATH]] [--stun ADDR] [--stun2 ADDR] [--max-conns N] [--idle-timeout D] [--tls-cert FILE --tls-key FILE] [--log-level LEVEL] [--log-format FORMAT]",
		Writer:    stdout,
		ErrWriter: stderr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: ":7749", EnvVars: []string{"RENDEZVOUS_LISTEN"},
				Usage: "listen for nodes on `ADDR` (host:port)"},
			&cli.StringFlag{Name: "ws-listen", EnvVars: []string{"RENDEZVOUS_WS_LISTEN"},
				Usage: "also serve nodes over WebSocket, on HTTP (HTTPS with --tls-cert) `ADDR` (host:port), for networks that pass only HTTP(S); \"\" = off"},
			&cli.StringFlag{Name: "ws-path", Value: transport.WebSocketPath, EnvVars: []string{"RENDEZVOUS_WS_PATH"},
				Usage: "the HTTP `PATH` of the WebSocket endpoint; nodes must dial a URL with this path"},
			&cli.StringFlag{Name: "stun", Value: ":3478", EnvVars: []string{"RENDEZVOUS_STUN"},
				Usage: "answer STUN binding requests on UDP `ADDR`; \"\" disables STUN (and --stun2)"},
			&cli.StringFlag{Name: "stun2", Value: ":3479", EnvVars: []string{"RENDEZVOUS_STUN2"},
				Usage: "a second STUN UDP `ADDR`, so nodes can tell whether their NAT maps per destination; \"\" disables it"},
			&cli.IntFlag{Name: "max-conns", Value: relay.DefaultMaxConns, EnvVars: []string{"RENDEZVOUS_MAX_CONNS"},
				Usage: "accept at most `N` node connections at once; more are refused with an error"},
			&cli.DurationFlag{Name: "idle-timeout", Value: relay.DefaultIdleTimeout, EnvVars: []string{"RENDEZVOUS_IDLE_TIMEOUT"},
				Usage: "close a connection that sent nothing for `DURATION` (nodes ping every 15s)"},
			&cli.PathFlag{Name: "tls-cert", EnvVars: []string{"RENDEZVOUS_TLS_CERT"}, TakesFile: true,
				Usage: "serve TLS with this PEM certificate chain `FILE` (needs --tls-key)"},
			&cli.PathFlag{Name: "tls-key", EnvVars: []string{"RENDEZVOUS_TLS_KEY"}, TakesFile: true,
				Usage: "PEM private key `FILE` of --tls-cert"},
			&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"RENDEZVOUS_LOG_LEVEL"},
				Usage: "log `LEVEL`: debug, info, warn or error"},
			&cli.StringFlag{Name: "log-format", Value: "text", EnvVars: []string{"RENDEZVOUS_LOG_FORMAT"},
				Usage: "log `FORMAT`: text or json"},
		},
		HideHelpCommand: true,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%w (see rendezvous --help)", err)
		},
		// Exit codes are run's business: never os.Exit from inside the library.
		ExitErrHandler: func(*cli.Context, error) {},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected argument %q: rendezvous takes only flags (see rendezvous --help)", c.Args().First())
			}
			cfg, err := parseConfig(c)
			if err != nil {
				return err
			}
			return serve(c.Context, cfg, newLogger(c.App.ErrWriter, cfg))
		},
	}
}

// parseConfig checks the flags and turns them into a config.
func parseConfig(c *cli.Context) (config, error) {
	cfg := config{
		listen:      c.String("listen"),
		wsListen:    c.String("ws-listen"),
		wsPath:      c.String("ws-path"),
		stun:        c.String("stun"),
		stun2:       c.String("stun2"),
		stunSet:     c.IsSet("stun") || c.IsSet("stun2"),
		maxConns:    c.Int("max-conns"),
		idleTimeout: c.Duration("idle-timeout"),
		tlsCert:     c.Path("tls-cert"),
		tlsKey:      c.Path("tls-key"),
	}
	if cfg.listen == "" {
		return cfg, errors.New("--listen is empty: give a host:port such as :7749")
	}
	if cfg.wsListen != "" {
		if _, port, err := net.SplitHostPort(cfg.wsListen); err != nil || port == "" {
			return cfg, fmt.Errorf("--ws-listen %q: want host:port such as :443, or \"\" for no WebSocket endpoint", cfg.wsListen)
		}
	}
	if !strings.HasPrefix(cfg.wsPath, "/") || strings.ContainsAny(cfg.wsPath, "?# ") {
		return cfg, fmt.Errorf("--ws-path %q: want an absolute URL path such as %s", cfg.wsPath, transport.WebSocketPath)
	}
	if cfg.stun == "" {
		cfg.stun2 = ""
	}
	for _, f := range []struct{ name, addr string }{{"--stun", cfg.stun}, {"--stun2", cfg.stun2}} {
		if f.addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(f.addr); err != nil || port == "" {
			return cfg, fmt.Errorf("%s %q: want host:port such as :3478, or \"\" to disable", f.name, f.addr)
		}
	}
	if cfg.maxConns <= 0 {
		return cfg, fmt.Errorf("--max-conns must be at least 1, got %d", cfg.maxConns)
	}
	if cfg.idleTimeout <= 0 {
		return cfg, fmt.Errorf("--idle-timeout must be positive, got %v", cfg.idleTimeout)
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return cfg, errors.New("--tls-cert and --tls-key go together: give both or neither")
	}
	var err error
	if cfg.logLevel, err = parseLevel(c.String("log-level")); err != nil {
		return cfg, err
	}
	switch f := c.String("log-format"); f {
	case "text":
	case "json":
		cfg.logJSON = true
	default:
		return cfg, fmt.Errorf("invalid --log-format %q: want text or json", f)
	}
	return cfg, nil
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("invalid --log-level %q: want debug, info, warn or error", s)
}

func newLogger(w io.Writer, cfg config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.logLevel}
	if cfg.logJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
