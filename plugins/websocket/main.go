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
// For wss:// to a rendezvous with a private CA or a self-signed certificate, the
// node sets (from its --rendezvous-ca / --rendezvous-pin flags, or from its own
// environment, which a plugin inherits minus meshnode's secrets):
//
//	MESHNODE_WS_CA_FILE      a PEM file of CAs trusted instead of the system roots
//	MESHNODE_WS_PIN          sha256:... of the server key (the rendezvous prints it)
//	MESHNODE_WS_SERVER_NAME  the name to verify, if the URL's host is not in the certificate
//
// See transport.TLSOptions for what each means.
package main

import (
	"context"
	"net"

	"github.com/meshnode/meshnode/pkg/plugin"
	"github.com/meshnode/meshnode/pkg/transport"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	plugin.ServeTransport(wsPlugin{ws: transport.WebSocket(transport.WebSocketConfigFromEnv())})
}

type wsPlugin struct{ ws transport.Transport }

func (wsPlugin) Info() plugin.Info { return plugin.Info{Name: "websocket", Version: version} }

func (p wsPlugin) Dial(ctx context.Context, addr string) (net.Conn, error) {
	return p.ws.Dial(ctx, addr)
}
