package main

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"time"

	"github.com/meshnode/meshnode/internal/config"
	"github.com/meshnode/meshnode/pkg/metrics"
	"github.com/meshnode/meshnode/pkg/overlay"
	"github.com/meshnode/meshnode/pkg/proxyentry"
)

// entryConfig checks the proxy entries' settings (socks5, http-proxy,
// proxy-user, proxy-password-file, proxy-fallthrough); each error names the
// setting at fault.
func entryConfig(vals *config.Values) (proxyentry.Config, error) {
	c := proxyentry.Config{
		SOCKS5:      vals.String("socks5"),
		HTTPProxy:   vals.String("http-proxy"),
		Username:    vals.String("proxy-user"),
		Fallthrough: vals.Bool("proxy-fallthrough"),
	}
	file := vals.String("proxy-password-file")
	switch {
	case c.Username != "" && file == "":
		return c, vals.Errorf("proxy-user", "%s needs %s", vals.Ref("proxy-user"), vals.Ref("proxy-password-file"))
	case c.Username == "" && file != "":
		return c, vals.Errorf("proxy-password-file", "%s needs %s", vals.Ref("proxy-password-file"), vals.Ref("proxy-user"))
	case file != "":
		st, err := os.Stat(file)
		if err != nil {
			return c, vals.Errorf("proxy-password-file", "%s: %w", vals.Ref("proxy-password-file"), err)
		}
		if perm := st.Mode().Perm(); perm&0o044 != 0 {
			return c, vals.Errorf("proxy-password-file", "%s %s is readable by other users (mode %04o); chmod 600 it", vals.Ref("proxy-password-file"), file, perm)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return c, vals.Errorf("proxy-password-file", "%s: %w", vals.Ref("proxy-password-file"), err)
		}
		if c.Password = strings.TrimSpace(string(b)); c.Password == "" {
			return c, vals.Errorf("proxy-password-file", "%s %s is empty", vals.Ref("proxy-password-file"), file)
		}
	}
	for _, e := range []struct {
		key string
		cfg proxyentry.Config
	}{
		{"socks5", proxyentry.Config{SOCKS5: c.SOCKS5}},
		{"http-proxy", proxyentry.Config{HTTPProxy: c.HTTPProxy}},
		{"proxy-user", proxyentry.Config{}},
	} {
		e.cfg.Username, e.cfg.Password = c.Username, c.Password
		if err := e.cfg.Check(); err != nil {
			return c, vals.Errorf(e.key, "%s: %w", vals.Ref(e.key), err)
		}
	}
	return c, nil
}

// entryDialer is the node as the proxy entries' dialer.
type entryDialer struct{ n *overlay.Node }

func (d entryDialer) DialTCP(ctx context.Context, t proxyentry.Target) (net.Conn, error) {
	c, err := d.n.DialService(ctx, t.Spec(), proxyentry.ClientAddr(ctx))
	return c, entryErr(err)
}

func (d entryDialer) DialUDP(ctx context.Context, t proxyentry.Target) (proxyentry.DatagramConn, error) {
	f, err := d.n.DialServiceUDP(ctx, t.Spec())
	if err != nil {
		return nil, entryErr(err)
	}
	return f, nil
}

// entryErr gives a node's dial error the meaning the proxy entries answer by.
func entryErr(err error) error {
	for _, m := range []struct{ node, entry error }{
		{overlay.ErrNoService, proxyentry.ErrNoSuchService},
		{overlay.ErrNotAllowed, proxyentry.ErrNotAllowed},
		{overlay.ErrWrongProto, proxyentry.ErrWrongProto},
		{overlay.ErrServiceRefused, proxyentry.ErrRefused},
		{overlay.ErrUnreachable, proxyentry.ErrUnreachable},
	} {
		if errors.Is(err, m.node) {
			return &classified{kind: m.entry, err: err}
		}
	}
	return err
}

// classified is an error that also is kind, without saying so twice.
type classified struct{ kind, err error }

func (e *classified) Error() string        { return e.err.Error() }
func (e *classified) Unwrap() error        { return e.err }
func (e *classified) Is(target error) bool { return target == e.kind }

// adhocConfig checks the ad-hoc settings (allow-adhoc, adhoc-remote,
// adhoc-allow, adhoc-max, adhoc-unused-expiry, adhoc-idle-expiry).
func adhocConfig(vals *config.Values) (overlay.AdhocConfig, error) {
	c := overlay.AdhocConfig{Allow: vals.Bool("allow-adhoc"), Remote: vals.Bool("adhoc-remote"), Max: vals.Int("adhoc-max")}
	for _, v := range vals.List("adhoc-allow") {
		for _, f := range strings.Split(v, ",") {
			r, err := overlay.ParseAdhocRule(strings.TrimSpace(f))
			if err != nil {
				return c, vals.Errorf("adhoc-allow", "%s: %w", vals.Ref("adhoc-allow"), err)
			}
			c.Rules = append(c.Rules, r)
		}
	}
	if len(c.Rules) > 0 && !c.Remote {
		return c, vals.Errorf("adhoc-allow", "%s lists remote targets, but %s is off (only loopback targets are allowed)", vals.Ref("adhoc-allow"), vals.Ref("adhoc-remote"))
	}
	if c.Max < 1 || c.Max > 100 {
		return c, vals.Errorf("adhoc-max", "%s %d out of range 1-100", vals.Ref("adhoc-max"), c.Max)
	}
	for _, d := range []struct {
		key string
		to  *time.Duration
	}{{"adhoc-unused-expiry", &c.UnusedExpiry}, {"adhoc-idle-expiry", &c.IdleExpiry}} {
		v, err := time.ParseDuration(vals.String(d.key))
		if err != nil || v < time.Second {
			return c, vals.Errorf(d.key, "%s %q: want a duration of 1s or more, such as 3m", vals.Ref(d.key), vals.String(d.key))
		}
		*d.to = v
	}
	return c, nil
}

// metricsOptions are the node's metrics settings: the proxy entry's series
// when it runs.
func (d *daemon) metricsOptions() metrics.NodeOptions {
	var o metrics.NodeOptions
	if d.entry != nil {
		o.Entry = d.entry
	}
	return o
}
