#!/bin/sh
# wan.sh MESHLAB SITE-IF UPLINK-IF DELAY_MS JITTER_MS LOSS_PCT RATE
#
# Makes the node a WAN emulator: a layer-2 bump between SITE-IF (toward the
# site's NAT router) and UPLINK-IF (toward the ISP). Every knob applies to each
# direction separately:
#   DELAY_MS, JITTER_MS  one-way delay (ms) +- uniform jitter; 0 and 0 = a plain
#                        kernel bridge. Otherwise `MESHLAB wanbridge`, a
#                        userspace AF_PACKET bridge that holds each frame for its
#                        delay (no netem on this kernel). Jitter never reorders.
#   LOSS_PCT             random loss in percent (nft numgen on the egress of this
#                        box, never in a sender's OUTPUT hook)
#   RATE                 tbf rate such as 20mbit; 0 = unlimited
# The routers on both sides of this box set gso_max_segs 1 on the uplink, so
# each frame here is one packet and one drop is one lost packet.
set -eu
[ $# -eq 7 ] || { echo "usage: wan.sh MESHLAB SITE-IF UPLINK-IF DELAY_MS JITTER_MS LOSS_PCT RATE" >&2; exit 2; }
meshlab=$1 a=$2 b=$3 delay=$4 jitter=$5 loss=$6 rate=$7
for v in "DELAY_MS=$delay" "JITTER_MS=$jitter" "LOSS_PCT=$loss"; do
  case ${v#*=} in
    ''|*[!0-9]*) echo "wan.sh: ${v%%=*} must be a whole number, got '${v#*=}'" >&2; exit 2 ;;
  esac
done
if [ "$loss" -gt 100 ]; then echo "wan.sh: LOSS_PCT must be 0..100, got $loss" >&2; exit 2; fi

for f in /proc/sys/net/bridge/bridge-nf-call-iptables /proc/sys/net/bridge/bridge-nf-call-ip6tables /proc/sys/net/bridge/bridge-nf-call-arptables; do
  if [ -e "$f" ]; then echo 0 > "$f"; fi
done
ip link set "$a" up
ip link set "$b" up

if [ "$delay" -eq 0 ] && [ "$jitter" -eq 0 ]; then
  ip link add br0 type bridge
  ip link set "$a" master br0
  ip link set "$b" master br0
  ip link set br0 up
else
  if [ ! -x "$meshlab" ]; then
    echo "wan.sh: $meshlab is missing: build it with 'go build -o bin/meshlab ./testbed/cmd/lab'" >&2
    exit 1
  fi
  # Real-time priority keeps the delay accurate on a busy machine (if allowed).
  if chrt -f 20 true 2>/dev/null; then
    chrt -f 20 "$meshlab" wanbridge --background --delay "${delay}ms" --jitter "${jitter}ms" "$a" "$b"
  else
    "$meshlab" wanbridge --background --delay "${delay}ms" --jitter "${jitter}ms" "$a" "$b"
  fi
fi

if [ "$loss" -gt 0 ]; then
  nft -f - <<EOF
table netdev wanloss {
  chain up {
    type filter hook egress device "$b" priority 0; policy accept;
    numgen random mod 100 < $loss counter drop
  }
  chain down {
    type filter hook egress device "$a" priority 0; policy accept;
    numgen random mod 100 < $loss counter drop
  }
}
EOF
fi

if [ "$rate" != 0 ]; then
  for d in "$a" "$b"; do
    tc qdisc add dev "$d" root tbf rate "$rate" burst 32kb latency 100ms
  done
fi
