// Package e2e holds end-to-end tests: they build the real `rendezvous` and
// `meshnode` binaries once, run them as processes on loopback, drive nodes through
// their control sockets (and, in api_test.go, their HTTP API over HTTPS) and move
// real bytes through mappings. dashboard_test.go drives the dashboard in headless
// Chromium (chromedp; skipped when no chromium is on PATH) and saves a
// screenshot to $MESHNODE_ARTIFACTS or the test's artifact directory.
package e2e
