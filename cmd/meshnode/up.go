package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/meshnode/meshnode/pkg/control"
	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/overlay"
	"github.com/meshnode/meshnode/pkg/plugin"
)

func upCommand() *cli.Command {
	return &cli.Command{
		Name:  "up",
		Usage: "run this node in the foreground",
		Description: `Joins GROUP through the rendezvous, links to the group's other nodes and serves
the declared services. Runs until SIGINT or SIGTERM. Example:

   meshnode up --group home --rendezvous vps.example.net:7749 \
       --secret-file /etc/meshnode/home.secret --serve 700=127.0.0.1:22,name=ssh`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "group", EnvVars: []string{"MESHNODE_GROUP"}, Required: true, Usage: "group `NAME` to join"},
			&cli.StringFlag{Name: "rendezvous", EnvVars: []string{"MESHNODE_RENDEZVOUS"}, Required: true, Usage: "rendezvous `HOST:PORT`"},
			&cli.StringFlag{Name: "secret", EnvVars: []string{"MESHNODE_SECRET"}, Usage: "group `SECRET` (prefer --secret-file: command lines are visible to other users)"},
			&cli.StringFlag{Name: "secret-file", EnvVars: []string{"MESHNODE_SECRET_FILE"}, Usage: "read the group secret from `FILE`"},
			&cli.StringFlag{Name: "name", EnvVars: []string{"MESHNODE_NAME"}, Usage: "this node's `NAME` (default: the host name)"},
			&cli.StringSliceFlag{Name: "serve", Usage: "serve `SERVEID=HOST:PORT[,name=X][,info=Y]` to the group (repeatable)"},
			&cli.BoolFlag{Name: "relay-only", EnvVars: []string{"MESHNODE_RELAY_ONLY"}, Usage: "never look for direct paths: every link stays on the relay"},
			&cli.BoolFlag{Name: "direct-only", EnvVars: []string{"MESHNODE_DIRECT_ONLY"}, Usage: "move data only over direct paths (debugging: relayed peers get nothing)"},
			&cli.StringSliceFlag{Name: "ice-interfaces", EnvVars: []string{"MESHNODE_ICE_INTERFACES"}, Usage: "only these network interfaces give direct-path candidates (repeatable; default all but loopback; \"lo\" enables loopback)"},
			&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"MESHNODE_LOG_LEVEL"}, Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "log-format", Value: "text", EnvVars: []string{"MESHNODE_LOG_FORMAT"}, Usage: "text or json"},
		}, pluginFlags()...),
		Action: runUp,
	}
}

func runUp(c *cli.Context) error {
	if c.NArg() > 0 {
		return fmt.Errorf("up takes no arguments, got %q", c.Args().Slice())
	}
	log, err := newLogger(c.String("log-level"), c.String("log-format"))
	if err != nil {
		return err
	}
	secret, err := readSecret(c, log)
	if err != nil {
		return err
	}
	var services []overlay.Service
	for _, spec := range c.StringSlice("serve") {
		s, err := overlay.ParseServeSpec(spec)
		if err != nil {
			return err
		}
		services = append(services, s)
	}
	if c.Bool("relay-only") && c.Bool("direct-only") {
		return errors.New("--relay-only and --direct-only exclude each other")
	}
	var ifaces []string
	for _, v := range c.StringSlice("ice-interfaces") {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name == "" {
				return fmt.Errorf("--ice-interfaces %q: empty interface name", v)
			}
			ifaces = append(ifaces, name)
		}
	}
	name := c.String("name")
	if name == "" {
		name = defaultName()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var node *overlay.Node
	var nodeReady = make(chan struct{})
	ciph, tr, plugins, err := loadPlugins(ctx, c, log, func(kind, name string) {
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
	key, created, err := identity.LoadOrCreate(keyPath(c))
	if err != nil {
		return err
	}
	if created {
		log.Info("created a new node key", "path", keyPath(c), "id", key.Public().String())
	}
	node, err = overlay.New(overlay.Config{
		Cipher:     ciph,
		Transport:  tr,
		Group:      c.String("group"),
		Secret:     secret,
		Rendezvous: c.String("rendezvous"),
		Name:       name,
		Key:        key,
		StateDir:   stateDir(c),
		Services:   services,
		Logger:     log,

		PluginStatus:  pluginStatusOf(plugins),
		RelayOnly:     c.Bool("relay-only"),
		DirectOnly:    c.Bool("direct-only"),
		ICEInterfaces: ifaces,
	})
	if err != nil {
		return err
	}
	close(nodeReady)
	ln, err := control.Listen(controlPath(c))
	if err != nil {
		return err
	}
	runDone := make(chan error, 1)
	go func() { runDone <- node.Run(ctx) }()
	// The control API answers once the node restored its state; until then
	// clients wait in the socket's backlog instead of seeing a half-started node.
	select {
	case <-node.Ready():
	case err := <-runDone:
		ln.Close()
		return err
	}
	ctlDone := make(chan error, 1)
	go func() { ctlDone <- control.NewServer(node, log).Serve(ctx, ln) }()
	log.Info("control socket ready", "path", controlPath(c))

	runErr := <-runDone
	stop()
	if err := <-ctlDone; err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// readSecret takes the group secret from --secret / MESHNODE_SECRET or
// --secret-file, never both, and never logs it.
func readSecret(c *cli.Context, log *slog.Logger) (string, error) {
	s, file := c.String("secret"), c.String("secret-file")
	switch {
	case s != "" && file != "":
		return "", errors.New("give the group secret once: --secret or --secret-file, not both")
	case s != "":
		if os.Getenv("MESHNODE_SECRET") == "" {
			log.Warn("the group secret is on the command line, where other local users can read it; prefer --secret-file or MESHNODE_SECRET")
		}
	case file != "":
		st, err := os.Stat(file)
		if err != nil {
			return "", fmt.Errorf("--secret-file: %w", err)
		}
		if st.Mode().Perm()&0o004 != 0 {
			return "", fmt.Errorf("--secret-file %s is readable by every user (mode %04o); chmod 600 it", file, st.Mode().Perm())
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--secret-file: %w", err)
		}
		s = strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("--secret-file %s is empty", file)
		}
	default:
		return "", errors.New("no group secret: give --secret-file FILE (or --secret, or MESHNODE_SECRET)")
	}
	if err := identity.ValidateSecret(s); err != nil {
		return "", err
	}
	return s, nil
}

// defaultName is the host name, cut at the first dot and reduced to the characters
// node names allow.
func defaultName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "node"
	}
	h, _, _ = strings.Cut(h, ".")
	var b strings.Builder
	for _, r := range h {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "node"
	}
	if b.Len() > 64 {
		return b.String()[:64]
	}
	return b.String()
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
