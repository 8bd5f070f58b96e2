// Package testbed is the NAT lab: containerlab topologies (*.clab.yml) with
// their scripts, and the tests that check the lab itself — the topologies
// validate against containerlab's schema, every NAT kind classifies as it
// should, the WAN emulator delays and drops as configured, and the plain-UDP
// hole-punch matrix matches TESTBED.md. The runner is package lab, the CLI
// testbed/cmd/lab; see README.md.
package testbed
