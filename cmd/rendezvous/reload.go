package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	cfgtab "github.com/meshnode/meshnode/internal/config"
	"github.com/meshnode/meshnode/pkg/relay"
)

// reloader re-reads the config file on SIGHUP and applies what may change
// while the rendezvous runs.
type reloader struct {
	*loader
	log   *slog.Logger
	level *slog.LevelVar
	srv   *relay.Server // set once serving; nil before

	mu    sync.Mutex
	start config // settings that need a restart are compared with this
	cur   config // the running configuration
}

// watch reloads on every signal from hup until ctx ends.
func (r *reloader) watch(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			notifyErr(r.log, "RELOADING=1", r.env.notify.Reloading())
			r.reload()
			notifyErr(r.log, "READY=1", r.env.notify.Ready())
		}
	}
}

// reload re-reads the file. A file with an error is rejected whole and
// nothing changes; otherwise applyConfig applies it. One log line either way.
func (r *reloader) reload() {
	r.mu.Lock()
	defer r.mu.Unlock()
	path := r.path()
	if path == "" {
		r.log.Warn("SIGHUP: no config file to reload (started without --config)")
		return
	}
	next, err := r.load()
	if err != nil {
		r.log.Error("config reload rejected; the running configuration stays", "file", path, "err", err)
		return
	}
	// The keys file is re-read at every reload: its content may change under
	// the same name. A bad one rejects the whole reload.
	keys, err := r.loadKeys(next)
	if err != nil {
		r.log.Error("config reload rejected; the running configuration stays", "file", path, "err", err)
		return
	}
	applied, restart := r.applyConfig(next)
	if next.authKeys != "" || r.srv != nil && !r.srv.OpenAccess() {
		applied = append(applied, r.applyKeys(keys))
	}
	attrs := []any{"file", path, "changes", len(applied)}
	if len(applied) > 0 {
		attrs = append(attrs, "changed", strings.Join(applied, "; "))
	}
	if len(restart) > 0 {
		attrs = append(attrs, "restart_needed", strings.Join(restart, ","))
	}
	r.log.Info("config reloaded", attrs...)
	if next.logLevel != r.level.Level() {
		r.level.Set(next.logLevel) // after the line, so raising the level still logs it
	}
}

// applyConfig is where a reload's checked configuration takes effect: it
// applies the settings that can change live (the table's Live ones) and lists
// the others that changed as needing a restart (they keep their running
// value). It returns what it applied, one line per setting. Settings the
// rendezvous learns to change live (limits, auth keys) are applied here.
func (r *reloader) applyConfig(next config) (applied, restart []string) {
	for _, ch := range cfgtab.Diff(r.cur.vals, next.vals) {
		if !ch.Live {
			continue
		}
		switch ch.Name {
		case "log-level":
			// set by reload after its log line
		case "auth-keys":
			// applied by reload (applyKeys): the file is re-read every time
			continue
		}
		applied = append(applied, ch.Name+": "+ch.Old+" -> "+ch.New)
	}
	for _, ch := range cfgtab.Diff(r.start.vals, next.vals) {
		if !ch.Live {
			restart = append(restart, ch.Name)
		}
	}
	r.cur = next
	return applied, restart
}

// loadKeys reads cfg's auth keys file (nil, nil without one) and logs a warning
// about its mode if it has one.
func (r *reloader) loadKeys(cfg config) (*relay.AuthKeys, error) {
	if cfg.authKeys == "" {
		return nil, nil
	}
	ks, warn, err := loadAuthKeys(cfg.authKeys)
	if err != nil {
		return nil, err
	}
	if warn != "" {
		r.log.Warn(warn)
	}
	return ks, nil
}

// applyKeys gives the server the reloaded keys and says what changed: nodes
// whose key went away are disconnected by the server.
func (r *reloader) applyKeys(keys *relay.AuthKeys) string {
	if r.srv == nil {
		return "auth-keys: not serving yet"
	}
	n := r.srv.SetAuthKeys(keys)
	what := "open (no auth keys)"
	if keys != nil {
		what = fmt.Sprintf("%d keys", keys.Len())
	}
	return fmt.Sprintf("auth-keys: %s, %d nodes disconnected", what, n)
}
