package overlay

import (
	"sync"
	"time"
)

// warnings rate-limits repeated warnings: a misbehaving or hostile peer that
// triggers the same warning in a loop costs one line per interval (and a count
// of the rest), not thousands a second.
type warnings struct {
	every time.Duration

	mu   sync.Mutex
	last map[string]*warnState
}

type warnState struct {
	at         time.Time
	suppressed int
}

// maxWarnKeys bounds warnings' memory; past it, the table starts over.
const maxWarnKeys = 1024

// warnEvery is how often one kind of warning is logged.
const warnEvery = time.Minute

// allow reports whether a warning with key may be logged now, and how many were
// suppressed since the last one logged.
func (w *warnings) allow(key string, now time.Time) (ok bool, suppressed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil || len(w.last) >= maxWarnKeys {
		w.last = make(map[string]*warnState)
	}
	st := w.last[key]
	if st == nil {
		w.last[key] = &warnState{at: now}
		return true, 0
	}
	if now.Sub(st.at) < w.every {
		st.suppressed++
		return false, 0
	}
	n := st.suppressed
	st.at, st.suppressed = now, 0
	return true, n
}

// warn logs msg at warning level unless one with the same key was logged within
// warnEvery; the next one logged says how many were left out.
func (n *Node) warn(key, msg string, args ...any) {
	ok, suppressed := n.warnings.allow(key, time.Now())
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "repeated", suppressed)
	}
	n.log.Warn(msg, args...)
}

// warn is Node.warn for one peer: the key and the line name it.
func (l *link) warn(key, msg string, args ...any) {
	l.n.warn(key+" "+l.peer.String(), msg, append(args, "peer", l.peer.Short())...)
}
