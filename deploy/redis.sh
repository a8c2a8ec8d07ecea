#!/usr/bin/env bash
# deploy/redis.sh — a real redis-server on a free localhost port, for the test bed.
#
#   deploy/redis.sh start  [DIR]   start (or reuse) the server whose state is in DIR;
#                                  prints redis://127.0.0.1:PORT/0 as the last stdout line
#   deploy/redis.sh stop   [DIR]   stop it: SIGTERM, bounded wait, then SIGKILL
#   deploy/redis.sh status [DIR]   exit 0 and print the URL if it runs, else exit 3
#
# DIR (default <repo>/testbed/redis) holds the pid file, the log and the data.
# By default nothing is persisted (--save "" --appendonly no);
# INCIDENTD_REDIS_PERSIST=1 turns the append-only file on.
# REDIS_PORT picks a fixed port instead of a free one.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
START_TIMEOUT=${REDIS_START_TIMEOUT:-30}
STOP_TIMEOUT=${REDIS_STOP_TIMEOUT:-15}

log() { printf 'redis.sh: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    echo "usage: $0 {start|stop|status} [DIR]" >&2
    exit 2
}

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
        return
    fi
    local p tries=0
    while ((tries < 200)); do
        tries=$((tries + 1))
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    die "found no free port"
}

# The pid of the server whose state is in $DIR, if it runs ("" otherwise).
running_pid() {
    local pid port
    [[ -f $DIR/redis.pid && -f $DIR/port ]] || return 0
    pid=$(cat "$DIR/redis.pid" 2>/dev/null || true)
    port=$(cat "$DIR/port" 2>/dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    [[ -r /proc/$pid/cmdline ]] || return 0
    # Only our server: redis-server listening on this DIR's port.
    if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "redis-server 127.0.0.1:$port"; then
        echo "$pid"
    fi
}

url() { echo "redis://127.0.0.1:$1/0"; }

pong() { [[ $(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]; }

do_start() {
    local pid port persist deadline
    pid=$(running_pid)
    if [[ -n $pid ]]; then
        port=$(cat "$DIR/port")
        if pong "$port"; then
            log "already running (pid $pid) on port $port"
            url "$port"
            return 0
        fi
        log "pid $pid does not answer; restarting it"
        do_stop
    fi
    command -v redis-server >/dev/null 2>&1 || die "redis-server not found (run deploy/dev.sh deps)"
    command -v redis-cli >/dev/null 2>&1 || die "redis-cli not found (run deploy/dev.sh deps)"
    mkdir -p "$DIR/data"
    rm -f "$DIR/redis.pid" "$DIR/port"
    if [[ -f $DIR/redis.log ]]; then mv -f "$DIR/redis.log" "$DIR/redis.log.prev"; fi
    port=${REDIS_PORT:-$(free_port)}
    [[ $port =~ ^[0-9]+$ ]] || die "could not pick a free port"
    persist=(--save "" --appendonly no)
    if [[ ${INCIDENTD_REDIS_PERSIST:-0} == 1 ]]; then
        persist=(--save "" --appendonly yes --appendfsync everysec)
    fi
    echo "$port" >"$DIR/port"
    # Also on ::1 when the machine has IPv6 ("-": skipped if it cannot be
    # bound), so that the tests can reach it as redis://[::1]:PORT/0.
    redis-server --bind 127.0.0.1 -::1 --port "$port" --dir "$DIR/data" \
        --daemonize yes --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" \
        --protected-mode yes "${persist[@]}" </dev/null >/dev/null 2>&1 ||
        die "redis-server failed to start (log: $DIR/redis.log)"
    deadline=$((SECONDS + START_TIMEOUT))
    while ! pong "$port"; do
        if grep -q 'aborting' "$DIR/redis.log" 2>/dev/null; then
            tail -n 5 "$DIR/redis.log" >&2
            rm -f "$DIR/redis.pid"
            die "redis-server exited during start-up (log: $DIR/redis.log)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 20 "$DIR/redis.log" >&2 2>/dev/null || true
            do_stop
            die "redis-server did not answer PING within ${START_TIMEOUT}s"
        fi
        sleep 0.1
    done
    # The pid file is written just after the server starts listening.
    deadline=$((SECONDS + 5))
    while [[ -z $(running_pid) ]] && ((SECONDS < deadline)); do
        sleep 0.1
    done
    [[ -n $(running_pid) ]] || die "redis-server answers but its pid file $DIR/redis.pid is missing"
    log "ready on port $port (pid $(running_pid))"
    url "$port"
}

do_stop() {
    local pid deadline
    pid=$(running_pid)
    if [[ -z $pid ]]; then
        rm -f "$DIR/redis.pid"
        log "not running ($DIR)"
        return 0
    fi
    log "stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid still there after ${STOP_TIMEOUT}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$DIR/redis.pid"
    log "stopped"
}

do_status() {
    local pid port
    pid=$(running_pid)
    if [[ -n $pid ]]; then
        port=$(cat "$DIR/port")
        if pong "$port"; then
            log "running (pid $pid)"
            url "$port"
            return 0
        fi
        log "pid $pid runs but does not answer on port $port"
    else
        log "not running ($DIR)"
    fi
    return 3
}

cmd=${1:-}
[[ -n $cmd ]] || usage
DIR=${2:-$REPO/testbed/redis}
if [[ $cmd == stop || $cmd == status ]] && [[ ! -d $DIR ]]; then
    log "not running ($DIR does not exist)"
    [[ $cmd == stop ]] && exit 0
    exit 3
fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

case $cmd in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
*) usage ;;
esac
