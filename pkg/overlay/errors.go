package overlay

import (
	"errors"
	"fmt"
)

// ErrorKind classifies errors of the node's API so a control server can answer
// with the right status.
type ErrorKind int

// Error kinds.
const (
	KindInvalid   ErrorKind = iota + 1 // the request is malformed
	KindNotFound                       // it names something that does not exist
	KindConflict                       // it clashes with something that exists
	KindForbidden                      // a rule refuses it (another node's ad-hoc rules)
)

// Error is an API error: a message naming the problem and its kind.
type Error struct {
	Kind ErrorKind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func kindErr(k ErrorKind, format string, args ...any) error {
	return &Error{Kind: k, Err: fmt.Errorf(format, args...)}
}

func invalid(format string, args ...any) error  { return kindErr(KindInvalid, format, args...) }
func notFound(format string, args ...any) error { return kindErr(KindNotFound, format, args...) }
func conflict(format string, args ...any) error { return kindErr(KindConflict, format, args...) }

// KindOf returns the kind of an API error, or 0.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func isKind(err error, k ErrorKind) bool { return KindOf(err) == k }
