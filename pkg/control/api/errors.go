package api

// ErrorBody is what the API answers with on an error (4xx, 5xx).
type ErrorBody struct {
	Error string `json:"error"`
}

// Error is an error the node answered with: the HTTP status and the message
// of its ErrorBody.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }
