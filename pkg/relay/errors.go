package relay

import (
	"errors"
	"fmt"
	"strings"
)

// ErrProtocol marks a violation of the wire protocol by the other side: an
// oversized frame, an unknown or unexpected frame type, a malformed payload. The
// connection is closed; errors.Is(err, ErrProtocol) tells it apart from I/O errors.
var ErrProtocol = errors.New("protocol error")

// ErrServerClosed is returned by Server.ServeConn (and a second Server.Serve) once
// the server has stopped serving.
var ErrServerClosed = errors.New("relay server closed")

// ErrNotConnected is returned by Client.Send while there is no rendezvous connection.
var ErrNotConnected = errors.New("not connected to the rendezvous")

// ErrQueueFull is returned by Client.Send when the send queue stayed full for the
// short wait Send allows; the datagram is dropped (like a full UDP socket buffer).
var ErrQueueFull = errors.New("rendezvous send queue is full; datagram dropped")

// ErrPayloadTooLarge is returned by Client.Send for a datagram longer than
// MaxDatagramLen.
var ErrPayloadTooLarge = fmt.Errorf("datagram exceeds the relay limit of %d bytes", MaxDatagramLen)

// VersionError reports that client and server speak different protocol versions.
type VersionError struct{ Server, Client int }

func (e *VersionError) Error() string {
	return fmt.Sprintf("protocol version mismatch: server %d, client %d", e.Server, e.Client)
}

// RejectedError is the rendezvous refusing a client during the handshake (server
// full, no auth key, version mismatch...). Code says why; Message is the server's
// explanation.
type RejectedError struct {
	Code    Code
	Message string
}

func (e *RejectedError) Error() string {
	return "the rendezvous refused this node: " + explain(e.Code, e.Message)
}

// ClosedByServerError is the rendezvous closing an established connection with an
// explanation (replaced by a newer connection, auth key revoked, shutting down...).
type ClosedByServerError struct {
	Code    Code
	Message string
}

func (e *ClosedByServerError) Error() string {
	return "the rendezvous closed the connection: " + explain(e.Code, e.Message)
}

// explain joins a code's name and the server's message, without saying the same
// thing twice.
func explain(c Code, msg string) string {
	switch {
	case msg == "":
		return c.String()
	case strings.Contains(msg, c.String()):
		return msg
	}
	return c.String() + ": " + msg
}

// protoErr returns an error wrapping ErrProtocol.
func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}
