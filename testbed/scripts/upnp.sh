#!/bin/sh
# upnp.sh KIND MESHLAB WAN LAN PUBLIC ALLOW
#
# On a router whose NAT kind is "upnp" (scripts/nat.sh made it symmetric and
# prepared table inet mnupnp), starts the real miniupnpd through
# `MESHLAB upnpd`: UPnP IGD, NAT-PMP and PCP for the LAN prefix ALLOW, port
# mappings on WAN. Any other KIND: nothing to do.
set -eu
[ $# -eq 6 ] || { echo "usage: upnp.sh KIND MESHLAB WAN LAN PUBLIC ALLOW" >&2; exit 2; }
kind=$1 meshlab=$2 wan=$3 lan=$4 pub=$5 allow=$6
[ "$kind" = upnp ] || exit 0
if ! command -v miniupnpd >/dev/null; then
  echo "upnp.sh: miniupnpd is missing: apt-get install miniupnpd miniupnpd-nftables (.ci/run does)" >&2
  exit 1
fi
if [ ! -x "$meshlab" ]; then
  echo "upnp.sh: $meshlab is missing: build it with 'go build -o bin/meshlab ./testbed/cmd/lab'" >&2
  exit 1
fi
exec "$meshlab" upnpd --background --wan "$wan" --lan "$lan" --public "$pub" --allow "$allow"
