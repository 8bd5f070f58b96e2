package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshnode/meshnode/pkg/control/api"
)

// SSE limits. The ring holds the last ringSize events for Last-Event-ID
// resumes; each stream reads from it at its own pace (no queue per stream), and
// one that falls more than ringSize events behind is told to resync.
const (
	ringSize         = 1024
	maxSSEStreams    = 32
	defaultHeartbeat = 15 * time.Second
	sseWriteTimeout  = 30 * time.Second // a stream whose client stops reading is dropped
	sseRetryMillis   = 2000
)

// eventLog is the HTTP API's view of the node's events: one subscription to
// the backend, each event numbered and kept in a bounded ring, which every
// SSE stream reads. Event IDs are "BOOT.SEQ": BOOT tells this log from an
// earlier process's, SEQ counts from 1.
type eventLog struct {
	boot      string
	heartbeat time.Duration

	mu      sync.Mutex
	seq     uint64    // the last event's number
	ring    []sseItem // the last ringSize events, oldest first
	streams map[chan struct{}]struct{}
	done    chan struct{} // closed when the log stops (the node's events end or ctx ends)
}

type sseItem struct {
	seq uint64
	ev  api.Event
}

// newEventLog subscribes to b's events and records them until ctx ends.
func newEventLog(ctx context.Context, b Backend, heartbeat time.Duration) (*eventLog, error) {
	evs, cancel, ok := b.Subscribe()
	if !ok {
		return nil, errors.New("the node has no event subscription left for the HTTP API")
	}
	if heartbeat <= 0 {
		heartbeat = defaultHeartbeat
	}
	l := &eventLog{
		boot:      strconv.FormatInt(time.Now().UnixNano(), 36),
		heartbeat: heartbeat,
		streams:   make(map[chan struct{}]struct{}),
		done:      make(chan struct{}),
	}
	go func() {
		defer close(l.done)
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-evs:
				if !ok {
					return
				}
				l.add(ev)
			}
		}
	}()
	return l, nil
}

func (l *eventLog) add(ev api.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	if len(l.ring) == ringSize {
		copy(l.ring, l.ring[1:])
		l.ring = l.ring[:ringSize-1]
	}
	l.ring = append(l.ring, sseItem{seq: l.seq, ev: ev})
	for c := range l.streams {
		select {
		case c <- struct{}{}:
		default: // already notified
		}
	}
}

// since returns the events after seq; gap is true when some of them already
// left the ring.
func (l *eventLog) since(seq uint64) (items []sseItem, last uint64, gap bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq >= l.seq {
		return nil, l.seq, false
	}
	if len(l.ring) == 0 || l.ring[0].seq > seq+1 {
		gap = true
	}
	for _, it := range l.ring {
		if it.seq > seq {
			items = append(items, it)
		}
	}
	return items, l.seq, gap
}

// resumeFrom parses a Last-Event-ID: the sequence number to continue after,
// or ok false when it is not one of this log's IDs (another process's, a
// future one, garbage): the stream then starts now, after a resync event.
func (l *eventLog) resumeFrom(lastID string) (seq uint64, ok bool) {
	boot, n, found := strings.Cut(lastID, ".")
	if !found || boot != l.boot {
		return 0, false
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	if err != nil {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq > l.seq {
		return 0, false
	}
	return seq, true
}

func (l *eventLog) attach() (chan struct{}, uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.streams) >= maxSSEStreams {
		return nil, 0, false
	}
	c := make(chan struct{}, 1)
	l.streams[c] = struct{}{}
	return c, l.seq, true
}

func (l *eventLog) detach(c chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.streams, c)
}

// serveSSE streams events as Server-Sent Events: "event: KIND", "id:
// BOOT.SEQ", "data: {api.Event}". With a Last-Event-ID header (or the
// last_event_id query parameter) it first sends what the client missed, from
// the ring; when that is not possible it sends "event: resync" (the client
// should re-read the state it shows) and continues from now. A comment every
// heartbeat keeps proxies from closing an idle stream.
func (l *eventLog) serveSSE(w http.ResponseWriter, r *http.Request) {
	notify, now, ok := l.attach()
	if !ok {
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("too many event streams on this node's HTTP API (at most %d)", maxSSEStreams))
		return
	}
	defer l.detach(notify)
	last, resync := now, ""
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = r.URL.Query().Get("last_event_id")
	}
	if lastID != "" {
		if seq, ok := l.resumeFrom(lastID); ok {
			last = seq
		} else {
			resync = fmt.Sprintf("event ID %q is not from this node's current run; re-read the state", lastID)
		}
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	write := func(s string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
		if _, err := w.Write([]byte(s)); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(fmt.Sprintf("retry: %d\n: meshnode events\n\n", sseRetryMillis)) {
		return
	}
	if resync != "" && !write(resyncEvent(resync)) {
		return
	}
	tick := time.NewTicker(l.heartbeat)
	defer tick.Stop()
	for {
		items, upto, gap := l.since(last)
		if gap {
			if !write(resyncEvent("events were missed (the stream fell more than the ring behind); re-read the state")) {
				return
			}
		}
		for _, it := range items {
			data, err := json.Marshal(it.ev)
			if err != nil {
				continue
			}
			if !write(fmt.Sprintf("event: %s\nid: %s.%d\ndata: %s\n\n", it.ev.Kind, l.boot, it.seq, data)) {
				return
			}
		}
		last = upto
		select {
		case <-r.Context().Done():
			return
		case <-l.done:
			return
		case <-notify:
		case <-tick.C:
			if !write(": keepalive\n\n") {
				return
			}
		}
	}
}

func resyncEvent(reason string) string {
	data, _ := json.Marshal(struct {
		Reason string `json:"reason"`
	}{reason})
	return fmt.Sprintf("event: resync\ndata: %s\n\n", data)
}
