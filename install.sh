#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# install.sh: install the netdata-anomalies python.d collectors into the local Netdata agent.
#
# Usage, as root (a root shell runs it as it is; otherwise: sudo ./install.sh ...), from a checkout:
#   ./install.sh              install or upgrade (safe to run again), restart netdata and wait until
#                             the anomaly charts show up
#   ./install.sh --lean       the same with only what the default models (pca, zscore) need: numpy,
#                             pandas, netdata-pandas; run ./install.sh again to add the other models' libraries
#   ./install.sh --uninstall  remove the product and its saved models; your conf files are left in place
#   ./install.sh --restart    only restart the agent (after editing a conf), however it was started
#   ./install.sh --help       show this help
#
# What it does: installs netdata (Debian family, apt) if missing, builds a venv with the python
# that python.d.plugin runs, pip-installs this repo into it, copies collectors/*.chart.py next to
# it and symlinks them into the agent's user python.d modules dir, copies conf.d/*.conf into the
# agent's python.d config dir (never overwriting yours), enables the modules in python.d.conf, and
# puts the dashboard's text for the anomaly sections (web/netdata-anomalies.js) into the agent's web dir,
# named in netdata.conf as [web] custom dashboard_info.js (unless you name a file of your own there).
#
# Restarting the agent: it finds the netdata agent that listens on NETDATA_URL's port or runs with
# $NETDATA_CONFIG_DIR/netdata.conf (no other netdata process is touched), stops it and its plugins, and
# starts it again the way it was started: its systemd unit, the init script whose pid file names it, or
# else the same command line, working dir and environment (an agent in the foreground, -D, is started
# detached, its output to its log dir). If none runs, it starts one. Then it waits until exactly one
# agent answers on the port before it looks for the charts.
#
# Environment overrides:
#   NETDATA_ANOMALIES_PREFIX  install prefix (venv, collectors)         [/opt/netdata-anomalies]
#   NETDATA_CONFIG_DIR        netdata config dir (netdata.conf, python.d.conf)      [/etc/netdata]
#   NETDATA_USER_PLUGINS_DIR  user plugins dir; modules go to its python.d/
#                             [2nd entry of "[directories] plugins" in netdata.conf,
#                              else $NETDATA_CONFIG_DIR/custom-plugins.d]
#   NETDATA_URL               agent API address                   [http://127.0.0.1:19999]
#   NETDATA_RESTART_CMD       command that restarts the agent, instead of finding it as above
#   NETDATA_ANOMALIES_WAIT    seconds to wait for the anomaly charts (0: don't wait)    [180]
#   NETDATA_WEB_DIR           the agent's web files        ["[directories] web" of netdata.conf,
#                                                            else /usr/share/netdata/web]
#   NETDATA_ANOMALIES_BIN_DIR where the `netdata-anomalies` command is linked   [/usr/local/bin]
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
BIN_DIR="${NETDATA_ANOMALIES_BIN_DIR:-/usr/local/bin}"
BIN_DIR="${BIN_DIR%/}"
COMMAND=netdata-anomalies

say() { printf '==> %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '3,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

# Value of an uncommented "key = value" line in [section] of netdata.conf (or of file $3; empty if none).
netdata_conf_get() {
    local file="${3:-$CONFIG_DIR/netdata.conf}"
    [ -r "$file" ] || return 0
    awk -v s="$1" -v k="$2" '
        /^[[:space:]]*\[/ { t = $0; gsub(/[][[:space:]]/, "", t); in_s = (t == s); next }
        in_s && $0 ~ "^[[:space:]]*" k "[[:space:]]*=" { sub(/^[^=]*=[[:space:]]*/, ""); print; exit }
    ' "$file"
}
# Nth word of a netdata list value such as: "/usr/lib/netdata/plugins.d" "/etc/netdata/custom-plugins.d"
nth_word() { printf '%s\n' "$2" | xargs -n1 2>/dev/null | sed -n "${1}p"; }
# Set "key = value" in [section] of netdata.conf: the key's line there (commented or not) is replaced, else
# the line ends the section, else the section is appended. The file keeps its owner and mode.
netdata_conf_set() {
    local file="$CONFIG_DIR/netdata.conf"
    [ -f "$file" ] || : >"$file"
    awk -v s="$1" -v k="$2" -v v="$3" '
        function flush() { if (in_s && !done) { print "\t" k " = " v; done = 1 } }
        /^[[:space:]]*\[/ { flush(); t = $0; gsub(/[][[:space:]]/, "", t); in_s = (t == s); print; next }
        in_s && !done && index($0, k) && $0 ~ "^[[:space:]#]*" k "[[:space:]]*=" { print "\t" k " = " v; done = 1; next }
        { print }
        END { flush(); if (!done) { print "[" s "]"; print "\t" k " = " v } }
    ' "$file" >"$file.tmp" && cat "$file.tmp" >"$file" && rm -f "$file.tmp"
}
# Remove "key = value" from [section] of netdata.conf if it has exactly that value.
netdata_conf_unset() {
    local file="$CONFIG_DIR/netdata.conf"
    [ -f "$file" ] || return 0
    awk -v s="$1" -v k="$2" -v v="$3" '
        /^[[:space:]]*\[/ { t = $0; gsub(/[][[:space:]]/, "", t); in_s = (t == s) }
        in_s && $0 ~ "^[[:space:]]*" k "[[:space:]]*=" { x = $0; sub(/^[^=]*=[[:space:]]*/, "", x); if (x == v) next }
        { print }
    ' "$file" >"$file.tmp" && cat "$file.tmp" >"$file" && rm -f "$file.tmp"
}

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

# --- the running agent ---------------------------------------------------------------------------------
# The agent is the netdata main process (not its spawn server nor any other child of a netdata process)
# that listens on NETDATA_URL's port or runs with our netdata.conf. Other netdata agents on this machine
# (other ports and configs) are never touched.
DEFAULT_CONF=/etc/netdata/netdata.conf  # the agent's built-in -c (Debian's systemd unit and init script)
STOP_WAIT_S=60    # after SIGTERM, before SIGKILL
START_WAIT_S=180  # for the agent to answer after it was started

# Port of NETDATA_URL (80 or 443 if it names none).
url_port() {
    local authority="${NETDATA_URL#*://}"
    authority="${authority%%/*}"
    authority="${authority##*@}"
    case "$authority" in
        *\]:*|[!\[]*:*) printf '%s\n' "${authority##*:}" ;;
        *) case "$NETDATA_URL" in https://*) echo 443 ;; *) echo 80 ;; esac ;;
    esac
}

# The fields of /proc/$1/stat after "pid (comm) " in the array STAT (0: state, 1: parent pid, 19: start time).
read_stat() {
    local line
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
    read -r -a STAT <<<"${line##*) }"
}
parent_of() { local -a STAT; read_stat "$1" && printf '%s\n' "${STAT[1]}"; }
# "pid:starttime" of process $1 (nothing if it is gone, or a zombie: dead, not yet reaped by its parent).
process_id() {
    local -a STAT
    if read_stat "$1" && [ "${STAT[0]}" != Z ]; then printf '%s:%s\n' "$1" "${STAT[19]}"; fi
}

# "pid ppid starttime" of every process (read with bash builtins: no command run per process).
process_table() {
    local dir
    local -a STAT
    for dir in /proc/[0-9]*; do
        if read_stat "${dir#/proc/}"; then printf '%s %s %s\n' "${dir#/proc/}" "${STAT[1]}" "${STAT[19]}"; fi
    done
}

# "pid:starttime" of every descendant of process $1 (its plugins and their children).
descendants() {
    process_table | awk -v root="$1" '
        { parent[$1] = $2; start[$1] = $3 }
        END { for (p in parent) for (q = parent[p]; q > 1; q = parent[q]) if (q == root) { print p ":" start[p]; break } }'
}

is_netdata() {
    local exe
    exe="$(readlink "/proc/$1/exe" 2>/dev/null)" || return 1
    exe="${exe% (deleted)}"
    [ "${exe##*/}" = netdata ]
}

# The netdata main process that process $1 is or descends from (nothing if none).
netdata_main_of() {
    local pid="$1" parent
    while [ "$pid" -gt 1 ] 2>/dev/null; do
        parent="$(parent_of "$pid")" || return 0
        if is_netdata "$pid" && ! is_netdata "$parent"; then printf '%s\n' "$pid"; return 0; fi
        pid="$parent"
    done
}

# Every netdata main process on this machine.
netdata_mains() {
    local dir
    find /proc/[0-9]*/exe -maxdepth 0 \( -lname '*/netdata' -o -lname '*/netdata (deleted)' \) -printf '%h\n' 2>/dev/null \
        | while read -r dir; do
        if ! is_netdata "$(parent_of "${dir#/proc/}" || echo 0)"; then printf '%s\n' "${dir#/proc/}"; fi
    done
}

# The netdata.conf process $1 runs with (its -c, else netdata's default), as an absolute path.
conf_of() {
    local conf="" i
    local -a args
    mapfile -d '' -t args <"/proc/$1/cmdline" 2>/dev/null || return 1
    for ((i = 1; i < ${#args[@]}; i++)); do
        case "${args[i]}" in
            -c) conf="${args[i + 1]:-}"; i=$((i + 1)) ;;
            -c?*) conf="${args[i]#-c}" ;;
        esac
    done
    conf="${conf:-$DEFAULT_CONF}"
    case "$conf" in /*) ;; *) conf="$(readlink "/proc/$1/cwd")/$conf" ;; esac
    realpath -m "$conf"
}

# Processes with a listening TCP socket on port $1: /proc/net/tcp* names the sockets' inodes, the
# processes' fd links name theirs.
listening_pids() {
    local inode
    local -a match=()
    for inode in $(awk -v port="$(printf '%04X' "$1")" \
                       '$4 == "0A" { n = split($2, a, ":"); if (a[n] == port) print $10 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null); do
        match+=(-o -lname "socket:\\[$inode\\]")
    done
    [ "${#match[@]}" -gt 0 ] || return 0
    find /proc/[0-9]*/fd -mindepth 1 -maxdepth 1 \( "${match[@]:1}" \) -printf '%h\n' 2>/dev/null | cut -d/ -f3 | sort -un
}

# The agents to restart: netdata main processes serving the port or running with our netdata.conf.
agent_pids() {
    local pid
    {
        for pid in $(listening_pids "$AGENT_PORT"); do netdata_main_of "$pid"; done
        for pid in $(netdata_mains); do
            if [ "$(conf_of "$pid")" = "$AGENT_CONF" ]; then printf '%s\n' "$pid"; fi
        done
    } | sort -un
}

agent_answers() {
    "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/api/v1/info", timeout=5)' \
        "$NETDATA_URL" 2>/dev/null
}

# The systemd service whose main process is $1 (nothing if it is not one's).
systemd_unit_of() {
    local unit
    [ -d /run/systemd/system ] && command -v systemctl >/dev/null || return 0
    unit="$(sed -n 's|^[^:]*:[^:]*:.*/\([^/]*\.service\)$|\1|p;T;q' "/proc/$1/cgroup" 2>/dev/null)"
    if [ -n "$unit" ] && [ "$(systemctl show -p MainPID --value "$unit" 2>/dev/null)" = "$1" ]; then
        printf '%s\n' "$unit"
    fi
}

INIT_SCRIPT=/etc/init.d/netdata
init_script() {
    local -a command=("$INIT_SCRIPT" "$1")
    if command -v service >/dev/null; then command=(service netdata "$1"); fi
    say "Running ${command[*]}"
    "${command[@]}"
}
# Was process $1 started by the init script (its pid file names it)?
started_by_init_script() {
    local pidfile
    [ -x "$INIT_SCRIPT" ] || return 1
    pidfile="$(sed -n 's/^PIDFILE=//p;T;q' "$INIT_SCRIPT")"
    [ -n "$pidfile" ] && [ "$(cat "$pidfile" 2>/dev/null)" = "$1" ]
}

# Those of the processes named "pid:starttime" that still run (one a line): names a process even after its pid
# is reused.
still_running() {
    local id
    for id in "$@"; do
        if [ -n "$id" ] && [ "$(process_id "${id%%:*}")" = "$id" ]; then printf '%s\n' "$id"; fi
    done
}

# TERM the processes named "pid:starttime" (those still running), KILL those left after $1 seconds. TERM
# again every 5s: netdata misses one that comes while it starts (it blocks signals, then waits for the next).
terminate() {
    local wait_s="$1" id i
    shift
    local -a alive=("$@")
    for ((i = 0; i < wait_s * 2; i++)); do
        mapfile -t alive < <(still_running "${alive[@]}")
        [ "${#alive[@]}" -gt 0 ] || return 0
        if [ $((i % 10)) -eq 0 ]; then
            for id in "${alive[@]}"; do kill -TERM "${id%%:*}" 2>/dev/null || true; done
        fi
        sleep 0.5
    done
    for id in $(still_running "${alive[@]}"); do
        warn "pid ${id%%:*} did not stop within ${wait_s}s: killing it"
        kill -KILL "${id%%:*}" 2>/dev/null || true
    done
    for ((i = 0; i < 20; i++)); do
        [ -n "$(still_running "${alive[@]}")" ] || return 0
        sleep 0.5
    done
}

# How agent $1 was started: "systemd <unit>", "init" or "hand" (then AGENT_EXE, AGENT_ARGS, AGENT_CWD,
# AGENT_ENV and AGENT_LOG say how to start it again); said on stdout.
AGENT_HOW="" AGENT_EXE="" AGENT_CWD="" AGENT_LOG=""
AGENT_ARGS=() AGENT_ENV=()
inspect_agent() {
    local pid="$1" unit conf
    conf="$(conf_of "$pid")"
    unit="$(systemd_unit_of "$pid")"
    if [ -n "$unit" ]; then
        AGENT_HOW="systemd $unit"
        say "Found netdata pid $pid run by systemd ($unit); restarting it with systemctl"
    elif started_by_init_script "$pid"; then
        AGENT_HOW=init
        say "Found netdata pid $pid started by $INIT_SCRIPT; restarting it with it"
    else
        AGENT_HOW=hand
        mapfile -d '' -t AGENT_ARGS <"/proc/$pid/cmdline"
        mapfile -d '' -t AGENT_ENV <"/proc/$pid/environ"
        AGENT_EXE="$(readlink "/proc/$pid/exe")"
        AGENT_EXE="${AGENT_EXE% (deleted)}"  # upgraded since it started: the new binary
        AGENT_CWD="$(readlink "/proc/$pid/cwd")"
        AGENT_CWD="${AGENT_CWD% (deleted)}"
        AGENT_LOG="$(netdata_conf_get directories log "$conf")"
        AGENT_LOG="${AGENT_LOG:-/var/log/netdata}/stdout.log"
        say "Found netdata pid $pid started by hand: ${AGENT_ARGS[*]} (in $AGENT_CWD); restarting it the same way"
    fi
    if [ "$conf" != "$AGENT_CONF" ]; then
        warn "netdata pid $pid on port $AGENT_PORT runs with $conf, not $AGENT_CONF (NETDATA_CONFIG_DIR)"
    fi
}

# Stop agent $1 (started as $2) and make sure none of its plugins is left running.
stop_agent() {
    local pid="$1" how="$2" id
    local -a tree
    id="$(process_id "$pid")"
    mapfile -t tree < <(descendants "$pid")
    case "$how" in
        systemd\ *) systemctl stop "${how#systemd }" || warn "systemctl stop ${how#systemd } failed" ;;
        init) init_script stop || warn "$INIT_SCRIPT stop failed" ;;
    esac
    terminate "$STOP_WAIT_S" "$id"
    terminate 10 "${tree[@]}"
    say "Stopped netdata pid $pid and the ${#tree[@]} processes it had started"
}

start_agent() {
    local how="$1"
    case "$how" in
        systemd\ *)
            say "Starting netdata: systemctl start ${how#systemd }"
            systemctl start "${how#systemd }" || die "systemctl start ${how#systemd } failed; see: journalctl -u ${how#systemd }" ;;
        init) init_script start || die "$INIT_SCRIPT start failed; see $LOG_DIR/error.log" ;;
        hand)
            local -a command=("$AGENT_EXE" "${AGENT_ARGS[@]:1}")
            local arg foreground=no
            for arg in "${AGENT_ARGS[@]:1}"; do if [ "$arg" = -D ]; then foreground=yes; fi; done
            [ -w "$(dirname "$AGENT_LOG")" ] || AGENT_LOG=/dev/null
            if [ "$foreground" = yes ]; then
                say "Starting netdata in the background (setsid, output to $AGENT_LOG): ${command[*]}"
                (cd "$AGENT_CWD" 2>/dev/null || cd /
                 exec env -i "${AGENT_ENV[@]}" setsid "${command[@]}" </dev/null >>"$AGENT_LOG" 2>&1) &
            else
                say "Starting netdata: ${command[*]}"
                (cd "$AGENT_CWD" 2>/dev/null || cd /
                 exec env -i "${AGENT_ENV[@]}" "${command[@]}" </dev/null >>"$AGENT_LOG" 2>&1) \
                    || die "could not start ${command[*]}; see $LOG_DIR/error.log"
            fi ;;
    esac
}

# No agent runs: start one the way this system starts netdata (its service manager, for the default config).
start_new_agent() {
    if [ "$AGENT_CONF" = "$(realpath -m "$DEFAULT_CONF")" ]; then
        if [ -d /run/systemd/system ] && systemctl cat netdata.service >/dev/null 2>&1; then
            start_agent "systemd netdata.service"
            return
        elif [ -x "$INIT_SCRIPT" ]; then
            start_agent init
            return
        fi
    fi
    say "Starting netdata: $NETDATA_BIN -c $AGENT_CONF"
    "$NETDATA_BIN" -c "$AGENT_CONF" </dev/null >/dev/null 2>&1 || die "could not start $NETDATA_BIN; see $LOG_DIR/error.log"
}

# Wait until exactly one agent serves the port and our config, and answers.
wait_for_one_agent() {
    local deadline=$((SECONDS + START_WAIT_S))
    local -a pids=()
    while :; do
        mapfile -t pids < <(agent_pids)
        if [ "${#pids[@]}" -eq 1 ] && agent_answers; then
            say "netdata pid ${pids[0]} answers on $NETDATA_URL: the only agent on port $AGENT_PORT and with $AGENT_CONF"
            return 0
        fi
        [ "$SECONDS" -lt "$deadline" ] || break
        sleep 1
    done
    [ "${#pids[@]}" -le 1 ] || die "${#pids[@]} netdata agents serve port $AGENT_PORT or run with $AGENT_CONF \
(pids ${pids[*]}): stop all but one"
    die "no netdata agent answers on $NETDATA_URL ${START_WAIT_S}s after the restart; see $LOG_DIR/error.log"
}

restart_agent() {
    local pid first
    local -a pids on_port
    if [ -n "${NETDATA_RESTART_CMD:-}" ]; then
        say "Restarting netdata: $NETDATA_RESTART_CMD"
        bash -c "$NETDATA_RESTART_CMD" || die "NETDATA_RESTART_CMD failed: $NETDATA_RESTART_CMD"
        wait_for_one_agent
        return
    fi
    mapfile -t pids < <(agent_pids)
    if [ "${#pids[@]}" -eq 0 ]; then
        say "No netdata agent listens on port $AGENT_PORT or runs with $AGENT_CONF"
        start_new_agent
        wait_for_one_agent
        return
    fi
    for pid in "${pids[@]}"; do
        [ "$pid" -ne 1 ] || die "netdata is process 1 here (a container?): restart the container, or give \
the command that restarts it as NETDATA_RESTART_CMD"
    done
    # The one on the port says how to start again. More than one (say a second agent, started on the same
    # port and database by an init script that did not see the first): all of them stop, one starts.
    mapfile -t on_port < <(for pid in $(listening_pids "$AGENT_PORT"); do netdata_main_of "$pid"; done)
    first="${on_port[0]:-${pids[0]}}"
    if [ "${#pids[@]}" -gt 1 ]; then
        warn "${#pids[@]} netdata agents serve port $AGENT_PORT or run with $AGENT_CONF: stopping them all, starting one"
        for pid in "${pids[@]}"; do warn "  pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"; done
    fi
    inspect_agent "$first"
    for pid in "${pids[@]}"; do
        if [ "$pid" = "$first" ]; then stop_agent "$pid" "$AGENT_HOW"; else stop_agent "$pid" hand; fi
    done
    mapfile -t pids < <(agent_pids)
    [ "${#pids[@]}" -eq 0 ] || die "netdata (pids ${pids[*]}) is still running after it was stopped"
    start_agent "$AGENT_HOW"
    wait_for_one_agent
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
LEAN=no
for arg in "$@"; do
    case "$arg" in
        --uninstall) ACTION=uninstall ;;
        --restart) ACTION=restart ;;
        --lean) LEAN=yes ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown argument: $arg (see $0 --help)" ;;
    esac
done
[ "$ACTION" = install ] || [ "$LEAN" = no ] || die "--lean is an option of the install, not of --$ACTION"
[ "$(id -u)" -eq 0 ] || die "run as root (e.g. sudo $0${*:+ $*})"

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
AGENT_PORT="$(url_port)"
[[ "$AGENT_PORT" =~ ^[0-9]+$ ]] || die "cannot tell the port of NETDATA_URL=$NETDATA_URL"
AGENT_CONF="$(realpath -m "$CONFIG_DIR/netdata.conf")"
# the interpreter python.d.plugin runs (also what asks the agent's API here)
PY="$(head -n1 "$PLUGIN" 2>/dev/null | sed -n 's/^#![[:space:]]*\([^[:space:]]*python[0-9.]*\)[[:space:]]*$/\1/p')"
[ -n "$PY" ] && [ -x "$PY" ] || PY=/usr/bin/python3
mapfile -t MODULES < <(module_names)
[ "${#MODULES[@]}" -gt 0 ] || die "no collectors/*.chart.py in $REPO nor in $PREFIX/collectors"
WEB_DIR="${NETDATA_WEB_DIR:-$(netdata_conf_get directories web)}"
WEB_DIR="${WEB_DIR:-/usr/share/netdata/web}"
DASHBOARD_INFO=netdata-anomalies.js
DASHBOARD_KEY='custom dashboard_info.js'

if [ "$ACTION" = restart ]; then
    restart_agent
    say "Restarted."
    exit 0
fi

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
    if [ -e "$WEB_DIR/$DASHBOARD_INFO" ] && cmp -s "$REPO/web/$DASHBOARD_INFO" "$WEB_DIR/$DASHBOARD_INFO"; then
        rm -f "$WEB_DIR/$DASHBOARD_INFO" && say "Removed $WEB_DIR/$DASHBOARD_INFO"
    fi
    if [ "$(netdata_conf_get web "$DASHBOARD_KEY")" = "$DASHBOARD_INFO" ]; then
        netdata_conf_unset web "$DASHBOARD_KEY" "$DASHBOARD_INFO" && say "Removed [web] $DASHBOARD_KEY from netdata.conf"
    fi
    if [ -L "$BIN_DIR/$COMMAND" ] && [ "$(readlink "$BIN_DIR/$COMMAND")" = "$VENV/bin/$COMMAND" ]; then
        rm -f "$BIN_DIR/$COMMAND" && say "Removed $BIN_DIR/$COMMAND"
    fi
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
if [ "$LEAN" = yes ]; then
    PACKAGE="$BUILD/src"
    say "Installing the anomalies package into $VENV, lean: only what the default models pca and zscore need \
(pip; the first time takes a minute or two)"
else
    PACKAGE="$BUILD/src[full]"
    say "Installing the anomalies package and the libraries of every model into $VENV (pip; the first time \
takes minutes; --lean installs less)"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$PACKAGE" \
    || die "pip install failed (see above); check network access to the package index, then run this again"
# The look-back command (`netdata-anomalies report`), on PATH; a file of that name that is not our link stays.
if [ -e "$BIN_DIR/$COMMAND" ] && [ ! -L "$BIN_DIR/$COMMAND" ]; then
    warn "$BIN_DIR/$COMMAND exists and is not a link: left alone; the command is $VENV/bin/$COMMAND"
elif mkdir -p "$BIN_DIR" && ln -sfn "$VENV/bin/$COMMAND" "$BIN_DIR/$COMMAND"; then
    say "Linked $BIN_DIR/$COMMAND -> $VENV/bin/$COMMAND (netdata-anomalies report --help)"
else
    warn "could not link $BIN_DIR/$COMMAND; the command is $VENV/bin/$COMMAND"
fi

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
# The dashboard's text for the anomaly sections (the agent's own describes the old collector).
CUSTOM_INFO="$(netdata_conf_get web "$DASHBOARD_KEY")"
if [ -n "$CUSTOM_INFO" ] && [ "$CUSTOM_INFO" != "$DASHBOARD_INFO" ]; then
    say "Keeping your [web] $DASHBOARD_KEY = $CUSTOM_INFO (the anomaly sections' text is in $REPO/web/$DASHBOARD_INFO)"
elif [ -d "$WEB_DIR" ]; then
    install -m 0644 "$REPO/web/$DASHBOARD_INFO" "$WEB_DIR/$DASHBOARD_INFO"
    netdata_conf_set web "$DASHBOARD_KEY" "$DASHBOARD_INFO"
    say "Installed the dashboard text $WEB_DIR/$DASHBOARD_INFO ([web] $DASHBOARD_KEY in netdata.conf)"
else
    warn "no web directory $WEB_DIR: the dashboard keeps its stock text for the anomaly sections"
fi
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
say "Waiting up to ${WAIT_S}s for anomaly charts on $NETDATA_URL"
if CHARTS="$(wait_for_charts "$SINCE")"; then
    say "Anomaly charts are live: $CHARTS"
    say "Dashboard: $NETDATA_URL/#menu_${CHARTS%%.*}"
    say "The models warm up first: no flags before the agent has 15 minutes of history (min_train_secs,"
    say "warmup_n); meanwhile each section's anomaly-rate chart shows 'warming up'."
    exit 0
fi
RUN_AS="$(netdata_conf_get global 'run as user')"
RUN_AS="${RUN_AS:-netdata}"
cat >&2 <<EOF
ERROR: no anomaly charts with data appeared on $NETDATA_URL within ${WAIT_S}s.
  Installed files are in place; to find out why:
  - look for 'anomalies' in the agent log: grep anomalies $LOG_DIR/error.log | tail
  - run the collector by hand in debug mode (as root):
      runuser -u $RUN_AS -- env NETDATA_USER_CONFIG_DIR=$CONFIG_DIR NETDATA_STOCK_CONFIG_DIR=$STOCK_CONFIG_DIR \\
        ${LIB_DIR:+NETDATA_LIB_DIR=$LIB_DIR }NETDATA_USER_PLUGINS_DIRS=$USER_PLUGINS_DIR $PLUGIN ${MODULES[0]} debug trace nolock
  - the first training needs some minutes of history: waiting longer
    (NETDATA_ANOMALIES_WAIT=600 $0) may be all it takes.
EOF
exit 1
