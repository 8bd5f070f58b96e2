package transport

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// WebSocketPath is the HTTP path of the rendezvous' WebSocket endpoint unless it
// is configured otherwise (rendezvous --ws-path); a "host:port" address dials it.
const WebSocketPath = "/meshnode/v1/relay"

// WebSocketConfig configures the WebSocket transport. The zero value dials ws://
// and wss:// with the system's CA roots. Its TLS fields mean what TLSOptions'
// do, and apply to wss:// only.
type WebSocketConfig struct {
	// CAFile is a PEM file of CA certificates trusted for wss:// instead of the
	// system roots (for a rendezvous with a private CA or a self-signed
	// certificate). "" = system roots.
	CAFile string
	// Pin is "sha256:..." of the server certificate's public key (see
	// TLSOptions.Pin); with a pin, a self-signed certificate needs no CAFile.
	Pin string
	// ServerName is the name a wss:// server's certificate is verified against.
	// "" = the host of the URL.
	ServerName string
}

// TLSOptions returns the TLS part of c.
func (c WebSocketConfig) TLSOptions() TLSOptions {
	//lint:ignore S1016 field by field on purpose: a non-TLS field added to WebSocketConfig must not break this
	return TLSOptions{CAFile: c.CAFile, Pin: c.Pin, ServerName: c.ServerName}
}

// WebSocket returns the WebSocket transport, for networks that pass only HTTP(S):
// it reaches the rendezvous' --ws-listen endpoint and carries the relay protocol,
// unchanged, in binary WebSocket messages (see AcceptWebSocket for the other half).
//
// Dial's address is "host:port", which dials ws://host:port/meshnode/v1/relay, or
// a full ws:// or wss:// URL (an empty path means /meshnode/v1/relay). wss:// is
// verified like the TLS transport (ClientTLSConfig): the system roots or
// cfg.CAFile and/or cfg.Pin, against cfg.ServerName or else the URL's host; TLS
// 1.2 at least. An HTTP(S) proxy from
// the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) is used as by net/http.
// HTTP redirects are not followed (the error names where they point).
//
// A CAFile that cannot be loaded or a malformed Pin makes every wss:// Dial fail
// with the reason; ws:// does not use them.
func WebSocket(cfg WebSocketConfig) Transport {
	t := &wsTransport{}
	tlsCfg, err := ClientTLSConfig(cfg.TLSOptions())
	if err != nil {
		t.tlsErr = err
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12} // never used for wss://
	}
	d := &net.Dialer{KeepAliveConfig: keepAlive}
	t.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                  http.ProxyFromEnvironment,
			DialContext:            d.DialContext,
			TLSClientConfig:        tlsCfg, // also keeps HTTP/2 off: the upgrade needs HTTP/1.1
			TLSHandshakeTimeout:    10 * time.Second,
			DisableKeepAlives:      true, // a failed upgrade leaves no idle connection behind
			MaxResponseHeaderBytes: 64 << 10,
		},
		// A redirect is reported, not followed: it could lead from wss:// to ws://
		// or elsewhere without the user knowing; the error names its target.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return t
}

type wsTransport struct {
	client *http.Client
	tlsErr error // the TLS options are broken: wss:// cannot be verified as configured
}

func (*wsTransport) Name() string { return "websocket" }

// CheckAddr accepts host:port or a ws:// or wss:// URL.
func (*wsTransport) CheckAddr(addr string) error {
	_, err := webSocketURL(addr)
	return err
}

// Dial upgrades an HTTP(S) connection to the rendezvous at addr to a WebSocket.
// Errors name the URL (with any password and query redacted).
func (t *wsTransport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	u, err := webSocketURL(addr)
	if err != nil {
		return nil, err
	}
	shown := redactURL(u)
	if u.Scheme == "wss" && t.tlsErr != nil {
		return nil, fmt.Errorf("websocket dial %s: %w", shown, t.tlsErr)
	}
	ws, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient:      t.client,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return nil, fmt.Errorf("websocket dial %s: %w", shown, explainDialErr(err, resp))
	}
	return newWSConn(ws), nil
}

// explainDialErr turns websocket.Dial's error into what went wrong: the server's
// HTTP answer when it did not upgrade, or the cause of a failed request without
// the library's prefixes (the URL is named by the caller).
func explainDialErr(err error, resp *http.Response) error {
	if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		msg := fmt.Sprintf("the server answered HTTP %s instead of upgrading to a WebSocket", resp.Status)
		if resp.Body != nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024)) // Dial kept at most 1 KiB
			if text := oneLine(b, 200); text != "" {
				msg += fmt.Sprintf(": %q", text)
			}
		}
		if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode/100 == 3 {
			msg += fmt.Sprintf(" (a redirect to %q; redirects are not followed: dial that URL, as ws:// or wss://)", oneLine([]byte(loc), 200))
		}
		if resp.StatusCode == http.StatusNotFound {
			msg += " (wrong path? the rendezvous' --ws-path must match the URL's)"
		}
		return errors.New(msg)
	}
	if resp != nil {
		return err // 101 with a bad handshake: the library's words are the best
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // "Get <url>: ..." would name the URL a second time
	}
	if e := explainTLSError(err); e != err {
		return e
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("the server closed the connection without an HTTP answer (the rendezvous' relay --listen port rather than its --ws-listen port?): %w", err)
	}
	return err
}

// oneLine returns b as one trimmed line of at most limit bytes, for an error message.
func oneLine(b []byte, limit int) string {
	b = bytes.TrimSpace(b)
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	}
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > limit {
		s = strings.ToValidUTF8(s[:limit], "") + "..."
	}
	return s
}
