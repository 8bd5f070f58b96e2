#!/usr/bin/env bash
# Installs or removes meshnode's files: `just install` and `just uninstall` run
# this; `just dist` runs it into a staging root for the .deb.
#
#   packaging/install.sh install     binaries, plugins, units, example configs
#   packaging/install.sh uninstall   binaries, plugins, units (config and state stay)
#
# Environment:
#   BIN      built binaries: meshnode, rendezvous, plugins/ (default: bin)
#   DESTDIR  a root to install into instead of / (scratch roots, packages);
#            then no user is created, nothing is chowned and systemd is not told
#   PREFIX   /usr/local: PREFIX/bin, PREFIX/lib/meshnode/plugins (where
#            meshnode looks for plugins, beside PREFIX/bin)
#   UNITDIR  systemd units (default PREFIX/lib/systemd/system; systemd reads
#            /usr/local/lib/systemd/system and /usr/lib/systemd/system)
# Configs go to /etc/meshnode (the units name it); an existing one is never
# overwritten. State (/var/lib/meshnode; /var/lib/meshnode-rdv: the
# rendezvous' admin key) and sockets (/run/meshnode) belong to the units
# (StateDirectory=, RuntimeDirectory=).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
BIN=${BIN:-bin}
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
UNITDIR=${UNITDIR:-$PREFIX/lib/systemd/system}
BINDIR=$PREFIX/bin
PLUGINDIR=$PREFIX/lib/meshnode/plugins
CONFDIR=/etc/meshnode
RDV_USER=meshnode-rdv
UNITS=(rendezvous.service meshnode.service meshnode@.service)
CONFIGS=(meshnode.toml rendezvous.toml)

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "  $*"; }

for v in PREFIX UNITDIR; do
  case ${!v} in /*) ;; *) die "$v=${!v}: want an absolute path" ;; esac
done
case $DESTDIR in ""|/*) ;; *) die "DESTDIR=$DESTDIR: want an absolute path" ;; esac

# live: installing into this machine's root (not DESTDIR), as root.
live=false
if [ -z "$DESTDIR" ]; then
  [ "$(id -u)" = 0 ] || die "run as root (sudo just ${1:-install}), or give DESTDIR=/some/root"
  live=true
fi
systemd_running() { $live && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

# install_config NAME OWNER: copy the example unless the file exists.
install_config() {
  local name=$1 owner=$2 dst=$DESTDIR$CONFDIR/$1
  if [ -e "$dst" ]; then
    say "kept $dst (exists; the example is $here/etc/$name)"
    return
  fi
  if $live; then
    install -m 0600 -o "$owner" -g "$owner" "$here/etc/$name" "$dst"
    say "$dst (example to edit; $owner, mode 0600)"
  else
    install -m 0600 "$here/etc/$name" "$dst"
    say "$dst (example to edit; mode 0600)"
  fi
}

# rdv_user creates the rendezvous' system user when it is missing.
rdv_user() {
  getent passwd "$RDV_USER" >/dev/null && return
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin --comment "meshnode rendezvous" "$RDV_USER"
  say "created the system user $RDV_USER"
}

do_install() {
  for f in meshnode rendezvous; do
    [ -x "$BIN/$f" ] || die "$BIN/$f is missing: run 'just build' first (or give BIN=DIR)"
  done
  echo "installing into ${DESTDIR:-/} (PREFIX=$PREFIX)"
  install -d -m 0755 "$DESTDIR$BINDIR" "$DESTDIR$PLUGINDIR" "$DESTDIR$UNITDIR"
  # 0755: the rendezvous' user must reach its file; an existing dir keeps its mode.
  [ -d "$DESTDIR$CONFDIR" ] || install -d -m 0755 "$DESTDIR$CONFDIR"
  install -m 0755 "$BIN/meshnode" "$BIN/rendezvous" "$DESTDIR$BINDIR/"
  say "$DESTDIR$BINDIR/meshnode, rendezvous"
  shopt -s nullglob
  local plugins=("$BIN"/plugins/meshnode-*)
  if [ ${#plugins[@]} -gt 0 ]; then
    install -m 0755 "${plugins[@]}" "$DESTDIR$PLUGINDIR/"
    say "$DESTDIR$PLUGINDIR/: ${plugins[*]##*/}"
  fi
  for u in "${UNITS[@]}"; do
    # The units name /usr/local/bin; PREFIX moves the binaries.
    sed "s|/usr/local/bin/|$BINDIR/|g" "$here/systemd/$u" >"$DESTDIR$UNITDIR/$u.tmp"
    chmod 0644 "$DESTDIR$UNITDIR/$u.tmp"
    mv "$DESTDIR$UNITDIR/$u.tmp" "$DESTDIR$UNITDIR/$u"
  done
  say "$DESTDIR$UNITDIR/: ${UNITS[*]}"
  if $live; then
    rdv_user
  fi
  install_config meshnode.toml root
  install_config rendezvous.toml "$RDV_USER"
  if systemd_running; then
    systemctl daemon-reload
    say "systemctl daemon-reload"
    local active
    active=$(systemctl list-units --state=active --no-legend --plain 'rendezvous.service' 'meshnode.service' 'meshnode@*.service' | awk '{print $1}' | tr '\n' ' ')
    if [ -n "$active" ]; then
      echo "running units still run the old binaries: systemctl restart $active"
    fi
  fi
  case $UNITDIR in
    /etc/systemd/system|/usr/local/lib/systemd/system|/usr/lib/systemd/system|/lib/systemd/system) ;;
    *) echo "note: systemd does not read units from $UNITDIR; link them or give UNITDIR=/usr/local/lib/systemd/system" ;;
  esac
  if $live; then
    echo "next: edit $CONFDIR/rendezvous.toml or $CONFDIR/meshnode.toml, then"
    echo "      systemctl enable --now rendezvous    (on the rendezvous' machine)"
    echo "      systemctl enable --now meshnode      (or meshnode@NAME for $CONFDIR/NAME.toml)"
  fi
}

do_uninstall() {
  echo "removing from ${DESTDIR:-/} (PREFIX=$PREFIX); $CONFDIR and /var/lib/meshnode stay"
  if systemd_running; then
    local units
    units=$(systemctl list-units --all --no-legend --plain 'meshnode@*.service' | awk '{print $1}' | tr '\n' ' ')
    # shellcheck disable=SC2086
    systemctl disable --now rendezvous.service meshnode.service $units 2>/dev/null || true
    say "stopped and disabled rendezvous.service meshnode.service $units"
  fi
  for u in "${UNITS[@]}"; do
    rm -f "$DESTDIR$UNITDIR/$u"
  done
  say "removed ${UNITS[*]} from $DESTDIR$UNITDIR"
  rm -f "$DESTDIR$BINDIR/meshnode" "$DESTDIR$BINDIR/rendezvous"
  say "removed $DESTDIR$BINDIR/meshnode, rendezvous"
  rm -f "$DESTDIR$PLUGINDIR"/meshnode-*
  rmdir "$DESTDIR$PLUGINDIR" "$DESTDIR$PREFIX/lib/meshnode" 2>/dev/null || true
  say "removed $DESTDIR$PLUGINDIR"
  if systemd_running; then
    systemctl daemon-reload
  fi
  if $live && getent passwd "$RDV_USER" >/dev/null; then
    echo "kept the user $RDV_USER (it owns $CONFDIR/rendezvous.toml): userdel $RDV_USER removes it"
  fi
}

case ${1:-} in
  install) do_install ;;
  uninstall) do_uninstall ;;
  *) die "usage: install.sh install|uninstall" ;;
esac
