package api

// ErrorCode is the machine-readable kind of an error answer; it follows the
// HTTP status (404 is always ErrNotFound), so a client can switch on either.
type ErrorCode string

// The error codes the API answers with.
const (
	ErrBadRequest     ErrorCode = "bad_request"     // 400: the request is malformed or out of range
	ErrUnauthorized   ErrorCode = "unauthorized"    // 401: no or a wrong API key (HTTP API only)
	ErrForbidden      ErrorCode = "forbidden"       // 403: a cross-origin browser request (HTTP API only)
	ErrNotFound       ErrorCode = "not_found"       // 404: no such route, mapping, service or peer
	ErrTimeout        ErrorCode = "timeout"         // 408: the request did not arrive in time
	ErrConflict       ErrorCode = "conflict"        // 409: it clashes with what exists (a port in use, a declared item)
	ErrUnprocessable  ErrorCode = "unprocessable"   // 422: the config file was rejected (reload)
	ErrInternal       ErrorCode = "internal"        // 500
	ErrNotImplemented ErrorCode = "not_implemented" // 501: this node's API lacks the feature
	ErrUnavailable    ErrorCode = "unavailable"     // 503: try again later (too many event streams, netcheck failed)
)

// CodeOf is the ErrorCode for an HTTP status.
func CodeOf(status int) ErrorCode {
	switch status {
	case 400:
		return ErrBadRequest
	case 401:
		return ErrUnauthorized
	case 403:
		return ErrForbidden
	case 404:
		return ErrNotFound
	case 408:
		return ErrTimeout
	case 409:
		return ErrConflict
	case 422:
		return ErrUnprocessable
	case 501:
		return ErrNotImplemented
	case 503:
		return ErrUnavailable
	}
	if status >= 400 && status < 500 {
		return ErrBadRequest
	}
	return ErrInternal
}

// ErrorBody is what the API answers with on an error (4xx, 5xx), on the unix
// socket and over HTTP alike: {"error": {"code": "not_found", "message": "..."}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is an error answer's code and human-readable message.
type ErrorDetail struct {
	Code    ErrorCode `json:"code"`
	Message string    `json:"message"`
}

// Error is an error the node answered with: the HTTP status, and the code and
// message of its ErrorBody.
type Error struct {
	Status  int
	Code    ErrorCode
	Message string
}

func (e *Error) Error() string { return e.Message }
