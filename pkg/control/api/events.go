package api

import "time"

// EventKind says what an Event is about.
type EventKind string

// The kinds of events a node streams.
const (
	// EventPath: a peer's path changed (Path, and Remote or Reason).
	EventPath EventKind = "path"
	// EventJoin: a peer joined the group.
	EventJoin EventKind = "join"
	// EventLeave: a peer left the group (Reason says how).
	EventLeave EventKind = "leave"
)

// Event is something a user may want to watch: a peer's path changing, a peer
// joining or leaving the group. GET /v1/events streams them, one JSON object a
// line.
type Event struct {
	Time   time.Time `json:"time"`
	Kind   EventKind `json:"kind"`
	Peer   string    `json:"peer"`
	Name   string    `json:"name,omitempty"`
	Path   Path      `json:"path,omitempty"`   // EventPath: the new path
	Remote string    `json:"remote,omitempty"` // EventPath to PathDirect: the peer's endpoint
	Reason string    `json:"reason,omitempty"`
}
