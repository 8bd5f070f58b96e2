package relay

import (
	"errors"
	"net"
	"net/url"
	"strings"
)

// A rendezvous address is "host:port" for the TCP and TLS transports, or a URL
// such as "wss://host/path" for transports that take one (WebSocket). The client
// needs its host (STUN runs on the host it dialed) and a form safe to log.

// addrHost returns the host of a rendezvous address, without brackets for IPv6.
func addrHost(addr string) (string, error) {
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil || u.Hostname() == "" {
			return "", errors.New("want host:port or a URL with a host")
		}
		return u.Hostname(), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return "", errors.New("want host:port, or a ws:// or wss:// URL for the websocket transport")
	}
	return host, nil
}

// displayAddr is addr for logs and status: a URL's password is replaced by
// "xxxxx".
func displayAddr(addr string) string {
	if !strings.Contains(addr, "://") {
		return addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return addr // NewClient refuses it
	}
	return u.Redacted()
}
