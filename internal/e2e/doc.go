// Package e2e holds end-to-end tests: they build the real `rendezvous` and
// `meshnode` binaries once, run them as processes on loopback, drive nodes through
// their control sockets and move real bytes through mappings.
package e2e
