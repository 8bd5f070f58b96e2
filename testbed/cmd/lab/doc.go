// Command lab brings containerlab topologies up with network namespaces (no
// Docker), lets people explore them (exec, probe) and tears them down; it is
// also the helper binary the topologies call inside nodes (hidden commands
// wanbridge, upnpd and natprobe). See testbed/README.md.
package main
