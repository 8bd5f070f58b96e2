package transport

import (
	"net/url"
	"strings"
	"testing"
)

func TestWebSocketURL(t *testing.T) {
	for _, tc := range []struct {
		addr, want, err string
	}{
		{addr: "127.0.0.1:7749", want: "ws://127.0.0.1:7749/meshnode/v1/relay"},
		{addr: "vps.example.net:80", want: "ws://vps.example.net:80/meshnode/v1/relay"},
		{addr: "[::1]:7749", want: "ws://[::1]:7749/meshnode/v1/relay"},
		{addr: "ws://vps.example.net:8080/custom/path", want: "ws://vps.example.net:8080/custom/path"},
		{addr: "wss://vps.example.net", want: "wss://vps.example.net/meshnode/v1/relay"},
		{addr: "wss://vps.example.net/", want: "wss://vps.example.net/"},
		{addr: "WSS://vps.example.net/x?a=b#frag", want: "wss://vps.example.net/x?a=b"},
		{addr: "wss://user:pw@vps.example.net/x", want: "wss://user:pw@vps.example.net/x"},
		{addr: "wss://[2001:db8::1]:443/r", want: "wss://[2001:db8::1]:443/r"},

		{addr: "vps.example.net", err: `address "vps.example.net": want host:port or a ws:// or wss:// URL`},
		{addr: ":7749", err: `address ":7749": want host:port`},
		{addr: "host:http", err: `address "host:http": want host:port`},
		{addr: "host:0", err: `address "host:0": want host:port`},
		{addr: "host:65536", err: `address "host:65536": want host:port`},
		{addr: " :1", err: `address " :1": host " " cannot be part of a URL`},
		{addr: "#x:1", err: `host "#x" cannot be part of a URL`},
		{addr: "h/p:1", err: `host "h/p" cannot be part of a URL`},
		{addr: "http://vps.example.net/x", err: "address http://vps.example.net/x: want a ws:// or wss:// URL (or host:port)"},
		{addr: "tcp://vps.example.net:7749", err: "want a ws:// or wss:// URL"},
		{addr: "ws://", err: `address "ws://" has no host`},
		{addr: "ws:///path", err: "has no host"},
		{addr: "ws://:80/x", err: "has no host"},
		{addr: "ws://host:99999/x", err: `port "99999" is out of range`},
		{addr: "ws://host:0/x", err: `port "0" is out of range`},
		{addr: "ws://user:hunter2@host/x?token=s3cret", want: "ws://user:hunter2@host/x?token=s3cret"},
		{addr: "ws://user:hunter2@[::1/x?token=s3cret", err: `address "ws://xxxxx@[::1/x?xxxxx" is not a valid URL`},
		{addr: "ftp://user:hunter2@host/?token=s3cret", err: "address ftp://user:xxxxx@host/?xxxxx: want a ws://"},
	} {
		u, err := webSocketURL(tc.addr)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.addr, err, tc.err)
			}
			if err != nil && (strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "s3cret")) {
				t.Errorf("%q: error shows a secret: %v", tc.addr, err)
			}
			continue
		}
		if err != nil || u.String() != tc.want {
			t.Errorf("%q: got %v, %v; want %s", tc.addr, u, err, tc.want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	u, _ := url.Parse("wss://user:hunter2@host:443/p?token=s3cret")
	if got, want := redactURL(u), "wss://user:xxxxx@host:443/p?xxxxx"; got != want {
		t.Fatalf("redactURL = %s, want %s", got, want)
	}
	if u.RawQuery != "token=s3cret" {
		t.Fatal("redactURL changed its argument")
	}
}

// FuzzWebSocketURL: any address either fails or yields a ws/wss URL with a host
// that survives a round trip through its string form (what websocket.Dial parses).
func FuzzWebSocketURL(f *testing.F) {
	for _, s := range []string{"127.0.0.1:7749", "[::1]:1", "wss://h/p?q#f", "ws://u:p@[fe80::1%25eth0]:80/", "ws://:80", "x://", "ws://h:99999",
		" :1", "#000000:0001"} { // once accepted, wrongly
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		u, err := webSocketURL(addr)
		if err != nil {
			return
		}
		if (u.Scheme != "ws" && u.Scheme != "wss") || u.Hostname() == "" || u.Fragment != "" {
			t.Fatalf("%q: accepted as %s", addr, u)
		}
		if u.Port() != "" && !validPort(u.Port()) {
			t.Fatalf("%q: port %q accepted", addr, u.Port())
		}
		back, err := url.Parse(u.String())
		if err != nil || back.Scheme != u.Scheme || back.Host != u.Host || back.EscapedPath() != u.EscapedPath() {
			t.Fatalf("%q: %s does not round-trip: %v %v", addr, u, back, err)
		}
	})
}
