package plugin

import (
	"context"
	"errors"
	"fmt"

	"github.com/meshnode/meshnode/pkg/identity"
	"github.com/meshnode/meshnode/pkg/seal"
)

// Cipher loads cipher plugin name and returns it as a seal.Cipher. The
// plugin runs the handshakes; the datagram AEAD it names runs in this process.
func (m *Manager) Cipher(ctx context.Context, name string) (seal.Cipher, error) {
	in, err := m.load(ctx, KindCipher, name)
	if err != nil {
		return nil, err
	}
	return &remoteCipher{in: in, suite: in.status().Suite}, nil
}

type remoteCipher struct {
	in    *instance
	suite string // fixed at load: peers compare it, so a restart must not change it
}

func (c *remoteCipher) Name() string { return c.suite }

func (c *remoteCipher) NewHandshake(cfg seal.HandshakeConfig) (seal.Handshake, error) {
	if s := c.in.status().Suite; s != c.suite {
		return nil, fmt.Errorf("cipher plugin %q now says suite %q, not %q: restart the node to change suites", c.in.name, s, c.suite)
	}
	id, err := callPlugin[HandshakeID](context.Background(), c.in, methodNewHandshake,
		HandshakeRequest{Initiator: cfg.Initiator, Local: cfg.Local, Remote: cfg.Remote, PSK: cfg.PSK})
	if err != nil {
		return nil, err
	}
	return &remoteHandshake{c: c, id: id.ID}, nil
}

// remoteHandshake is a handshake running inside the plugin.
type remoteHandshake struct {
	c        *remoteCipher
	id       uint64
	complete bool
	remote   identity.PublicKey
	done     bool // keys taken
}

func (h *remoteHandshake) message(method string, out, data []byte) ([]byte, error) {
	rep, err := callPlugin[MessageReply](context.Background(), h.c.in, method, MessageRequest{ID: h.id, Data: data})
	if err != nil {
		return nil, err
	}
	h.complete = rep.Complete
	h.remote = rep.Remote
	return append(out, rep.Data...), nil
}

func (h *remoteHandshake) WriteMessage(out, payload []byte) ([]byte, error) {
	return h.message(methodWrite, out, payload)
}

func (h *remoteHandshake) ReadMessage(out, msg []byte) ([]byte, error) {
	return h.message(methodRead, out, msg)
}

func (h *remoteHandshake) Complete() bool { return h.complete }

func (h *remoteHandshake) Remote() identity.PublicKey { return h.remote }

func (h *remoteHandshake) Keys() (seal.AEAD, seal.AEAD, error) {
	if !h.complete {
		return nil, nil, errors.New("handshake not complete")
	}
	if h.done {
		return nil, nil, errors.New("keys already taken")
	}
	k, err := callPlugin[KeysReply](context.Background(), h.c.in, methodKeys, HandshakeID{ID: h.id})
	if err != nil {
		return nil, nil, err
	}
	h.done = true
	send, err := seal.NewAEAD(k.AEAD, k.Send)
	if err != nil {
		return nil, nil, fmt.Errorf("cipher plugin %q: %w", h.c.in.name, err)
	}
	recv, err := seal.NewAEAD(k.AEAD, k.Recv)
	if err != nil {
		return nil, nil, fmt.Errorf("cipher plugin %q: %w", h.c.in.name, err)
	}
	return send, recv, nil
}
