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

// ValidateAddr checks a rendezvous address: "host:port", or a ws:// or wss://
// URL (for the websocket transport). The error never repeats a URL's password.
func ValidateAddr(addr string) error {
	_, err := addrHost(addr)
	return err
}

// addrHost returns the host of a rendezvous address, without brackets for IPv6.
func addrHost(addr string) (string, error) {
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil || u.Hostname() == "" {
			return "", errors.New("want host:port or a ws:// or wss:// URL with a host")
		}
		if u.Scheme != "ws" && u.Scheme != "wss" {
			return "", errors.New("a URL must be ws:// or wss:// (for the websocket transport); the tcp and tls transports take host:port")
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
