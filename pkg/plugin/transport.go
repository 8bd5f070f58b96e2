package plugin

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/meshnode/meshnode/pkg/transport"
)

// Transport loads transport plugin name and returns it as a
// transport.Transport: the plugin dials, the bytes reach this process over a
// unix socket the plugin hands over.
func (m *Manager) Transport(ctx context.Context, name string) (transport.Transport, error) {
	in, err := m.load(ctx, KindTransport, name)
	if err != nil {
		return nil, err
	}
	return &remoteTransport{in: in}, nil
}

type remoteTransport struct{ in *instance }

func (t *remoteTransport) Name() string { return t.in.name }

func (t *remoteTransport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	timeout := 15 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	// The dial may take longer than a control call: give it its own deadline.
	cc, err := t.in.conn(ctx)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rep, err := call[DialReply](dctx, cc, transportServiceName, methodDial, DialRequest{Addr: addr, TimeoutMS: int(timeout.Milliseconds())})
	if err != nil {
		return nil, fmt.Errorf("transport plugin %q: dial %s: %w", t.in.name, addr, err)
	}
	var d net.Dialer
	c, err := d.DialContext(dctx, "unix", rep.Socket)
	if err != nil {
		return nil, fmt.Errorf("transport plugin %q: hand-over socket: %w", t.in.name, err)
	}
	return c, nil
}
