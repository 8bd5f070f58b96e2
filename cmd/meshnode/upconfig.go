package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/meshnode/meshnode/internal/config"
	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/metrics"
	"github.com/meshnode/meshnode/pkg/overlay"
	"github.com/meshnode/meshnode/pkg/proxyentry"
	"github.com/meshnode/meshnode/pkg/relay"
	"github.com/meshnode/meshnode/pkg/transport"
)

// upConfig is `up`'s checked configuration.
type upConfig struct {
	vals                *config.Values
	paths               globalPaths
	group, rendezvous   string
	secret              string // never logged
	authKey             *relay.AuthSecret
	tls                 transport.TLSOptions // rendezvous-ca, rendezvous-pin
	name                string
	relayOnly           bool
	directOnly          bool
	noPortMapping       bool
	noHardNAT           bool
	ifaces              []string
	metrics             string // the metrics listener's address; "" = off
	cipher, transport   string
	pluginDir           string
	level               slog.Level
	format              string
	declared            []declItem
	entry               proxyentry.Config // the proxy entries (SOCKS5, HTTP)
	adhoc               overlay.AdhocConfig
	secretOnCommandLine bool
	api                 apiConfig
	warnings            []string // logged once the logger exists
}

// resolveUp merges `up`'s flags, environment and file (nil: none).
func (a *app) resolveUp(c *cli.Context, file *config.File, allowMissing bool) (*config.Values, error) {
	return a.table.Resolve(config.Sources{Flags: config.CLIFlags(c), LookupEnv: a.env.lookupEnv, File: file}, allowMissing)
}

// buildUp checks merged values and turns them into an upConfig. Every error
// names the setting as it was given (flag, variable, or file:line and key).
func (a *app) buildUp(vals *config.Values) (*upConfig, error) {
	u := &upConfig{
		vals:          vals,
		paths:         a.pathsOf(vals),
		group:         vals.String("group"),
		rendezvous:    vals.String("rendezvous"),
		name:          vals.String("name"),
		relayOnly:     vals.Bool("relay-only"),
		directOnly:    vals.Bool("direct-only"),
		noPortMapping: vals.Bool("no-port-mapping"),
		noHardNAT:     vals.Bool("no-hard-nat"),
		cipher:        vals.String("cipher"),
		transport:     vals.String("transport"),
		pluginDir:     vals.String("plugin-dir"),
		format:        vals.String("log-format"),
	}
	if err := identity.ValidateGroupName(u.group); err != nil {
		return nil, vals.Errorf("group", "%s: %w", vals.Ref("group"), err)
	}
	if err := checkRendezvous(u.transport, u.rendezvous); err != nil {
		return nil, vals.Errorf("rendezvous", "%s: %w", vals.Ref("rendezvous"), err)
	}
	u.tls = transport.TLSOptions{CAFile: vals.String("rendezvous-ca"), Pin: vals.String("rendezvous-pin")}
	if _, err := transport.ClientTLSConfig(u.tls); err != nil {
		name := "rendezvous-ca"
		if u.tls.Pin != "" && (u.tls.CAFile == "" || strings.Contains(err.Error(), "pin")) {
			name = "rendezvous-pin"
		}
		return nil, vals.Errorf(name, "%s: %w", vals.Ref(name), err)
	}
	if err := a.readSecret(vals, u); err != nil {
		return nil, err
	}
	if err := a.readAuthKey(vals, u); err != nil {
		return nil, err
	}
	if u.name == "" {
		u.name = defaultName()
	}
	if u.relayOnly && u.directOnly {
		return nil, errors.New("--relay-only and --direct-only exclude each other")
	}
	for _, v := range vals.List("ice-interfaces") {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name == "" {
				return nil, vals.Errorf("ice-interfaces", "%s %q: empty interface name", vals.Ref("ice-interfaces"), v)
			}
			u.ifaces = append(u.ifaces, name)
		}
	}
	if m := vals.String("metrics"); m != "" {
		addr, loopback, err := metrics.ListenAddr(m)
		if err != nil {
			return nil, vals.Errorf("metrics", "%s %w", vals.Ref("metrics"), err)
		}
		u.metrics = addr
		if !loopback {
			u.warnings = append(u.warnings, "metrics on "+addr+" are served without authentication to anyone who can reach that address (peer IDs, traffic, mappings' ports); prefer a loopback address")
		}
	}
	if err := u.level.UnmarshalText([]byte(vals.String("log-level"))); err != nil {
		return nil, vals.Errorf("log-level", "invalid %s %q: want debug, info, warn or error", vals.Ref("log-level"), vals.String("log-level"))
	}
	if u.format != "text" && u.format != "json" {
		return nil, vals.Errorf("log-format", "invalid %s %q: want text or json", vals.Ref("log-format"), u.format)
	}
	if err := a.readAPI(vals, u); err != nil {
		return nil, err
	}
	var err error
	if u.declared, err = declaredItems(vals); err != nil {
		return nil, err
	}
	if u.entry, err = entryConfig(vals); err != nil {
		return nil, err
	}
	if u.adhoc, err = adhocConfig(vals); err != nil {
		return nil, err
	}
	return u, nil
}

// readSecret takes the group secret from secret or secret-file, never both,
// and never logs it. A secret-file, and a config file that holds the secret,
// must not be readable by every user.
func (a *app) readSecret(vals *config.Values, u *upConfig) error {
	s, file := vals.String("secret"), vals.String("secret-file")
	switch {
	case s != "" && file != "":
		return fmt.Errorf("give the group secret once: %s or %s, not both", vals.Ref("secret"), vals.Ref("secret-file"))
	case s != "":
		switch v := vals.Get("secret"); v.Source {
		case config.FromFlag:
			u.secretOnCommandLine = true
		case config.FromFile:
			if st, err := os.Stat(v.Pos.File); err == nil && st.Mode().Perm()&0o004 != 0 {
				return vals.Errorf("secret", "the config file holds the group secret and is readable by every user (mode %04o); chmod 600 it, or use secret-file", st.Mode().Perm())
			}
		}
	case file != "":
		st, err := os.Stat(file)
		if err != nil {
			return vals.Errorf("secret-file", "%s: %w", vals.Ref("secret-file"), err)
		}
		if st.Mode().Perm()&0o004 != 0 {
			return vals.Errorf("secret-file", "%s %s is readable by every user (mode %04o); chmod 600 it", vals.Ref("secret-file"), file, st.Mode().Perm())
		}
		if st.Mode().Perm()&0o040 != 0 {
			u.warnings = append(u.warnings, fmt.Sprintf("%s %s is readable by its group (mode %04o); chmod 600 it unless that is intended", vals.Ref("secret-file"), file, st.Mode().Perm()))
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return vals.Errorf("secret-file", "%s: %w", vals.Ref("secret-file"), err)
		}
		if s = strings.TrimSpace(string(b)); s == "" {
			return vals.Errorf("secret-file", "%s %s is empty", vals.Ref("secret-file"), file)
		}
	default:
		return errors.New("no group secret: give --secret-file FILE (or --secret, MESHNODE_SECRET, or secret-file in the config file)")
	}
	if err := identity.ValidateSecret(s); err != nil {
		if file != "" {
			return vals.Errorf("secret-file", "%s %s: %w", vals.Ref("secret-file"), file, err)
		}
		return vals.Errorf("secret", "%s: %w", vals.Ref("secret"), err)
	}
	u.secret = s
	return nil
}

// checkRendezvous checks the rendezvous address for the transport named: tcp and
// tls take host:port, websocket also a ws:// or wss:// URL, a plugin whatever
// has a host (it is asked when it runs).
func checkRendezvous(transportName, addr string) error {
	switch transportName {
	case builtinTCP:
		return transport.CheckAddr(transport.TCP(), addr)
	case builtinTLS:
		return transport.CheckAddr(transport.TLS(nil), addr)
	case "websocket":
		return transport.CheckAddr(transport.WebSocket(transport.WebSocketConfig{}), addr)
	}
	return transport.CheckAnyAddr(addr)
}

// readAuthKey takes the rendezvous' auth key from auth-key or auth-key-file (none
// is fine: an open rendezvous needs none), never both, never logging it.
func (a *app) readAuthKey(vals *config.Values, u *upConfig) error {
	key, file := vals.String("auth-key"), vals.String("auth-key-file")
	var k relay.AuthSecret
	var err error
	switch {
	case key != "" && file != "":
		return fmt.Errorf("give the auth key once: %s or %s, not both", vals.Ref("auth-key"), vals.Ref("auth-key-file"))
	case key != "":
		if k, err = relay.ParseAuthSecret(strings.TrimSpace(key)); err != nil {
			return vals.Errorf("auth-key", "%s: %w", vals.Ref("auth-key"), err)
		}
	case file != "":
		st, err := os.Stat(file)
		if err != nil {
			return vals.Errorf("auth-key-file", "%s: %w", vals.Ref("auth-key-file"), err)
		}
		if perm := st.Mode().Perm(); perm&0o004 != 0 {
			return vals.Errorf("auth-key-file", "%s %s is readable by every user (mode %04o); chmod 600 it", vals.Ref("auth-key-file"), file, perm)
		} else if perm&0o040 != 0 {
			u.warnings = append(u.warnings, fmt.Sprintf("%s %s is readable by its group (mode %04o); chmod 600 it unless that is intended", vals.Ref("auth-key-file"), file, perm))
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return vals.Errorf("auth-key-file", "%s: %w", vals.Ref("auth-key-file"), err)
		}
		if k, err = relay.ParseNodeAuthKey(string(b)); err != nil {
			return vals.Errorf("auth-key-file", "%s %s: %w", vals.Ref("auth-key-file"), file, err)
		}
	default:
		return nil
	}
	u.authKey = &k
	return nil
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
