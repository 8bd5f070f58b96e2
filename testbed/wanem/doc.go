// Package wanem is the lab's WAN emulator for what the kernel here cannot do
// (no netem): a userspace layer-2 bridge between two interfaces of a "WAN box"
// namespace that holds each frame for a configured delay (+- jitter, never
// reordering). Raw AF_PACKET sockets with PACKET_VNET_HDR carry GSO frames and
// partial checksums through untouched. Loss and rate limits are not done here
// but with nftables and tbf on the box's interfaces (see testbed/scripts/wan.sh).
package wanem
