package transport

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/coder/websocket"
)

// AcceptWebSocket is the rendezvous' half of the WebSocket transport: it upgrades
// r to a WebSocket and returns it as a net.Conn that carries the relay protocol the
// way WebSocket().Dial's connections send it (binary messages of at most
// WebSocketMaxMessage bytes, no compression: relay payloads are sealed and do not
// compress). It does not look at r's path; routing is the caller's.
//
// When r is not a WebSocket upgrade, AcceptWebSocket answers it with an HTTP error
// that says what this endpoint is (405 for a method other than GET, 426 Upgrade
// Required for a plain request, 400 or 403 for a malformed or cross-origin
// upgrade) and returns an error saying the same for the caller's log.
func AcceptWebSocket(w http.ResponseWriter, r *http.Request) (net.Conn, error) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method "+r.Method+" not allowed: this is a meshnode relay WebSocket endpoint; it takes only GET with a WebSocket upgrade", http.StatusMethodNotAllowed)
		return nil, fmt.Errorf("method %s is not a WebSocket upgrade", r.Method)
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "upgrade required: this is a meshnode relay WebSocket endpoint; connect with meshnode's websocket transport, not plain HTTP", http.StatusUpgradeRequired)
		return nil, errors.New("plain HTTP request without a WebSocket upgrade")
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, err // Accept answered the request; its error says why
	}
	return newWSConn(ws), nil
}

// headerHasToken reports whether a comma-separated header field of h contains
// token, case-insensitively (as "Connection: keep-alive, Upgrade" does "upgrade").
func headerHasToken(h http.Header, field, token string) bool {
	for _, v := range h.Values(field) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
