// Package labbench measures meshnode inside the NAT lab (testbed/two-sites.clab.yml
// run with network namespaces): the time two nodes behind NATs take to reach a
// direct path, a mapping's throughput and request/response latency over an
// emulated lossy WAN beside plain TCP between the same two hosts through the
// same WAN (its latency also with a CPU hog on every core), and a mapping's throughput on a direct path vs the relay between
// the same two nodes. It produces markdown rows in the style of
// internal/bench's table; nothing here judges a number. testbed/cmd/labbench
// is the command (`just lab-bench`); a smoke test in testbed runs the quick
// mode.
package labbench
