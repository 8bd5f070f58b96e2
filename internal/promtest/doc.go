// Package promtest reads the Prometheus text format for tests: it parses a
// scrape with Prometheus' own parser and finds a series' value by its labels.
// The tests of pkg/metrics, cmd/rendezvous and internal/e2e share it.
package promtest
