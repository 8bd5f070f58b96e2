// Package proxyentry is the proxy entry: a SOCKS5 server and an HTTP proxy
// through which any application reaches mesh services by name, instead of
// one mapped local port per service (curl --socks5-hostname, a browser's
// proxy setting, ssh's ProxyCommand).
//
// It owns the .mesh name scheme and the two protocols' front doors; reaching
// a service is the Dialer's job (the node implements it), so this package
// knows nothing of links, KCP or the catalog.
//
//	names.go      the .mesh names -> Target
//	entry.go      Config, the Dialer it needs, errors and their meaning
//	socks5.go     SOCKS5 (RFC 1928) CONNECT and auth (RFC 1929), on things-go/go-socks5
//	socksudp.go   SOCKS5 UDP ASSOCIATE: datagrams to UDP services
//	httpproxy.go  HTTP CONNECT and plain http:// proxying
//	serve.go      listeners, connection slots, handshake deadlines
package proxyentry
