package plugin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// CipherServer is what a cipher plugin implements.
type CipherServer interface {
	Info() Info // Suite must be set: peers compare it
	NewHandshake(req HandshakeRequest) (ServerHandshake, error)
}

// ServerHandshake is one key agreement inside a cipher plugin.
type ServerHandshake interface {
	WriteMessage(payload []byte) ([]byte, error)
	ReadMessage(msg []byte) ([]byte, error)
	Complete() bool
	Remote() [32]byte
	Keys() (KeysReply, error)
}

// TransportServer is what a transport plugin implements: a connection to the
// rendezvous at addr carrying bytes unchanged. This package hands it to the
// node over a unix socket.
type TransportServer interface {
	Info() Info
	Dial(ctx context.Context, addr string) (net.Conn, error)
}

// ServeCipher runs a cipher plugin; a plugin's main calls it and nothing else
// (a plugin must never write to stdout: go-plugin's handshake uses it). It
// ends the process when the node is gone (see nodeWatch).
func ServeCipher(impl CipherServer) {
	serve(KindCipher, newCipherService(impl).desc(), func() {})
}

// ServeTransport runs a transport plugin, and ends the process when the node
// is gone, as ServeCipher.
func ServeTransport(impl TransportServer) {
	t, err := newTransportService(impl)
	if err != nil {
		fmt.Fprintln(os.Stderr, "transport plugin:", err)
		os.Exit(1)
	}
	defer t.close()
	serve(KindTransport, t.desc(), t.close)
}

// serve runs go-plugin's server with sd until the node stops the plugin, or
// exits the process, after cleanup, when the node is gone.
func serve(kind string, sd *grpc.ServiceDesc, cleanup func()) {
	w := newNodeWatch()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.watchParent(ctx, os.Getppid(), os.Getppid, ppidInterval)
	go func() {
		select {
		case why := <-w.gone:
			cleanup()
			fmt.Fprintf(os.Stderr, "meshnode %s plugin: %s; exiting\n", kind, why)
			os.Exit(1)
		case <-ctx.Done():
		}
	}()
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: HandshakeConfig(),
		Plugins:         goplugin.PluginSet{kind: &grpcPlugin{desc: sd}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return goplugin.DefaultGRPCServer(append(opts, grpc.StatsHandler(w)))
		},
	})
}

// Limits of the plugin side.
const (
	maxHandshakes = 4096             // live handshakes in one cipher plugin
	handshakeTTL  = 30 * time.Second // an abandoned handshake is forgotten
	acceptWait    = 10 * time.Second // the node connects to a dial's socket within this
	maxPending    = 64               // dials waiting for the node to connect
)

// cipherService keeps the live handshakes of a cipher plugin.
type cipherService struct {
	impl CipherServer
	mu   sync.Mutex
	hs   map[uint64]*liveHandshake
	next uint64
}

type liveHandshake struct {
	h       ServerHandshake
	expires time.Time
}

func newCipherService(impl CipherServer) *cipherService {
	return &cipherService{impl: impl, hs: make(map[uint64]*liveHandshake)}
}

func (c *cipherService) desc() *grpc.ServiceDesc {
	return serviceDesc(cipherServiceName, map[string]unary{
		methodInfo:         handle(func(context.Context, struct{}) (Info, error) { return c.impl.Info(), nil }),
		methodNewHandshake: handle(c.newHandshake),
		methodWrite:        handle(func(_ context.Context, r MessageRequest) (MessageReply, error) { return c.message(r, true) }),
		methodRead:         handle(func(_ context.Context, r MessageRequest) (MessageReply, error) { return c.message(r, false) }),
		methodKeys:         handle(c.keys),
		methodClose:        handle(c.closeHandshake),
	})
}

func (c *cipherService) newHandshake(_ context.Context, req HandshakeRequest) (HandshakeID, error) {
	h, err := c.impl.NewHandshake(req)
	if err != nil {
		return HandshakeID{}, err
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, lh := range c.hs {
		if now.After(lh.expires) {
			delete(c.hs, id)
		}
	}
	if len(c.hs) >= maxHandshakes {
		return HandshakeID{}, fmt.Errorf("%d handshakes in progress; refusing more", len(c.hs))
	}
	c.next++
	c.hs[c.next] = &liveHandshake{h: h, expires: now.Add(handshakeTTL)}
	return HandshakeID{ID: c.next}, nil
}

func (c *cipherService) get(id uint64) (ServerHandshake, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lh, ok := c.hs[id]
	if !ok || time.Now().After(lh.expires) {
		delete(c.hs, id)
		return nil, fmt.Errorf("unknown handshake %d (expired, or the plugin restarted)", id)
	}
	return lh.h, nil
}

func (c *cipherService) message(r MessageRequest, write bool) (MessageReply, error) {
	h, err := c.get(r.ID)
	if err != nil {
		return MessageReply{}, err
	}
	var out []byte
	if write {
		out, err = h.WriteMessage(r.Data)
	} else {
		out, err = h.ReadMessage(r.Data)
	}
	if err != nil {
		return MessageReply{}, err
	}
	return MessageReply{Data: out, Complete: h.Complete(), Remote: h.Remote()}, nil
}

func (c *cipherService) keys(_ context.Context, r HandshakeID) (KeysReply, error) {
	h, err := c.get(r.ID)
	if err != nil {
		return KeysReply{}, err
	}
	c.mu.Lock()
	delete(c.hs, r.ID)
	c.mu.Unlock()
	return h.Keys()
}

func (c *cipherService) closeHandshake(_ context.Context, r HandshakeID) (struct{}, error) {
	c.mu.Lock()
	delete(c.hs, r.ID)
	c.mu.Unlock()
	return struct{}{}, nil
}

// transportService hands dialed connections to the node over one-shot unix
// sockets in a directory only this user can enter.
type transportService struct {
	impl    TransportServer
	dir     string
	pending chan struct{} // bounds dials waiting for the node
}

func newTransportService(impl TransportServer) (*transportService, error) {
	dir, err := os.MkdirTemp("", "meshnode-transport-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &transportService{impl: impl, dir: dir, pending: make(chan struct{}, maxPending)}, nil
}

func (t *transportService) close() { os.RemoveAll(t.dir) }

func (t *transportService) desc() *grpc.ServiceDesc {
	return serviceDesc(transportServiceName, map[string]unary{
		methodInfo: handle(func(context.Context, struct{}) (Info, error) { return t.impl.Info(), nil }),
		methodDial: handle(t.dial),
	})
}

func (t *transportService) dial(ctx context.Context, r DialRequest) (DialReply, error) {
	select {
	case t.pending <- struct{}{}:
	default:
		return DialReply{}, fmt.Errorf("%d dials already wait for the node", maxPending)
	}
	if r.TimeoutMS > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(r.TimeoutMS)*time.Millisecond)
		defer cancel()
	}
	conn, err := t.impl.Dial(ctx, r.Addr)
	if err != nil {
		<-t.pending
		return DialReply{}, err
	}
	var b [8]byte
	rand.Read(b[:])
	path := filepath.Join(t.dir, hex.EncodeToString(b[:])+".sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		<-t.pending
		conn.Close()
		return DialReply{}, fmt.Errorf("hand-over socket: %w", err)
	}
	go func() {
		defer func() { <-t.pending }()
		defer os.Remove(path)
		ln.(*net.UnixListener).SetDeadline(time.Now().Add(acceptWait))
		nc, err := ln.Accept()
		ln.Close()
		if err != nil {
			conn.Close()
			return
		}
		join(nc, conn)
	}()
	return DialReply{Socket: path}, nil
}

// join copies bytes both ways until either side ends, then closes both.
func join(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			dst.Close()
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	// One direction ended: the relay protocol has no half-close, so end both.
	a.Close()
	b.Close()
	<-done
}
