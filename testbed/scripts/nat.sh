#!/bin/sh
# nat.sh KIND WAN LAN PUBLIC [HAIRPIN]
#
# Turns the node into a NAT router of one kind (RFC 4787 behaviour in brackets):
#   none|open       plain router, no translation, no filtering
#   fullcone        EIM + EIF: masquerade + a map ext-port -> (int ip . int port)
#                   filled on the way out; inbound UDP to a mapped port is DNAT'ed
#   addrrestricted  EIM + ADF: as fullcone, inbound only from addresses the
#                   mapping has sent to
#   portrestricted  EIM + APDF: plain masquerade (Linux keeps the source port)
#   symmetric       EDM + APDF: masquerade fully-random (new port per destination)
#   symseq          EDM + APDF with sequential ports: every new UDP mapping takes
#                   the next external port (30000, 30001, ... wrapping after
#                   SEQ_PORTS), whichever LAN host or destination it is for:
#                   snat to a port picked by `numgen inc` through a map (Linux
#                   conntrack never allocates sequentially by itself; numgen's
#                   raw value would land in the port in host byte order, the map
#                   converts). TCP and the rest: masquerade fully-random.
#   upnp            symmetric (masquerade fully-random of the LAN's traffic, the
#                   router's own traffic untouched) plus the tables and chains a
#                   miniupnpd (nftables backend) adds its port mappings to:
#                   table inet mnupnp. The daemon itself is started by
#                   `meshlab upnpd` (scripts/upnp.sh); without it this is
#                   plain symmetric.
#   udpblock        no UDP forwarded at all (TCP works, masqueraded)
# HAIRPIN=1 adds LAN-side DNAT of PUBLIC to mapped ports + SNAT for LAN->LAN.
#
# WAN, LAN: interface names (LAN may be a bridge); PUBLIC: the WAN address.
# Derived from the rule sets in TESTBED.md (verified on Linux 6.x). Every kind
# drops new inbound packets addressed to the router itself on the WAN: an early
# punch packet would otherwise create a conntrack entry there and the host's own
# packet would then get a different external port.
set -eu

usage() { echo "usage: nat.sh none|open|fullcone|addrrestricted|portrestricted|symmetric|symseq|upnp|udpblock WAN LAN PUBLIC [0|1]" >&2; exit 2; }
[ $# -ge 4 ] || usage
kind=$1 wan=$2 lan=$3 pub=$4 hairpin=${5:-0}
case $hairpin in 0|1) ;; *) echo "nat.sh: HAIRPIN must be 0 or 1, got '$hairpin'" >&2; exit 2 ;; esac

# br_netfilter would push bridged LAN frames through the ip hooks: hairpin
# DNAT onto the LAN bridge would be bridged and never SNAT'ed.
for f in /proc/sys/net/bridge/bridge-nf-call-iptables /proc/sys/net/bridge/bridge-nf-call-ip6tables /proc/sys/net/bridge/bridge-nf-call-arptables; do
  if [ -e "$f" ]; then echo 0 > "$f"; fi
done

input="chain input { type filter hook input priority filter; policy accept;
    iifname \"$wan\" ct state established,related accept
    iifname \"$wan\" counter drop comment \"router firewall: never let a stray inbound create a conntrack entry\"
  }"

case $kind in
  none|open)
    nft -f - <<EOF
table ip nlnat
delete table ip nlnat
table ip nlnat {
  $input
}
EOF
    exit 0 ;;
  fullcone|addrrestricted|portrestricted|symmetric|symseq|upnp|udpblock) ;;
  *) echo "nat.sh: unknown NAT kind '$kind'" >&2; usage ;;
esac

fwd_first="" pre="" track_extra="" masq="masquerade" seq="" hp_pre="" hp_post="" upnp=""
case $kind in
  fullcone)
    pre="iifname \"$wan\" ip daddr $pub udp dport @fcmap counter dnat ip to udp dport map @fcmap" ;;
  addrrestricted)
    pre="iifname \"$wan\" ip daddr $pub udp dport . ip saddr @perm counter dnat ip to udp dport map @fcmap"
    track_extra="oifname \"$wan\" meta l4proto udp update @perm { udp sport . ip daddr }" ;;
  symmetric)
    masq="masquerade fully-random" ;;
  symseq)
    # SEQ_PORTS external ports from 30000; numgen counts new UDP mappings.
    n=${SEQ_PORTS:-2000}
    elems=$(awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "%s%d : %d", (i ? ", " : ""), i, 30000 + i }')
    seq="oifname \"$wan\" meta l4proto udp snat ip to $pub : numgen inc mod $n map { $elems }"
    masq="masquerade fully-random" ;;
  upnp)
    # Only the LAN's traffic: miniupnpd's own STUN check (from the router's
    # address) must keep its ports.
    masq="ip saddr != $pub masquerade fully-random"
    upnp="table inet mnupnp
delete table inet mnupnp
table inet mnupnp {
  chain forward { type filter hook forward priority filter; policy accept; jump miniupnpd; }
  chain miniupnpd { }
  chain prerouting { type nat hook prerouting priority dstnat; policy accept; jump prerouting_miniupnpd; }
  chain postrouting { type nat hook postrouting priority srcnat; policy accept; jump postrouting_miniupnpd; }
  chain prerouting_miniupnpd { }
  chain postrouting_miniupnpd { }
}" ;;
  udpblock)
    fwd_first="meta l4proto udp counter drop" ;;
esac
if [ "$hairpin" = 1 ]; then
  hp_pre="iifname \"$lan\" ip daddr $pub udp dport @fcmap counter dnat ip to udp dport map @fcmap"
  hp_post="iifname \"$lan\" oifname \"$lan\" ct status dnat counter snat ip to $pub"
fi

nft -f - <<EOF
table ip nlnat
delete table ip nlnat
table ip nlnat {
  map fcmap { typeof udp dport : ip saddr . udp sport; flags dynamic,timeout; timeout 120s; }
  set perm  { typeof udp sport . ip daddr; flags dynamic,timeout; timeout 120s; }
  $input
  chain forward { type filter hook forward priority filter; policy drop;
    $fwd_first
    ct state established,related accept
    iifname "$lan" accept
    ct status dnat accept
  }
  chain pre { type nat hook prerouting priority dstnat; policy accept;
    $pre
    $hp_pre
  }
  chain post { type nat hook postrouting priority srcnat; policy accept;
    $hp_post
    $seq
    oifname "$wan" $masq
  }
  chain track { type filter hook postrouting priority srcnat + 10; policy accept;
    oifname "$wan" meta l4proto udp ct direction original ct status snat update @fcmap { udp sport : ct original ip saddr . ct original proto-src }
    oifname "$wan" meta l4proto udp ct direction reply ct status dnat update @fcmap { udp sport : ct reply ip saddr . ct reply proto-src }
    $track_extra
  }
}
$upnp
EOF
