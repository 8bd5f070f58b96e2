// Package client is a Go client of a node's control API (pkg/control) on its
// unix socket: what the CLI's verbs use. It and the types it speaks
// (pkg/control/api) import only the standard library, never the data plane.
//
// # Files
//
//	client.go  Client: one method per route; errors the node answered with are *api.Error
package client
