package transport

import (
	"context"
	"net"
	"strings"
	"testing"
)

// opaque is a transport that does not check addresses (like a plugin's).
type opaque struct{}

func (opaque) Name() string                                   { return "opaque" }
func (opaque) Dial(context.Context, string) (net.Conn, error) { return nil, nil }

func TestCheckAddr(t *testing.T) {
	ws := WebSocket(WebSocketConfig{})
	for _, tc := range []struct {
		tr   Transport
		addr string
		err  string // "" = accepted
	}{
		{TCP(), "vps.example.net:7749", ""},
		{TCP(), "[2001:db8::1]:7749", ""},
		{TCP(), "ws://vps.example.net:80/x", `tcp transport: address "ws://vps.example.net:80/x" is a URL; want host:port (ws:// and wss:// URLs need the websocket transport)`},
		{TCP(), "vps.example.net", `tcp transport: address "vps.example.net": want host:port: address vps.example.net: missing port in address`},
		{TCP(), ":7749", "no host before the port"},
		{TCP(), "h:0", `port "0" is not a number in 1-65535`},
		{TCP(), "h:http", `port "http" is not a number`},
		{TLS(nil), "vps.example.net:443", ""},
		{TLS(nil), "wss://user:hunter2@vps.example.net/x?token=s3cret", `tls transport: address "wss://xxxxx@vps.example.net/x?xxxxx" is a URL`},
		{ws, "vps.example.net:80", ""},
		{ws, "ws://vps.example.net:8080/meshnode/v1/relay", ""},
		{ws, "wss://vps.example.net/relay", ""},
		{ws, "wss://[2001:db8::1]:443/relay", ""},
		{ws, "https://vps.example.net/relay", "want a ws:// or wss:// URL"},
		{opaque{}, "vps.example.net:7749", ""},
		{opaque{}, "wss://vps.example.net/relay", ""},
		{opaque{}, "quic://vps.example.net:443", ""},
		{opaque{}, "ws://:80/x", "has no host"},
		{opaque{}, "ws://h:99999/x", `port "99999" is out of range`},
		{opaque{}, "vps.example.net", `rendezvous address "vps.example.net": want host:port or a URL`},
		{opaque{}, "ws://user:hunter2@[::1/x?token=s3cret", `rendezvous address "ws://xxxxx@[::1/x?xxxxx" is not a valid URL`},
	} {
		err := CheckAddr(tc.tr, tc.addr)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s %q: %v", tc.tr.Name(), tc.addr, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s %q: err = %v, want %q", tc.tr.Name(), tc.addr, err, tc.err)
		case err != nil && (strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "s3cret")):
			t.Errorf("%s %q: error shows a secret: %v", tc.tr.Name(), tc.addr, err)
		}
	}
	// Dial says the same before it touches the network.
	if _, err := TCP().Dial(context.Background(), "ws://127.0.0.1:1/x"); err == nil || !strings.Contains(err.Error(), "is a URL") {
		t.Errorf("tcp dial of a URL: %v", err)
	}
	if _, err := TLS(nil).Dial(context.Background(), "wss://127.0.0.1:1/x"); err == nil || !strings.Contains(err.Error(), "is a URL") {
		t.Errorf("tls dial of a URL: %v", err)
	}
}
