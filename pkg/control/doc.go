// Package control owns the node's control API and serves it two ways:
//
//   - on a unix socket (0600, so only the node's user can drive it), under
//     /v1, with no key: what the CLI's verbs use (pkg/control/client);
//   - optionally over HTTP(S) (`meshnode up --api`), under /api/v1, behind an
//     API key, with events as Server-Sent Events, an OpenAPI 3.1 document, a
//     dashboard at / (pkg/control/web), a /metrics hook for Prometheus and
//     the Go runtime's profiles at /debug/pprof/.
//
// Both come from one route table (routes in server.go). The JSON shapes are
// in pkg/control/api and the CLI's client is pkg/control/client: both import
// only the standard library, so a Go client does not link the data plane this
// package serves. Several nodes on one machine each have their own socket.
//
// Routes (all JSON; errors are {"error": {"code": "not_found", "message":
// "..."}} with 400/401/403/404/409/422/500/501/503; the code follows the
// status, see api.ErrorCode):
//
//	GET    status
//	GET    peers
//	GET    services              the group's catalog
//	GET    mappings
//	POST   mappings              {"target":"700","port":2222,"bind":"127.0.0.1"}
//	DELETE mappings/{port}
//	GET    serve                 what this node serves (with targets)
//	POST   serve                 {"serveid":0,"target":"127.0.0.1:22","name":"ssh"}
//	PUT    serve/{serveid}       change target, name, info or proto (remove + add; the old one is put back on failure)
//	DELETE serve/{serveid}
//	POST   ping                  {"peer":"b","count":3}: up to 10 min
//	GET    netcheck              up to 15 s
//	GET    events                socket: JSON lines; HTTP: Server-Sent Events
//	POST   reload                re-read the config file; 422 when it is rejected
//	POST   down                  socket only: stop the node (202; the socket goes away with it)
//	GET    openapi.json          HTTP only: the OpenAPI document
//
// # The HTTP API
//
// Every /api, /metrics and /debug request needs the key ("Authorization: Bearer KEY"
// or "X-API-Key: KEY"), compared in constant time; without it the answer is
// 401 and the same body whatever was wrong. A browser request whose Origin is
// not the listener's own, or whose Sec-Fetch-Site says another site, is
// refused (403), and no CORS header is ever sent: a web page elsewhere cannot
// drive the API even when the key is in the user's browser. The dashboard's
// static files are served without the key (they hold no data).
//
// Events (sse.go): one subscription to the node feeds a ring of the last 1024
// events, each with an ID "BOOT.SEQ"; every stream reads the ring at its own
// pace (no queue per stream; at most 32 streams). A client resumes with
// Last-Event-ID (or ?last_event_id=); when the events it missed are gone, or
// the ID is from another run, it gets "event: resync" and should re-read the
// state. A comment every 15 s keeps proxies from closing an idle stream; a
// write that blocks for 30 s drops the stream.
//
// Timeouts (timeouts.go), both listeners: a client has 5 s to send the
// request line and headers and 10 s for the whole request (bodies are at most
// 64 KiB); an idle keep-alive connection is closed after 30 s. So a client
// that connects and stalls, or trickles a header or a body, costs a connection
// for seconds, not forever. Once a request has been read, its handler runs as
// long as it needs: the events stream until the client leaves, a ping up to
// 10 min, a netcheck up to 15 s. There is no write timeout, for the same
// streams.
//
// # Files
//
//	server.go     the Backend (the node, in api types), the route table, the handlers, the socket's Serve and Listen
//	lifecycle.go  reload, down and the configuration's state (when the node has a Lifecycle)
//	netcheck.go   ice.Report to api.NetcheckReport: the one conversion the API needs
//	timeouts.go   request-read and idle timeouts; reading bodies before handlers run
//	httpapi.go    the HTTP API: APIConfig, APIHandler (routes, /metrics, /debug/pprof, dashboard), the key and origin guard, ServeAPI
//	apikey.go     the API key file: LoadOrCreateAPIKey (0600, generated when absent), constant-time compare
//	sse.go        the event ring and the Server-Sent Events stream
//	openapi.go    openapi.json, embedded: the HTTP API's OpenAPI 3.1 document (openapi_test.go checks it against the router and the answers)
package control
