package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/meshnode/meshnode/internal/config"
	"github.com/meshnode/meshnode/pkg/control/api"
	"github.com/meshnode/meshnode/pkg/overlay"
)

// daemon is a running `meshnode up`: the node and its configuration. It is the
// control API's Lifecycle (reload, down, config status).
type daemon struct {
	a     *app
	c     *cli.Context // the flags, re-merged with the file on reload
	path  string       // the config file; "" = none
	log   *slog.Logger
	level *slog.LevelVar
	node  *overlay.Node
	start *upConfig // restart-needed settings are compared with this
	stop  context.CancelFunc

	mu         sync.Mutex // serializes reloads
	cur        *upConfig  // the last applied configuration
	applied    map[string]*applied
	notApplied []string
	restart    []string
	loaded     time.Time
}

// Reload re-reads the config file and applies what changed: live settings
// (log-level) at once, declared services and mappings by diff; settings that
// need a restart are reported, never applied. A file with any error is
// rejected whole and nothing changes. One log line says what happened.
func (d *daemon) Reload(ctx context.Context) (api.ReloadResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	res := api.ReloadResult{File: d.path}
	if d.path == "" {
		return res, errors.New("no config file to reload: the node was started without --config (or MESHNODE_CONFIG)")
	}
	d.notifyReloading()
	defer d.notifyReloaded()
	cfg, err := d.load()
	if err != nil {
		d.log.Error("config reload rejected; the running configuration stays", "file", d.path, "err", err)
		return res, fmt.Errorf("config reload rejected, nothing changed: %w", err)
	}
	var newLevel *slog.Level
	for _, ch := range config.Diff(d.cur.vals, cfg.vals) {
		if !ch.Live {
			continue
		}
		res.Changed = append(res.Changed, fmt.Sprintf("%s: %s -> %s", ch.Name, ch.Old, ch.New))
		if ch.Name == "log-level" {
			newLevel = &cfg.level
		}
	}
	for _, ch := range config.Diff(d.start.vals, cfg.vals) {
		if !ch.Live {
			res.Restart = append(res.Restart, ch.Name)
		}
	}
	var items []string
	d.applied, items, res.NotApplied = applyItems(d.node, d.applied, cfg.declared)
	res.Changed = append(res.Changed, items...)
	d.cur, d.notApplied, d.restart, d.loaded = cfg, res.NotApplied, res.Restart, time.Now()

	attrs := []any{"file", d.path, "changes", len(res.Changed)}
	if len(res.Changed) > 0 {
		attrs = append(attrs, "changed", strings.Join(res.Changed, "; "))
	}
	if len(res.Restart) > 0 {
		attrs = append(attrs, "restart_needed", strings.Join(res.Restart, ","))
	}
	if len(res.NotApplied) > 0 {
		attrs = append(attrs, "not_applied", strings.Join(res.NotApplied, "; "))
	}
	// Logged before a new level applies, so a reload that raises it still
	// leaves its line.
	d.log.Info("config reloaded", attrs...)
	if newLevel != nil {
		d.level.Set(*newLevel)
	}
	return res, nil
}

// load reads, merges and checks the config file as at start.
func (d *daemon) load() (*upConfig, error) {
	file, err := d.a.table.Load(d.path)
	if err != nil {
		return nil, err
	}
	vals, err := d.a.resolveUp(d.c, file, false)
	if err != nil {
		return nil, err
	}
	return d.a.buildUp(vals)
}

// Down stops the node as SIGTERM does: mappings close, the node leaves the
// group, the control socket goes away.
func (d *daemon) Down() {
	d.log.Info("stopping: asked by 'meshnode down'")
	d.stop()
}

// ConfigInfo is the configuration's state for status.
func (d *daemon) ConfigInfo() *api.ConfigInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	return &api.ConfigInfo{File: d.path, Loaded: d.loaded, LogLevel: strings.ToLower(d.level.Level().String()),
		Restart: d.restart, NotApplied: d.notApplied}
}
