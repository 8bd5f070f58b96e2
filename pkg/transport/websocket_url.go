package transport

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// webSocketURL turns a rendezvous address into the URL the WebSocket transport
// dials: "host:port" becomes ws://host:port/meshnode/v1/relay (WebSocketPath); a
// ws:// or wss:// URL is taken as it is, except that an empty path becomes
// WebSocketPath and a fragment is dropped. Anything else is an error that quotes
// the address with its password, if any, redacted.
func webSocketURL(addr string) (*url.URL, error) {
	if !strings.Contains(addr, "://") {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" || !validPort(port) {
			return nil, fmt.Errorf("websocket transport: address %q: want host:port or a ws:// or wss:// URL", addr)
		}
		hostport := net.JoinHostPort(host, port)
		u, err := url.Parse("ws://" + hostport + WebSocketPath)
		if err != nil || u.Host != hostport {
			return nil, fmt.Errorf("websocket transport: address %q: host %q cannot be part of a URL", addr, host)
		}
		return u, nil
	}
	u, err := url.Parse(addr)
	if err != nil {
		// url.Error quotes the whole input, password included: say it without.
		return nil, fmt.Errorf("websocket transport: address %s is not a valid URL", redactRaw(addr))
	}
	shown := redactURL(u)
	switch {
	case u.Scheme != "ws" && u.Scheme != "wss":
		return nil, fmt.Errorf("websocket transport: address %s: want a ws:// or wss:// URL (or host:port)", shown)
	case u.Opaque != "" || u.Hostname() == "":
		return nil, fmt.Errorf("websocket transport: address %s has no host", redactRaw(addr))
	case u.Port() != "" && !validPort(u.Port()):
		return nil, fmt.Errorf("websocket transport: address %s: port %q is out of range", shown, u.Port())
	}
	if u.Path == "" && u.RawPath == "" {
		u.Path = WebSocketPath
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// validPort reports whether p is a decimal port number 1..65535.
func validPort(p string) bool {
	n, err := strconv.ParseUint(p, 10, 16)
	return err == nil && n > 0
}

// redactURL is u for error messages: the password and the query (which may carry
// a token) are replaced by "xxxxx".
func redactURL(u *url.URL) string {
	c := *u
	if c.RawQuery != "" {
		c.RawQuery = "xxxxx"
	}
	return c.Redacted()
}

// redactRaw hides what may be a password in an address that is not a valid URL:
// everything between "://" and the last "@" before the path.
func redactRaw(addr string) string {
	scheme, rest, ok := strings.Cut(addr, "://")
	if !ok {
		return strconv.Quote(addr)
	}
	authority, path := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		authority = "xxxxx" + authority[i:]
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i] + "?xxxxx"
	}
	return strconv.Quote(scheme + "://" + authority + path)
}
