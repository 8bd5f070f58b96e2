// Package control owns the node's local control API: HTTP+JSON on a unix socket
// (0600, so only the node's user can drive it), the server half that `meshnode up`
// runs and the client half the other verbs (`map`, `unmap`, `status`, `peers`,
// `services`) use. Several nodes on one machine each have their own socket.
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
//	POST   /v1/ping              {"peer":"home","count":3}
//	GET    /v1/netcheck
//	GET    /v1/events            JSON lines until the client leaves
//	POST   /v1/reload            re-read the config file; 422 when it is rejected
//	POST   /v1/down              stop the node (202; the socket goes away with it)
package control
