// Package labtest holds test helpers for lab-based tests: root checks with a
// clear skip message, a TestMain wrapper that sweeps leftovers and tears labs
// down on interrupts, Up with t.Cleanup teardown, binary builds, and NAT probe
// glue (a probe server in one node, classification from another).
package labtest
