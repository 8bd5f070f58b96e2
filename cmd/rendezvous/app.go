package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	cfgtab "github.com/meshnode/meshnode/internal/config"
	"github.com/meshnode/meshnode/internal/sdnotify"
	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/metrics"
	"github.com/meshnode/meshnode/pkg/relay"
	"github.com/meshnode/meshnode/pkg/transport"
)

// config is the server's configuration, from flags, environment and file.
type config struct {
	listen      string
	wsListen    string // "" = no WebSocket endpoint
	wsPath      string
	stun        string // "" = no STUN
	stun2       string // "" = no second STUN port
	stunSet     bool   // stun/stun2 given explicitly: a bind failure is fatal
	authKeys    string // the keys file; "" = none (open)
	open        bool   // no keys on purpose, also on a public address
	limits      relay.ServerConfig
	maxConns    int
	idleTimeout time.Duration
	tlsCert     string
	tlsKey      string
	metrics     string // the metrics listener; "" = off
	admin       string // the admin API's listener; "" = off
	adminKey    string // the admin key file
	logLevel    slog.Level
	logJSON     bool
	vals        *cfgtab.Values // the merged settings, with sources
}

// env is what a run of the command gets from its process: tests give their own.
type env struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
	hup            <-chan os.Signal // SIGHUP: re-read the config file (nil: never)
	parseOnly      bool             // check the command line, run nothing (README test)
	// notify tells systemd (Type=notify) when the listeners are up and
	// around reloads; nil: not run by a service manager.
	notify *sdnotify.Notifier
}

func newApp(e *env) *cli.App {
	table := settings()
	return &cli.App{
		Name:      "rendezvous",
		Usage:     "where meshnode nodes meet: authentication, group presence and relay",
		UsageText: "rendezvous [--config FILE] [--listen ADDR] [--auth-keys FILE | --open] [--ws-listen ADDR [--ws-path PATH]] [--stun ADDR] [--stun2 ADDR] [--tls-cert FILE --tls-key FILE] [--metrics ADDR] [--admin ADDR --admin-key-file FILE] [limits...] [--log-level LEVEL] [--log-format FORMAT]\n   rendezvous keygen [--label NAME] [--groups G1,G2] [--expires DATE]",
		Version:   version,
		Writer:    e.stdout,
		ErrWriter: e.stderr,
		Flags: append(table.AllFlags(),
			&cli.BoolFlag{Name: "print-config", Usage: "print the merged configuration with each value's source and exit"}),
		HideHelpCommand: true,
		Commands:        []*cli.Command{keygenCommand(e)},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%w (see rendezvous --help)", err)
		},
		// Exit codes are run's business: never os.Exit from inside the library.
		ExitErrHandler: func(*cli.Context, error) {},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unexpected argument %q: rendezvous takes only flags (see rendezvous --help)", c.Args().First())
			}
			if e.parseOnly {
				return nil
			}
			ld := &loader{table: table, c: c, env: e}
			if c.Bool("print-config") {
				vals, err := ld.values()
				if err != nil {
					return err
				}
				return vals.Print(e.stdout)
			}
			cfg, err := ld.load()
			if err != nil {
				return err
			}
			level := new(slog.LevelVar)
			level.Set(cfg.logLevel)
			log := newLevelLogger(c.App.ErrWriter, cfg, level)
			r := &reloader{loader: ld, log: log, level: level, start: cfg, cur: cfg}
			keys, err := r.loadKeys(cfg)
			if err != nil {
				return err
			}
			ctx, stop := context.WithCancel(c.Context)
			defer stop()
			return serve(ctx, cfg, keys, log, func(srv *relay.Server) {
				r.srv = srv
				go r.watch(ctx, e.hup)
				notifyErr(log, "READY=1", e.notify.Ready())
			})
		},
	}
}

// loader reads the configuration: flags and environment (fixed for the
// process) and the config file (re-read on reload).
type loader struct {
	table *cfgtab.Table
	c     *cli.Context
	env   *env
}

// path is the config file: --config or RENDEZVOUS_CONFIG; "" = none.
func (l *loader) path() string {
	if l.c.IsSet("config") {
		return l.c.String("config")
	}
	p, _ := l.env.lookupEnv("RENDEZVOUS_CONFIG")
	return p
}

// values merges flags > env > file > defaults.
func (l *loader) values() (*cfgtab.Values, error) {
	var f *cfgtab.File
	if p := l.path(); p != "" {
		var err error
		if f, err = l.table.Load(p); err != nil {
			return nil, err
		}
	}
	return l.table.Resolve(cfgtab.Sources{Flags: cfgtab.CLIFlags(l.c), LookupEnv: l.env.lookupEnv, File: f}, false)
}

// load merges and checks the configuration.
func (l *loader) load() (config, error) {
	vals, err := l.values()
	if err != nil {
		return config{}, err
	}
	return parseConfig(vals)
}

// parseConfig checks the merged settings and turns them into a config. Errors
// name each setting as it was given (flag, variable, or file line and key).
func parseConfig(v *cfgtab.Values) (config, error) {
	cfg := config{
		listen:      v.String("listen"),
		wsListen:    v.String("ws-listen"),
		wsPath:      v.String("ws-path"),
		stun:        v.String("stun"),
		stun2:       v.String("stun2"),
		stunSet:     v.IsSet("stun") || v.IsSet("stun2"),
		authKeys:    v.String("auth-keys"),
		open:        v.Bool("open"),
		maxConns:    v.Int("max-conns"),
		idleTimeout: v.Duration("idle-timeout"),
		tlsCert:     v.String("tls-cert"),
		tlsKey:      v.String("tls-key"),
		vals:        v,
	}
	if cfg.listen == "" {
		return cfg, v.Errorf("listen", "%s is empty: give a host:port such as :7749", v.Ref("listen"))
	}
	if cfg.wsListen != "" {
		if _, port, err := net.SplitHostPort(cfg.wsListen); err != nil || port == "" {
			return cfg, v.Errorf("ws-listen", "%s %q: want host:port such as :443, or \"\" for no WebSocket endpoint", v.Ref("ws-listen"), cfg.wsListen)
		}
	}
	if !strings.HasPrefix(cfg.wsPath, "/") || strings.ContainsAny(cfg.wsPath, "?# ") {
		return cfg, v.Errorf("ws-path", "%s %q: want an absolute URL path such as %s", v.Ref("ws-path"), cfg.wsPath, transport.WebSocketPath)
	}
	if cfg.stun == "" {
		cfg.stun2 = ""
	}
	for _, name := range []string{"stun", "stun2"} {
		addr := cfg.stun
		if name == "stun2" {
			addr = cfg.stun2
		}
		if addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			return cfg, v.Errorf(name, "%s %q: want host:port such as :3478, or \"\" to disable", v.Ref(name), addr)
		}
	}
	if cfg.maxConns <= 0 {
		return cfg, v.Errorf("max-conns", "%s must be at least 1, got %d", v.Ref("max-conns"), cfg.maxConns)
	}
	for _, name := range []string{"idle-timeout", "handshake-timeout", "write-timeout"} {
		if d := v.Duration(name); d <= 0 {
			return cfg, v.Errorf(name, "%s must be positive, got %v", v.Ref(name), d)
		}
	}
	for _, name := range []string{"max-conns-per-ip", "max-handshaking", "max-group-members"} {
		if n := v.Int(name); n < 0 {
			return cfg, v.Errorf(name, "%s must not be negative, got %d", v.Ref(name), n)
		}
	}
	if v.Int("max-handshaking") == 0 {
		return cfg, v.Errorf("max-handshaking", "%s must be at least 1", v.Ref("max-handshaking"))
	}
	rates := map[string]int64{}
	for _, name := range []string{"relay-rate", "relay-burst", "group-relay-rate", "queue-memory"} {
		n, err := api.ParseRate(v.String(name))
		if err != nil {
			return cfg, v.Errorf(name, "%s %w", v.Ref(name), err)
		}
		rates[name] = n
	}
	if rates["queue-memory"] < 1<<20 {
		return cfg, v.Errorf("queue-memory", "%s must be at least 1MiB, got %d bytes", v.Ref("queue-memory"), rates["queue-memory"])
	}
	noLimit := func(n int) int { // the flags' 0 is ServerConfig's "no limit"
		if n == 0 {
			return -1
		}
		return n
	}
	cfg.limits = relay.ServerConfig{
		MaxConns:         cfg.maxConns,
		MaxConnsPerIP:    noLimit(v.Int("max-conns-per-ip")),
		MaxHandshaking:   v.Int("max-handshaking"),
		MaxGroupMembers:  noLimit(v.Int("max-group-members")),
		HandshakeTimeout: v.Duration("handshake-timeout"),
		IdleTimeout:      cfg.idleTimeout,
		WriteTimeout:     v.Duration("write-timeout"),
		RelayRate:        rates["relay-rate"],
		RelayBurst:       rates["relay-burst"],
		GroupRelayRate:   rates["group-relay-rate"],
		QueueMemory:      rates["queue-memory"],
	}
	for _, name := range []string{"metrics", "admin"} {
		s := v.String(name)
		if s == "" {
			continue
		}
		addr, _, err := metrics.ListenAddr(s)
		if err != nil {
			return cfg, v.Errorf(name, "%s %w", v.Ref(name), err)
		}
		if name == "metrics" {
			cfg.metrics = addr
		} else {
			cfg.admin = addr
		}
	}
	cfg.adminKey = v.String("admin-key-file")
	if cfg.admin != "" && cfg.adminKey == "" {
		return cfg, v.Errorf("admin", "%s needs admin-key-file: the FILE with the admin API's key (created when it does not exist)", v.Ref("admin"))
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return cfg, errors.New("--tls-cert and --tls-key go together: give both or neither")
	}
	var err error
	if cfg.logLevel, err = parseLevel(v.String("log-level")); err != nil {
		return cfg, v.Errorf("log-level", "invalid %s %q: want debug, info, warn or error", v.Ref("log-level"), v.String("log-level"))
	}
	switch f := v.String("log-format"); f {
	case "text":
	case "json":
		cfg.logJSON = true
	default:
		return cfg, v.Errorf("log-format", "invalid %s %q: want text or json", v.Ref("log-format"), f)
	}
	if !cfg.open && cfg.authKeys == "" {
		if addrs := exposed(cfg.listen, cfg.wsListen); len(addrs) > 0 {
			return cfg, openRelayError(addrs)
		}
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
	return 0, fmt.Errorf("invalid log level %q", s)
}

// newLogger logs at cfg's level.
func newLogger(w io.Writer, cfg config) *slog.Logger {
	level := new(slog.LevelVar)
	level.Set(cfg.logLevel)
	return newLevelLogger(w, cfg, level)
}

// newLevelLogger logs at level, which a reload may change.
func newLevelLogger(w io.Writer, cfg config, level *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if cfg.logJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
