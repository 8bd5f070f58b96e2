package control

import (
	_ "embed"
	"io"
	"net/http"
)

// openAPIDoc is the HTTP API's OpenAPI 3.1 document. openapi_test.go checks
// it against the router (every route documented, nothing else) and the
// handlers' requests and answers against its schemas (kin-openapi).
//
//go:embed openapi.json
var openAPIDoc string

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, openAPIDoc)
}
