package transport

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// AddrChecker is implemented by transports that can tell, before dialing,
// whether they take a rendezvous address. The built-ins implement it.
type AddrChecker interface {
	CheckAddr(addr string) error
}

// CheckAddr reports whether t can dial the rendezvous address addr, with an
// error naming what is wrong (a URL's password and query are not shown). A
// node calls it on --rendezvous before it starts. Transports that implement
// AddrChecker decide themselves: tcp and tls take host:port, websocket takes
// host:port or a ws:// or wss:// URL. Any other transport (a plugin, which
// the node cannot ask without launching it) gets the loosest form any
// transport takes: host:port, or a URL with a scheme and a host.
func CheckAddr(t Transport, addr string) error {
	if c, ok := t.(AddrChecker); ok {
		return c.CheckAddr(addr)
	}
	return CheckAnyAddr(addr)
}

// CheckAnyAddr accepts host:port (a port 1-65535) or a URL with a scheme and
// a host, such as ws://host:port/path or wss://host/path.
func CheckAnyAddr(addr string) error {
	if !strings.Contains(addr, "://") {
		return checkHostPort("rendezvous address", addr, "want host:port or a URL")
	}
	u, err := url.Parse(addr)
	if err != nil {
		return fmt.Errorf("rendezvous address %s is not a valid URL", redactRaw(addr))
	}
	switch {
	case u.Opaque != "" || u.Hostname() == "":
		return fmt.Errorf("rendezvous address %s has no host", redactRaw(addr))
	case u.Port() != "" && !validPort(u.Port()):
		return fmt.Errorf("rendezvous address %s: port %q is out of range", redactURL(u), u.Port())
	}
	return nil
}

// checkHostPort accepts host:port with a non-empty host and a port 1-65535.
// what starts the error ("tcp transport: address"); want says what is taken.
func checkHostPort(what, addr, want string) error {
	if strings.Contains(addr, "://") {
		return fmt.Errorf("%s %s is a URL; %s (ws:// and wss:// URLs need the websocket transport)", what, redactRaw(addr), want)
	}
	host, port, err := net.SplitHostPort(addr)
	switch {
	case err != nil:
		return fmt.Errorf("%s %q: %s: %w", what, addr, want, err)
	case host == "":
		return fmt.Errorf("%s %q: no host before the port", what, addr)
	case !validPort(port):
		return fmt.Errorf("%s %q: port %q is not a number in 1-65535", what, addr, port)
	}
	return nil
}
