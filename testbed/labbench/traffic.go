package labbench

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/meshnode/meshnode/internal/bench"
	"github.com/meshnode/meshnode/testbed/lab"
)

// The measurements of internal/bench (Throughput, PingPong and their sink and
// echo), with sockets inside lab nodes instead of the host's loopback.

// dialFunc opens one connection from inside a node.
type dialFunc func(ctx context.Context) (net.Conn, error)

func dialFrom(l *lab.Lab, node, addr string) dialFunc {
	return func(ctx context.Context) (net.Conn, error) { return l.Dial(ctx, node, "tcp4", addr) }
}

// startServers runs internal/bench's sink and echo inside node.
func startServers(l *lab.Lab, node, host string) (*bench.Servers, error) {
	sink, err := l.Listen(node, "tcp4", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, err
	}
	echo, err := l.Listen(node, "tcp4", net.JoinHostPort(host, "0"))
	if err != nil {
		sink.Close()
		return nil, err
	}
	return bench.ServeOn(sink, echo), nil
}

// port returns a listener's port as a string.
func port(ln net.Listener) string { return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port) }

// connect dials and ties the connection's life to ctx (and a hard deadline).
func connect(ctx context.Context, dial dialFunc, limit time.Duration) (net.Conn, func(), error) {
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	c, err := dial(dctx)
	cancel()
	if err != nil {
		return nil, nil, err
	}
	c.SetDeadline(time.Now().Add(limit))
	stop := context.AfterFunc(ctx, func() { c.Close() })
	return c, func() { stop(); c.Close() }, nil
}

// throughput sends n bytes to a sink and returns MB/s (bench.ThroughputOn).
func throughput(ctx context.Context, dial dialFunc, n int64) (float64, error) {
	c, done, err := connect(ctx, dial, 10*time.Minute)
	if err != nil {
		return 0, err
	}
	defer done()
	return bench.ThroughputOn(c, n)
}

// pingPong does rounds 64-byte round trips on one connection to an echo,
// after 10 warm-up rounds (bench.PingPongOn).
func pingPong(ctx context.Context, dial dialFunc, rounds int) (bench.Series, error) {
	c, done, err := connect(ctx, dial, 10*time.Minute)
	if err != nil {
		return nil, err
	}
	defer done()
	return bench.PingPongOn(c, rounds)
}

// dialCC is dialFrom with the TCP congestion control set on the socket (the
// sender's choice decides a bulk transfer).
func dialCC(l *lab.Lab, node, addr, cc string) dialFunc {
	return func(ctx context.Context) (net.Conn, error) {
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptString(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, cc)
			}); err != nil {
				return err
			}
			if serr != nil {
				return fmt.Errorf("congestion control %s: %w", cc, serr)
			}
			return nil
		}}
		var c net.Conn
		err := l.Do(node, func() (err error) { c, err = d.DialContext(ctx, "tcp4", addr); return })
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", node, err)
		}
		return c, nil
	}
}
