package sdnotify

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// Receiver is the service manager's end of a notify socket, for tests that
// run a daemon the way systemd would: give the daemon NOTIFY_SOCKET=Socket()
// and read what it says with Next.
type Receiver struct {
	conn *net.UnixConn
	addr string
}

// Listen opens a notify socket at addr (a path, or @name in the abstract
// namespace).
func Listen(addr string) (*Receiver, error) {
	if _, err := New(addr); err != nil {
		return nil, err
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	return &Receiver{conn: c, addr: addr}, nil
}

// Socket is the value for the daemon's NOTIFY_SOCKET.
func (r *Receiver) Socket() string { return r.addr }

// Next returns the next notification, waiting until ctx ends.
func (r *Receiver) Next(ctx context.Context) (Message, error) {
	stop := context.AfterFunc(ctx, func() { r.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 64<<10)
	n, err := r.conn.Read(buf)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("no notification on %s: %w", r.addr, ctx.Err())
		}
		return nil, err
	}
	return ParseMessage(string(buf[:n]))
}

// Close closes the socket and removes its file.
func (r *Receiver) Close() error {
	err := r.conn.Close()
	if !strings.HasPrefix(r.addr, "@") {
		os.Remove(r.addr)
	}
	return err
}

// Message is one notification: its assignments, in order.
type Message []Assignment

// Assignment is one KEY=VALUE line of a notification.
type Assignment struct{ Key, Value string }

// ParseMessage splits a notification into its assignments.
func ParseMessage(s string) (Message, error) {
	var m Message
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("notification line %q is not KEY=VALUE", line)
		}
		m = append(m, Assignment{k, v})
	}
	return m, nil
}

// Get returns the value of key ("" and false when absent).
func (m Message) Get(key string) (string, bool) {
	for _, a := range m {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

// Has says whether the message assigns key the value v.
func (m Message) Has(key, v string) bool {
	got, ok := m.Get(key)
	return ok && got == v
}

func (m Message) String() string {
	var b strings.Builder
	for i, a := range m {
		if i > 0 {
			b.WriteString(`\n`)
		}
		b.WriteString(a.Key + "=" + a.Value)
	}
	return b.String()
}
