#!/bin/sh
# addr.sh KIND IFACE PRIVATE PUBLIC HOST [gw]
#
# Gives IFACE its site-LAN address: PRIVATE.HOST/24 when the site is behind a
# NAT, PUBLIC.HOST/24 when the site's NAT kind is "open" (a public LAN that the
# fake internet routes to). With "gw", also the default route via .1.
# Example: addr.sh portrestricted eth1 10.21.0 198.18.21 2 gw -> 10.21.0.2/24 via 10.21.0.1
set -eu
[ $# -ge 5 ] || { echo "usage: addr.sh KIND IFACE PRIVATE-PREFIX PUBLIC-PREFIX HOST [gw]" >&2; exit 2; }
kind=$1 dev=$2 priv=$3 pub=$4 host=$5 gw=${6:-}
case $kind in
  open) net=$pub ;;
  *) net=$priv ;;
esac
ip addr add "$net.$host/24" dev "$dev"
ip link set "$dev" up
if [ "$gw" = gw ]; then
  ip route add default via "$net.1"
fi
