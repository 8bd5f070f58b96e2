#!/bin/sh
# Runs inside node h1 through a bind: fails unless the interface is up.
ip link show "$1" | grep -q 'state UP\|UP,' || { echo "$1 is not up" >&2; exit 1; }
