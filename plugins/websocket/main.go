// Command meshnode-transport-websocket is a reference transport plugin: it
// reaches the rendezvous over a WebSocket (ws:// or wss://), for nodes behind
// networks that pass only HTTP(S). The rendezvous accepts it with
// `--ws-listen ADDR`. Use it with
//
//	meshnode up --transport websocket --rendezvous HOST:PORT ...
//
// (HOST:PORT means ws://HOST:PORT/meshnode/v1/relay; a full ws:// or wss://
// URL is taken as is, e.g. behind a reverse proxy on 443). The node launches
// it from its plugin directory; started by hand it explains itself and exits.
//
// For wss:// with a private CA, set MESHNODE_WS_CA_FILE (a PEM file trusted in
// addition to the system roots) and, if the certificate names another host,
// MESHNODE_WS_SERVER_NAME, in the node's environment (plugins inherit it).
package main

import (
	"context"
	"net"
	"os"

	"github.com/meshnode/meshnode/pkg/plugin"
	"github.com/meshnode/meshnode/pkg/transport"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	plugin.ServeTransport(wsPlugin{ws: transport.WebSocket(transport.WebSocketConfig{
		CAFile:     os.Getenv("MESHNODE_WS_CA_FILE"),
		ServerName: os.Getenv("MESHNODE_WS_SERVER_NAME"),
	})})
}

type wsPlugin struct{ ws transport.Transport }

func (wsPlugin) Info() plugin.Info { return plugin.Info{Name: "websocket", Version: version} }

func (p wsPlugin) Dial(ctx context.Context, addr string) (net.Conn, error) {
	return p.ws.Dial(ctx, addr)
}
