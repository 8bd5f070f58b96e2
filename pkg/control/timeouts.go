package control

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// timeouts bound how long a client of the control socket may take to send a
// request, and how long an idle keep-alive connection stays open. A request
// that has been read is not bounded by them: the events stream runs until the
// client leaves, a ping up to maxPingTime, a netcheck up to 15 s (see
// readWholeRequest).
type timeouts struct {
	header time.Duration // request line and headers
	read   time.Duration // the whole request, body included
	idle   time.Duration // between requests on a keep-alive connection
}

// defaultTimeouts are generous for a local socket: a CLI sends a request of a
// few hundred bytes at once.
func defaultTimeouts() timeouts {
	return timeouts{header: 5 * time.Second, read: 10 * time.Second, idle: 30 * time.Second}
}

// server returns the HTTP server for h with these timeouts. There is no write
// timeout: a stream or a long ping writes when it has something to say.
func (t timeouts) server(h http.Handler) *http.Server {
	return &http.Server{Handler: readWholeRequest(h), ReadHeaderTimeout: t.header, ReadTimeout: t.read, IdleTimeout: t.idle}
}

// readWholeRequest reads the request body (at most maxBody bytes) under the
// server's read timeout, answering 408 when it does not arrive in time, and
// only then runs h, with the read deadline lifted.
//
// net/http keeps reading the connection in the background while a handler
// runs, to cancel the request's context when the client goes away; it lifts
// the ReadTimeout deadline when it starts that read, which is once the body
// has been read to EOF. A handler that left its body partly unread would keep
// the deadline, and its context would be cancelled when it passed: an events
// stream or a 10-minute ping cut after ReadTimeout. Reading every body here
// makes the rule hold for every route, and lifting the deadline explicitly
// keeps it so whatever net/http does.
func readWholeRequest(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeError(w, http.StatusBadRequest, fmt.Errorf("request body larger than %d bytes", maxBody))
				return
			}
			writeError(w, http.StatusRequestTimeout, fmt.Errorf("reading the request body: %w", err))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		// Only fails for a connection that cannot take deadlines; then there
		// was none to lift either.
		_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
		h.ServeHTTP(w, r)
	})
}
