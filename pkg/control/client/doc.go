// Package client is a Go client of a node's control API (pkg/control): on its
// unix socket (New), what the CLI's verbs use, or over the HTTP API with its
// key (NewHTTP), for programs on other machines. It and the types it speaks
// (pkg/control/api) import only the standard library, never the data plane.
//
// # Files
//
//	client.go  Client: one method per route (the socket's /v1 or the HTTP API's /api/v1); events as JSON lines or Server-Sent Events; errors the node answered with are *api.Error
package client
