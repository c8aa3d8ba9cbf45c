#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# install.sh: install the netdata-anomalies python.d collectors into the local Netdata agent.
#
# Usage (as root, from a checkout of this repository):
#   sudo ./install.sh              install or upgrade (safe to run again), restart netdata and
#                                  wait until the anomaly charts show up
#   sudo ./install.sh --uninstall  remove the product and its saved models; your conf files are
#                                  left in place
#   ./install.sh --help            show this help
#
# What it does: installs netdata (Debian family, apt) if missing, builds a venv with the python
# that python.d.plugin runs, pip-installs this repo into it, copies collectors/*.chart.py next to
# it and symlinks them into the agent's user python.d modules dir, copies conf.d/*.conf into the
# agent's python.d config dir (never overwriting yours), enables the modules in python.d.conf.
#
# Environment overrides:
#   NETDATA_ANOMALIES_PREFIX  install prefix (venv, collectors)         [/opt/netdata-anomalies]
#   NETDATA_CONFIG_DIR        netdata config dir (netdata.conf, python.d.conf)      [/etc/netdata]
#   NETDATA_USER_PLUGINS_DIR  user plugins dir; modules go to its python.d/
#                             [2nd entry of "[directories] plugins" in netdata.conf,
#                              else $NETDATA_CONFIG_DIR/custom-plugins.d]
#   NETDATA_URL               agent API address                   [http://127.0.0.1:19999]
#   NETDATA_RESTART_CMD       command that restarts the agent [systemctl / service / direct]
#   NETDATA_ANOMALIES_WAIT    seconds to wait for the anomaly charts (0: don't wait)    [180]
set -euo pipefail
umask 022

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PREFIX="${NETDATA_ANOMALIES_PREFIX:-/opt/netdata-anomalies}"
PREFIX="${PREFIX%/}"
CONFIG_DIR="${NETDATA_CONFIG_DIR:-/etc/netdata}"
NETDATA_URL="${NETDATA_URL:-http://127.0.0.1:19999}"
NETDATA_URL="${NETDATA_URL%/}"
WAIT_S="${NETDATA_ANOMALIES_WAIT:-180}"
VENV="$PREFIX/venv"

say() { printf '==> %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '3,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

# Value of an uncommented "key = value" line in [section] of netdata.conf (empty if none).
netdata_conf_get() {
    [ -r "$CONFIG_DIR/netdata.conf" ] || return 0
    awk -v s="$1" -v k="$2" '
        /^[[:space:]]*\[/ { t = $0; gsub(/[][[:space:]]/, "", t); in_s = (t == s); next }
        in_s && $0 ~ "^[[:space:]]*" k "[[:space:]]*=" { sub(/^[^=]*=[[:space:]]*/, ""); print; exit }
    ' "$CONFIG_DIR/netdata.conf"
}
# Nth word of a netdata list value such as: "/usr/lib/netdata/plugins.d" "/etc/netdata/custom-plugins.d"
nth_word() { printf '%s\n' "$2" | xargs -n1 2>/dev/null | sed -n "${1}p"; }

apt_install() {
    command -v apt-get >/dev/null || return 1
    say "Installing $* with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq || warn "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# Modules shipped by this repo (and, for --uninstall, those installed under the prefix).
module_names() {
    local f
    for f in "$REPO"/collectors/*.chart.py "$PREFIX"/collectors/*.chart.py; do
        if [ -e "$f" ]; then basename "$f" .chart.py; fi
    done | sort -u
}

# Set "<module>: yes|no" in python.d.conf: replace an existing (maybe commented) line, else append.
set_module() {
    local name="$1" value="$2" file="$CONFIG_DIR/python.d.conf"
    if grep -Eq "^[[:space:]#]*${name}[[:space:]]*:" "$file"; then
        sed -i -E "s/^[[:space:]#]*${name}[[:space:]]*:.*/${name}: ${value}/" "$file"
    else
        printf '%s: %s\n' "$name" "$value" >>"$file"
    fi
}

restart_agent() {
    if [ -n "${NETDATA_RESTART_CMD:-}" ]; then
        say "Restarting netdata: $NETDATA_RESTART_CMD"
        bash -c "$NETDATA_RESTART_CMD" || die "NETDATA_RESTART_CMD failed: $NETDATA_RESTART_CMD"
    elif [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
        say "Restarting netdata: systemctl restart netdata"
        systemctl restart netdata || die "systemctl restart netdata failed; see: journalctl -u netdata"
    elif command -v service >/dev/null && [ -x /etc/init.d/netdata ]; then
        say "Restarting netdata: service netdata restart"
        service netdata restart || die "service netdata restart failed; see $LOG_DIR/error.log"
    else
        local pidfile=/run/netdata.pid pid  # Debian's init script uses the same pid file
        pid="$(cat "$pidfile" /run/netdata/netdata.pid 2>/dev/null | head -n1 || true)"
        # a stale pid file may name an unrelated process by now: only stop it if it is netdata
        if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = netdata ]; then
            say "Stopping netdata (pid $pid)"
            kill "$pid"
            for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        fi
        say "Starting $NETDATA_BIN"
        "$NETDATA_BIN" -P "$pidfile" || die "could not start $NETDATA_BIN; see $LOG_DIR/error.log"
    fi
}

# Poll /api/v1/charts until every installed module has a chart (context "<module>.*") with dimensions and
# fresh data; prints their ids.
wait_for_charts() {
    local since="$1"
    "$PY" - "$NETDATA_URL" "$WAIT_S" "$since" "${MODULES[@]}" <<'EOF'
import json, sys, time, urllib.request
url, wait_s, since, modules = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
start = time.monotonic()
error, next_note, found = None, 30, {}
while True:
    try:
        with urllib.request.urlopen(url + "/api/v1/charts", timeout=10) as response:
            charts = json.loads(response.read().decode()).get("charts", {})
        found = {m: sorted(c["id"] for c in charts.values()
                           if str(c.get("context", "")).startswith(m + ".")
                           and c.get("dimensions") and (c.get("last_entry") or 0) >= since)
                 for m in modules}
        if all(found.values()):
            print(" ".join(i for ids in found.values() for i in ids))
            sys.exit(0)
        error = None
    except (OSError, ValueError) as exc:
        error = exc
    elapsed = time.monotonic() - start
    if elapsed >= wait_s:
        if error:
            print("    last API error: %s" % error, file=sys.stderr)
        else:
            print("    no charts with data yet from: %s" % " ".join(m for m in modules if not found.get(m)),
                  file=sys.stderr)
        sys.exit(1)
    if elapsed >= next_note:
        print("    still waiting for anomaly charts (%ds of %ds)..." % (elapsed, wait_s), file=sys.stderr)
        next_note += 30
    time.sleep(3)
EOF
}

ACTION=install
case "${1:-}" in
    "") ;;
    --uninstall) ACTION=uninstall ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see $0 --help)" ;;
esac
[ "$#" -le 1 ] || die "too many arguments (see --help)"
[ "$(id -u)" -eq 0 ] || die "this must run as root, e.g.: sudo $0 ${1:-}"

# --- netdata itself ---------------------------------------------------------------------------
PLUGINS_DIR="$(nth_word 1 "$(netdata_conf_get directories plugins)")"
PLUGINS_DIR="${PLUGINS_DIR:-/usr/lib/netdata/plugins.d}"
PLUGIN="$PLUGINS_DIR/python.d.plugin"
NETDATA_BIN="$(command -v netdata || echo /usr/sbin/netdata)"
if [ "$ACTION" = install ] && { [ ! -x "$NETDATA_BIN" ] || [ ! -e "$PLUGIN" ]; }; then
    [ -r /etc/debian_version ] || die "netdata (with python.d.plugin) is not installed and this is not a \
Debian-family system: install netdata first (https://learn.netdata.cloud), then run this again"
    apt_install netdata netdata-plugins-python || die "could not install netdata with apt-get; \
install the packages 'netdata' and 'netdata-plugins-python' yourself, then run this again"
    NETDATA_BIN="$(command -v netdata || echo /usr/sbin/netdata)"
    [ -e "$PLUGIN" ] || die "$PLUGIN is still missing after installing netdata"
fi
USER_PLUGINS_DIR="${NETDATA_USER_PLUGINS_DIR:-$(nth_word 2 "$(netdata_conf_get directories plugins)")}"
USER_PLUGINS_DIR="${USER_PLUGINS_DIR:-$CONFIG_DIR/custom-plugins.d}"
MODULES_DIR="$USER_PLUGINS_DIR/python.d"
STOCK_CONFIG_DIR="$(netdata_conf_get directories 'stock config')"
STOCK_CONFIG_DIR="${STOCK_CONFIG_DIR:-/usr/lib/netdata/conf.d}"
LOG_DIR="$(netdata_conf_get directories log)"
LOG_DIR="${LOG_DIR:-/var/log/netdata}"
# where the modules save their models (python.d gets NETDATA_LIB_DIR from the agent: [directories] lib)
LIB_DIR="$(netdata_conf_get directories lib)"
STATE_DIR="${LIB_DIR:-/var/lib/netdata}/netdata-anomalies"
mapfile -t MODULES < <(module_names)
[ "${#MODULES[@]}" -gt 0 ] || die "no collectors/*.chart.py in $REPO nor in $PREFIX/collectors"

if [ "$ACTION" = uninstall ]; then
    case "$PREFIX" in ""|/usr|/usr/*|/etc|/etc/*|/opt|/home|/root) die "refusing to remove prefix '$PREFIX'" ;; esac
    for name in "${MODULES[@]}"; do
        link="$MODULES_DIR/$name.chart.py"
        if [ -L "$link" ]; then rm -f "$link" && say "Removed $link"; fi
        if [ -f "$CONFIG_DIR/python.d.conf" ]; then
            set_module "$name" no && say "Disabled $name in $CONFIG_DIR/python.d.conf"
        fi
    done
    for f in "$REPO"/health.d/*.conf; do
        dst="$CONFIG_DIR/health.d/$(basename "$f")"
        if [ -e "$dst" ] && cmp -s "$f" "$dst"; then rm -f "$dst" && say "Removed $dst"; fi
    done
    if [ -d "$PREFIX" ]; then rm -rf "$PREFIX" && say "Removed $PREFIX"; fi
    for name in "${MODULES[@]}"; do
        conf="$CONFIG_DIR/python.d/$name.conf"
        if [ -e "$conf" ]; then say "Left your configuration in place: $conf"; fi
    done
    restart_agent
    # after the restart: a module still running before it could have saved its models once more
    if [ -d "$STATE_DIR" ] && [ ! -L "$STATE_DIR" ]; then
        rm -rf "$STATE_DIR" && say "Removed the saved models in $STATE_DIR"
    fi
    say "Uninstalled."
    exit 0
fi

[ -f "$REPO/setup.cfg" ] || die "$REPO does not look like the netdata-anomalies repository (no setup.cfg)"

# --- venv with the interpreter python.d.plugin really runs ----------------------------------
PY="$(head -n1 "$PLUGIN" 2>/dev/null | sed -n 's/^#![[:space:]]*\([^[:space:]]*python[0-9.]*\)[[:space:]]*$/\1/p')"
[ -n "$PY" ] && [ -x "$PY" ] || PY=/usr/bin/python3
[ -x "$PY" ] || die "$PY not found: python.d.plugin needs python3 (apt-get install python3)"
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
    PYVER="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    apt_install python3-venv || apt_install "python$PYVER-venv" || true
    "$PY" -c 'import venv, ensurepip' 2>/dev/null || die "$PY cannot create virtual environments; \
install the venv module for it (Debian: apt-get install python3-venv) and run this again"
fi
PY_ID="$("$PY" -c 'import sys; print(sys.version_info[:2])')"
if [ -x "$VENV/bin/python" ] && [ "$("$VENV/bin/python" -c 'import sys; print(sys.version_info[:2])' 2>/dev/null)" = "$PY_ID" ]; then
    say "Reusing the venv $VENV"
else
    say "Creating the venv $VENV with $PY"
    rm -rf "$VENV"
    mkdir -p "$PREFIX"
    "$PY" -m venv "$VENV" || die "could not create the venv $VENV with $PY"
fi
# Build from a scratch copy so the checkout gets no root-owned build/ or *.egg-info.
BUILD="$(mktemp -d)"
trap 'rm -rf "$BUILD"' EXIT
mkdir "$BUILD/src"
tar -C "$REPO" --exclude=./.git --exclude=./build --exclude='*.egg-info' --exclude=./.venv --exclude=./bench \
    --exclude=./tests --exclude=./.ci --warning=no-file-changed -cf "$BUILD/src.tar" . \
    || [ $? -eq 1 ] || die "could not copy $REPO to $BUILD"  # 1: a file changed while being read
tar -C "$BUILD/src" -xf "$BUILD/src.tar"
say "Installing the anomalies package and its dependencies into $VENV (pip; the first time takes minutes)"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$BUILD/src" \
    || die "pip install failed (see above); check network access to the package index, then run this again"

# --- collectors, symlinks, conf ----------------------------------------------------------
mkdir -p "$PREFIX/collectors" "$PREFIX/conf.d" "$MODULES_DIR" "$CONFIG_DIR/python.d"
install -m 0644 "$REPO"/collectors/*.py "$PREFIX/collectors/"
for f in "$REPO"/conf.d/*.conf; do if [ -e "$f" ]; then install -m 0644 "$f" "$PREFIX/conf.d/"; fi; done
chmod -R a+rX "$PREFIX"
for f in "$PREFIX"/collectors/*.chart.py; do
    ln -sfn "$f" "$MODULES_DIR/$(basename "$f")"
    say "Linked $MODULES_DIR/$(basename "$f") -> $f"
done
NETDATA_GROUP=""
if getent group netdata >/dev/null; then NETDATA_GROUP=netdata; fi
for f in "$PREFIX"/conf.d/*.conf; do
    [ -e "$f" ] || continue
    dst="$CONFIG_DIR/python.d/$(basename "$f")"
    if [ -e "$dst" ]; then
        say "Keeping your $dst (not overwritten; the shipped default is $f)"
    else
        install -m 0640 "$f" "$dst"
        [ -z "$NETDATA_GROUP" ] || chgrp "$NETDATA_GROUP" "$dst"
        say "Installed $dst"
    fi
done
# Health templates: ours replace the stock anomalies.conf of the old collector (same file name).
mkdir -p "$CONFIG_DIR/health.d"
for f in "$REPO"/health.d/*.conf; do
    dst="$CONFIG_DIR/health.d/$(basename "$f")"
    if [ -e "$dst" ] && ! cmp -s "$f" "$dst"; then
        say "Keeping your $dst (not overwritten; the shipped templates are $f)"
    else
        install -m 0644 "$f" "$dst"
        say "Installed the health templates $dst"
    fi
done
if [ ! -f "$CONFIG_DIR/python.d.conf" ]; then
    if [ -f "$STOCK_CONFIG_DIR/python.d.conf" ]; then
        cp "$STOCK_CONFIG_DIR/python.d.conf" "$CONFIG_DIR/python.d.conf"
    else
        printf 'enabled: yes\n' >"$CONFIG_DIR/python.d.conf"
    fi
fi
for name in "${MODULES[@]}"; do set_module "$name" yes; done
chmod g+r,o+r "$CONFIG_DIR/python.d.conf"
[ -z "$NETDATA_GROUP" ] || chgrp "$NETDATA_GROUP" "$CONFIG_DIR/python.d.conf"
say "Enabled ${MODULES[*]} in $CONFIG_DIR/python.d.conf"

# --- restart and check ---------------------------------------------------------------------
SINCE="$(date +%s)"
restart_agent
[ "$WAIT_S" -gt 0 ] 2>/dev/null || { say "Installed (not waiting for charts). Dashboard: $NETDATA_URL/"; exit 0; }
say "Waiting up to ${WAIT_S}s for anomaly charts on $NETDATA_URL (the first models need some history)"
if CHARTS="$(wait_for_charts "$SINCE")"; then
    say "Anomaly charts are live: $CHARTS"
    say "Dashboard: $NETDATA_URL/#menu_${CHARTS%%.*}"
    exit 0
fi
cat >&2 <<EOF
ERROR: no anomaly charts with data appeared on $NETDATA_URL within ${WAIT_S}s.
  Installed files are in place; to find out why:
  - look for 'anomalies' in the agent log: grep anomalies $LOG_DIR/error.log | tail
  - run the collector by hand in debug mode:
      sudo -u netdata NETDATA_USER_CONFIG_DIR=$CONFIG_DIR NETDATA_STOCK_CONFIG_DIR=$STOCK_CONFIG_DIR \\
        NETDATA_USER_PLUGINS_DIRS=$USER_PLUGINS_DIR $PLUGIN ${MODULES[0]} debug trace nolock
  - the first training needs some minutes of history: waiting longer
    (NETDATA_ANOMALIES_WAIT=600 $0) may be all it takes.
EOF
exit 1
