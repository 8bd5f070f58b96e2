package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/meshnode/meshnode/internal/config"
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
	if t.AdHoc() {
		return nil, errAdHoc(t)
	}
	c, err := d.n.DialService(ctx, t.Spec())
	return c, entryErr(err)
}

func (d entryDialer) DialUDP(ctx context.Context, t proxyentry.Target) (proxyentry.DatagramConn, error) {
	if t.AdHoc() {
		return nil, errAdHoc(t)
	}
	f, err := d.n.DialServiceUDP(ctx, t.Spec())
	if err != nil {
		return nil, entryErr(err)
	}
	return f, nil
}

func errAdHoc(t proxyentry.Target) error {
	return fmt.Errorf("%w: %s asks for ad-hoc access, which this version does not offer", proxyentry.ErrNotAllowed, t)
}

// entryErr gives a node's dial error the meaning the proxy entries answer by.
func entryErr(err error) error {
	for _, m := range []struct{ node, entry error }{
		{overlay.ErrNoService, proxyentry.ErrNoSuchService},
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
