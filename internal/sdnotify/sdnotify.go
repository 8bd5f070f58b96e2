package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// EnvSocket is the variable through which the service manager names its socket.
const EnvSocket = "NOTIFY_SOCKET"

// writeTimeout bounds one notification: a service manager that does not read
// its socket must not stall the daemon.
const writeTimeout = time.Second

// Notifier sends notifications to one socket. A nil *Notifier sends nothing:
// every method is then a no-op that returns nil.
type Notifier struct {
	addr string
}

// New returns a Notifier for socket: an absolute path, or "@name" for Linux's
// abstract namespace. "" gives nil (no notifications).
func New(socket string) (*Notifier, error) {
	switch {
	case socket == "":
		return nil, nil
	case strings.HasPrefix(socket, "@"):
		if len(socket) == 1 {
			return nil, fmt.Errorf("%s %q: an abstract socket needs a name after '@'", EnvSocket, socket)
		}
	case !strings.HasPrefix(socket, "/"):
		return nil, fmt.Errorf("%s %q: want an absolute unix socket path or @name (abstract namespace)", EnvSocket, socket)
	}
	if len(socket) > 107 {
		return nil, fmt.Errorf("%s %q: %d bytes; unix socket addresses allow 107", EnvSocket, socket, len(socket))
	}
	return &Notifier{addr: socket}, nil
}

// FromEnv returns a Notifier for $NOTIFY_SOCKET (nil when it is unset or
// empty) and unsets the variable so that child processes do not inherit it.
// A malformed value is an error; the variable is unset all the same.
func FromEnv() (*Notifier, error) {
	socket, ok := os.LookupEnv(EnvSocket)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(EnvSocket)
	return New(socket)
}

// Enabled says whether notifications go anywhere.
func (n *Notifier) Enabled() bool { return n != nil }

// Socket is the socket notifications go to ("" for nil).
func (n *Notifier) Socket() string {
	if n == nil {
		return ""
	}
	return n.addr
}

// Ready says the daemon serves: startup is complete, or a reload is.
func (n *Notifier) Ready() error { return n.Send("READY=1") }

// Reloading says a reload begins; Ready must follow when it ends (whether the
// new configuration was accepted or not). It carries MONOTONIC_USEC, which
// systemd's Type=notify-reload requires.
func (n *Notifier) Reloading() error {
	if n == nil {
		return nil
	}
	usec, err := monotonicUsec()
	if err != nil {
		return err
	}
	return n.Send(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", usec))
}

// Stopping says the daemon begins to shut down.
func (n *Notifier) Stopping() error { return n.Send("STOPPING=1") }

// Status sets the one-line status `systemctl status` shows. Newlines in
// text become spaces: each line of a notification is one assignment.
func (n *Notifier) Status(text string) error {
	return n.Send("STATUS=" + strings.NewReplacer("\r", " ", "\n", " ").Replace(text))
}

// Send writes one notification: newline-separated KEY=VALUE assignments.
func (n *Notifier) Send(state string) error {
	if n == nil {
		return nil
	}
	if state == "" {
		return errors.New("sdnotify: empty notification")
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer c.Close()
	if err := c.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	return nil
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, the clock systemd compares
// MONOTONIC_USEC with.
func monotonicUsec() (int64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("sdnotify: clock_gettime: %w", err)
	}
	return ts.Nano() / 1000, nil
}

// StoppingOnDone sends STOPPING=1 as soon as ctx ends (SIGTERM, `meshnode
// down`), while the daemon still shuts down, and reports a failure to onErr
// (which may be nil). The returned wait must be called before the process
// exits: if ctx ended, it waits until the notification went out; if not, no
// notification is sent.
func (n *Notifier) StoppingOnDone(ctx context.Context, onErr func(error)) (wait func()) {
	if n == nil {
		return func() {}
	}
	sent := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(sent)
		if err := n.Stopping(); err != nil && onErr != nil {
			onErr(err)
		}
	})
	return func() {
		if !stop() {
			<-sent
		}
	}
}
