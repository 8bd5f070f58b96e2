// Package control owns the node's local control API: HTTP+JSON on a unix socket
// (0600, so only the node's user can drive it): the server that `meshnode up`
// runs. Several nodes on one machine each have their own socket. The JSON shapes
// are in pkg/control/api and the client the other verbs (`map`, `unmap`,
// `status`, `peers`, `services`) use is pkg/control/client: both import only the
// standard library, so a Go client does not link the data plane this package
// serves.
//
// Routes (all JSON; errors are {"error": "..."} with 400/404/409/500):
//
//	GET    /v1/status
//	GET    /v1/peers
//	GET    /v1/services
//	GET    /v1/mappings
//	POST   /v1/mappings          {"target":"700","port":2222,"bind":"127.0.0.1"}
//	DELETE /v1/mappings/{port}
//	GET    /v1/serve             what this node serves (with targets)
//	POST   /v1/serve             {"serveid":0,"target":"127.0.0.1:22","name":"ssh"}
//	DELETE /v1/serve/{serveid}
//	POST   /v1/ping              {"peer":"b","count":3}: up to 10 min
//	GET    /v1/netcheck          up to 15 s
//	GET    /v1/events            a stream of JSON lines until the client leaves
//	POST   /v1/reload            re-read the config file; 422 when it is rejected
//	POST   /v1/down              stop the node (202; the socket goes away with it)
//
// Timeouts (timeouts.go): a client has 5 s to send the request line and headers
// and 10 s for the whole request (bodies are at most 64 KiB); an idle keep-alive
// connection is closed after 30 s. So a client that connects and stalls, or
// trickles a header or a body, costs a connection for seconds, not forever. Once
// a request has been read, its handler runs as long as it needs: the events
// stream until the client leaves, a ping up to 10 min, a netcheck up to 15 s.
// There is no write timeout, for the same streams.
//
// # Files
//
//	server.go     the Backend (the node, in api types), the routes, their handlers, Serve and Listen
//	lifecycle.go  reload, down and the configuration's state (when the node has a Lifecycle)
//	netcheck.go   ice.Report to api.NetcheckReport: the one conversion the API needs
//	timeouts.go   request-read and idle timeouts; reading bodies before handlers run
package control
