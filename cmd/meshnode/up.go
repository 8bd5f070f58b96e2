package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/meshnode/meshnode/internal/config"
	"github.com/meshnode/meshnode/pkg/control"
	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/metrics"
	"github.com/meshnode/meshnode/pkg/overlay"
	"github.com/meshnode/meshnode/pkg/plugin"
	"github.com/meshnode/meshnode/pkg/proxyentry"
)

func (a *app) upCommand() *cli.Command {
	return &cli.Command{
		Name:  "up",
		Usage: "run this node in the foreground",
		Description: `Joins GROUP through the rendezvous, links to the group's other nodes, serves
the declared services and opens the declared mappings. Runs until SIGINT,
SIGTERM or 'meshnode down'; SIGHUP or 'meshnode reload' re-reads the config file.

Settings come from flags, environment variables and the config file (keys are
the long flag names), in that precedence; --print-config shows the result.
Examples:

   meshnode up --group home --rendezvous vps.example.net:7749 \
       --secret-file /etc/meshnode/home.secret --serve 700=127.0.0.1:22,name=ssh
   meshnode up --config /etc/meshnode/meshnode.toml
   meshnode up --config /etc/meshnode/meshnode.toml --print-config
   meshnode up --config /etc/meshnode/meshnode.toml --api on

--api serves the control API over HTTP(S) under /api/v1 and a dashboard at /,
behind the key in --api-key-file (default STATE/api.key, generated 0600).`,
		Flags: append(a.table.Flags(false),
			&cli.BoolFlag{Name: "print-config", Usage: "print the merged configuration with each value's source (secrets as <set>) and exit"}),
		Action: a.verb("", a.runUp),
	}
}

func (a *app) runUp(c *cli.Context) error {
	path, _ := a.configPath(c, true)
	var file *config.File
	if path != "" {
		var err error
		if file, err = a.table.Load(path); err != nil {
			return err
		}
	}
	if c.Bool("print-config") {
		vals, err := a.resolveUp(c, file, true)
		if err != nil {
			return err
		}
		return vals.Print(a.env.stdout)
	}
	vals, err := a.resolveUp(c, file, false)
	if err != nil {
		return err
	}
	cfg, err := a.buildUp(vals)
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	level.Set(cfg.level)
	log := newLogger(a.env.stderr, cfg.format, level)
	if cfg.secretOnCommandLine {
		log.Warn("the group secret is on the command line, where other local users can read it; prefer --secret-file or MESHNODE_SECRET")
	}
	for _, w := range cfg.warnings {
		log.Warn(w)
	}
	ctx, stop := context.WithCancel(c.Context)
	defer stop()
	d := &daemon{a: a, c: c, path: path, log: log, level: level, start: cfg, cur: cfg, stop: stop}
	return d.run(ctx)
}

func newLogger(w io.Writer, format string, level *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// run starts the node, applies the declared items, serves the control API and
// reloads on SIGHUP until ctx ends (SIGINT, SIGTERM, `meshnode down`).
func (d *daemon) run(ctx context.Context) error {
	cfg, log := d.start, d.log
	defer d.notifyStopping(ctx)()
	var node *overlay.Node
	nodeReady := make(chan struct{})
	ciph, tr, plugins, err := loadPlugins(ctx, cfg, log, func(kind, name string) {
		select {
		case <-nodeReady:
		case <-ctx.Done():
			return
		}
		if kind == plugin.KindCipher {
			node.Rehandshake() // sessions in flight died with the old process
		}
	})
	if err != nil {
		return err
	}
	if plugins != nil {
		defer plugins.Close()
	}
	key, created, err := identity.LoadOrCreate(cfg.paths.keyPath())
	if err != nil {
		return err
	}
	if created {
		log.Info("created a new node key", "path", cfg.paths.keyPath(), "id", key.Public().String())
	}
	node, err = overlay.New(overlay.Config{
		Cipher:     ciph,
		Transport:  tr,
		Group:      cfg.group,
		Secret:     cfg.secret,
		Rendezvous: cfg.rendezvous,
		AuthKey:    cfg.authKey,
		Name:       cfg.name,
		Key:        key,
		StateDir:   cfg.paths.state,
		Logger:     log,

		PluginStatus:  pluginStatusOf(plugins),
		RelayOnly:     cfg.relayOnly,
		DirectOnly:    cfg.directOnly,
		PortMapping:   !cfg.noPortMapping,
		NoHardNAT:     cfg.noHardNAT,
		ICEInterfaces: cfg.ifaces,
		Adhoc:         cfg.adhoc,
	})
	if err != nil {
		return err
	}
	d.node = node
	close(nodeReady)
	var metricsLn net.Listener
	if cfg.metrics != "" {
		if metricsLn, err = net.Listen("tcp", cfg.metrics); err != nil {
			return fmt.Errorf("--metrics %s: %w", cfg.metrics, err)
		}
		defer metricsLn.Close()
	}
	ln, err := control.Listen(cfg.paths.control)
	if err != nil {
		return err
	}
	// The proxy entries listen now, so that a port in use stops the start;
	// they serve once the node is ready.
	var entry *proxyentry.Server
	if cfg.entry.SOCKS5 != "" || cfg.entry.HTTPProxy != "" {
		ec := cfg.entry
		ec.Logger = log
		if entry, err = proxyentry.Listen(ec, entryDialer{n: node}); err != nil {
			ln.Close()
			return err
		}
		d.entry = entry
	}
	apiLn, apiKey, err := d.listenAPI()
	if err != nil {
		ln.Close()
		if entry != nil {
			entry.Close()
		}
		return err
	}
	runDone := make(chan error, 1)
	go func() { runDone <- node.Run(ctx) }()
	// The control API answers once the node restored its live state and the
	// declared items are applied; until then clients wait in the socket's
	// backlog instead of seeing a half-started node.
	select {
	case <-node.Ready():
	case err := <-runDone:
		ln.Close()
		if entry != nil {
			entry.Close()
		}
		if apiLn != nil {
			apiLn.Close()
		}
		return err
	}
	d.applyAtStart()
	metricsDone := make(chan error, 1)
	if metricsLn != nil {
		h := metrics.Mux(metrics.NodeHandler(node, log, d.metricsOptions()))
		go func() { metricsDone <- metrics.Serve(ctx, metricsLn, h) }()
		log.Info("metrics listening", "addr", metricsLn.Addr().String(), "path", metrics.Path)
	} else {
		metricsDone <- nil
	}
	entryDone := make(chan error, 1)
	if entry != nil {
		go func() { entryDone <- entry.Serve(ctx) }()
	} else {
		entryDone <- nil
	}
	ctl := control.NewServer(node, log).WithLifecycle(d)
	ctlDone := make(chan error, 1)
	go func() { ctlDone <- ctl.Serve(ctx, ln) }()
	log.Info("control socket ready", "path", cfg.paths.control)
	apiDone := make(chan error, 1)
	if apiLn == nil {
		apiDone <- nil
	} else if err := d.serveAPI(ctx, ctl, apiLn, apiKey, apiDone); err != nil {
		d.stop()
		<-runDone
		<-ctlDone
		<-entryDone
		<-metricsDone
		return err
	}
	d.notifyReady(ctx)

	var hup <-chan os.Signal
	if d.a.env.watchHUP != nil {
		var stopHUP func()
		hup, stopHUP = d.a.env.watchHUP()
		defer stopHUP()
	}
	var runErr error
	for done := false; !done; {
		select {
		case runErr = <-runDone:
			done = true
		case <-hup:
			d.reloadFromSignal(ctx)
		}
	}
	d.stop()
	if err := <-ctlDone; err != nil && runErr == nil {
		runErr = err
	}
	if err := <-apiDone; err != nil && runErr == nil {
		runErr = err
	}
	if err := <-metricsDone; err != nil && runErr == nil {
		runErr = err
	}
	<-entryDone
	return runErr
}

// applyAtStart applies the declared items once the live ones are restored,
// and logs one line about the configuration.
func (d *daemon) applyAtStart() {
	d.mu.Lock()
	defer d.mu.Unlock()
	var changes []string
	d.applied, changes, d.notApplied = applyItems(d.node, nil, d.start.declared)
	d.loaded = time.Now()
	file := d.path
	if file == "" {
		file = "none"
	}
	attrs := []any{"file", file, "declared", len(changes)}
	if len(changes) > 0 {
		attrs = append(attrs, "applied", strings.Join(changes, "; "))
	}
	if len(d.notApplied) > 0 {
		d.log.Warn("configuration applied; some declared items are not", append(attrs, "not_applied", strings.Join(d.notApplied, "; "))...)
		return
	}
	d.log.Info("configuration applied", attrs...)
}

// reloadFromSignal reloads on SIGHUP; the outcome is in the log.
func (d *daemon) reloadFromSignal(ctx context.Context) {
	if d.path == "" {
		d.log.Warn("SIGHUP: no config file to reload (the node was started without --config)")
		return
	}
	if _, err := d.Reload(ctx); err != nil {
		return // logged by Reload
	}
}

// printChanges prints a reload's result for people.
func printReload(w io.Writer, res api.ReloadResult) {
	if len(res.Changed) == 0 && len(res.Restart) == 0 && len(res.NotApplied) == 0 {
		fmt.Fprintf(w, "reloaded %s: no changes\n", res.File)
		return
	}
	fmt.Fprintf(w, "reloaded %s\n", res.File)
	for _, c := range res.Changed {
		fmt.Fprintf(w, "  changed      %s\n", c)
	}
	for _, k := range res.Restart {
		fmt.Fprintf(w, "  restart needed: %s (the running value stays until the node restarts)\n", k)
	}
	for _, n := range res.NotApplied {
		fmt.Fprintf(w, "  %s\n", n)
	}
}
