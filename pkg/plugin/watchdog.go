package plugin

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/stats"
)

// ppidInterval is how often a plugin checks that its node is still its parent.
const ppidInterval = 250 * time.Millisecond

// nodeWatch is the plugin side's second guard against outliving its node (the
// first is the death signal the node asks the kernel for, see startPinned): a
// plugin ends when
//
//   - its parent process changes (getppid differs from the one at start: the
//     node died and the plugin was re-parented to init or a subreaper), or
//   - the node's gRPC connection, once made, closes: the node keeps one
//     connection for the plugin's whole life (go-plugin's client, health
//     checks every 2 s keep it busy), so a plugin left without one has been
//     abandoned.
//
// It is a grpc stats.Handler for the connection events.
type nodeWatch struct {
	conns atomic.Int64
	once  sync.Once
	gone  chan string // why the node is gone; written once
}

func newNodeWatch() *nodeWatch { return &nodeWatch{gone: make(chan string, 1)} }

// nodeGone reports why the node is gone, once.
func (w *nodeWatch) nodeGone(why string) {
	w.once.Do(func() { w.gone <- why })
}

// watchParent reports the node gone when getppid stops returning ppid, checking
// every interval until ctx ends.
func (w *nodeWatch) watchParent(ctx context.Context, ppid int, getppid func() int, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if now := getppid(); now != ppid {
			w.nodeGone(fmt.Sprintf("the node (pid %d) is gone (parent is now pid %d)", ppid, now))
			return
		}
	}
}

// TagConn, HandleConn, TagRPC and HandleRPC make nodeWatch a stats.Handler.
func (w *nodeWatch) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (w *nodeWatch) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (w *nodeWatch) HandleRPC(context.Context, stats.RPCStats)                         {}

func (w *nodeWatch) HandleConn(_ context.Context, s stats.ConnStats) {
	switch s.(type) {
	case *stats.ConnBegin:
		w.conns.Add(1)
	case *stats.ConnEnd:
		if w.conns.Add(-1) == 0 {
			w.nodeGone("the node closed its connection to this plugin")
		}
	}
}
