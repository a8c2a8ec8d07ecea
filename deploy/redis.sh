#!/usr/bin/env bash
# deploy/redis.sh — a real redis-server on a free localhost port, for the test bed.
#
#   deploy/redis.sh start  [DIR]   start (or reuse) the server whose state is in DIR;
#                                  prints redis://127.0.0.1:PORT/0 as the last stdout line
#   deploy/redis.sh stop   [DIR]   stop it: SIGTERM, bounded wait, then SIGKILL
#   deploy/redis.sh status [DIR]   exit 0 and print the URL if it runs, else exit 3
#
#   deploy/redis.sh ha-start  [DIR]  high availability: a primary (DIR/primary), one
#                                    replica (DIR/replica) and three redis-sentinel
#                                    (DIR/sentinel-{1,2,3}) on free ports; waits until
#                                    the Sentinels agree on the primary and see the
#                                    replica and each other; writes DIR/env and prints it
#   deploy/redis.sh ha-stop   [DIR]  stop them all (Sentinels first)
#   deploy/redis.sh ha-status [DIR]  print DIR/env and the primary the Sentinels name
#
# DIR (default <repo>/testbed/redis, <repo>/testbed/redis-ha for ha-*) holds
# the pid file, the log and the data of each server.
# By default nothing is persisted (--save "" --appendonly no);
# INCIDENTD_REDIS_PERSIST=1 turns the append-only file on.
# REDIS_PORT picks a fixed port instead of a free one (start: e.g. to bring
# a killed member of the HA set back on its port).
# REDIS_TLS=1 (start, status): TLS only (rediss://), with a test CA and a
# server certificate for 127.0.0.1, ::1 and localhost made by openssl in
# DIR/tls (ca.crt is what clients trust: redis.tls_ca).
# REDIS_ACL_USER and REDIS_ACL_PASSWORD (start, status): an ACL user with
# every right, and the default user off (so only that user gets in); the
# same variables let this script's own checks in.
# REDIS_HA_MASTER (incidentd), REDIS_HA_DOWN_AFTER_MS (1000) and
# REDIS_HA_FAILOVER_TIMEOUT_MS (3000) are the Sentinels' master name,
# down-after-milliseconds and failover-timeout. DIR/env holds
#   INCIDENTD_TEST_REDIS_HA_SENTINELS=127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3
#   INCIDENTD_TEST_REDIS_HA_MASTER=incidentd
#   INCIDENTD_TEST_REDIS_HA_DIR=DIR
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
    echo "usage: $0 {start|stop|status|ha-start|ha-stop|ha-status} [DIR]" >&2
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
    # Only our server: redis-server (or redis-sentinel) listening on this DIR's port.
    if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -Eq "redis-(server|sentinel) 127.0.0.1:$port"; then
        echo "$pid"
    fi
}

url() {
    if [[ ${REDIS_TLS:-0} == 1 ]]; then
        echo "rediss://127.0.0.1:$1/0"
    else
        echo "redis://127.0.0.1:$1/0"
    fi
}

# A test CA and a server certificate in $DIR/tls (kept once made).
make_certs() {
    local t=$DIR/tls
    [[ -f $t/server.crt && -f $t/ca.crt ]] && return 0
    command -v openssl >/dev/null 2>&1 || die "openssl not found"
    mkdir -p "$t"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=incidentd test CA" \
        -keyout "$t/ca.key" -out "$t/ca.crt" >/dev/null 2>&1 || die "openssl: CA"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$t/server.key" -out "$t/server.csr" >/dev/null 2>&1 || die "openssl: request"
    printf 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n' >"$t/san.ext"
    openssl x509 -req -in "$t/server.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" -CAcreateserial \
        -days 30 -extfile "$t/san.ext" -out "$t/server.crt" >/dev/null 2>&1 || die "openssl: sign"
    chmod 600 "$t/ca.key" "$t/server.key"
}

# redis-cli at port $1, as REDIS_ACL_USER when set.
rcli() {
    local port=$1
    shift
    if [[ ${REDIS_TLS:-0} == 1 ]]; then
        set -- --tls --cacert "$DIR/tls/ca.crt" "$@"
    fi
    if [[ -n ${REDIS_ACL_USER:-} ]]; then
        REDISCLI_AUTH=${REDIS_ACL_PASSWORD:-} redis-cli -h 127.0.0.1 -p "$port" --user "$REDIS_ACL_USER" "$@"
    else
        redis-cli -h 127.0.0.1 -p "$port" "$@"
    fi
}

pong() { [[ $(rcli "$1" ping 2>/dev/null) == PONG ]]; }

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
    local acl=() listen=(--port "$port")
    if [[ ${REDIS_TLS:-0} == 1 ]]; then
        make_certs
        listen=(--port 0 --tls-port "$port" --tls-cert-file "$DIR/tls/server.crt"
            --tls-key-file "$DIR/tls/server.key" --tls-ca-cert-file "$DIR/tls/ca.crt"
            --tls-auth-clients no)
    fi
    if [[ -n ${REDIS_ACL_USER:-} ]]; then
        acl=(--user default off --user "$REDIS_ACL_USER" on ">${REDIS_ACL_PASSWORD:-}" '~*' '&*' '+@all')
    fi
    # Also on ::1 when the machine has IPv6 ("-": skipped if it cannot be
    # bound), so that the tests can reach it as redis://[::1]:PORT/0.
    redis-server --bind 127.0.0.1 -::1 "${listen[@]}" --dir "$DIR/data" \
        --daemonize yes --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" \
        --protected-mode yes "${persist[@]}" "${acl[@]}" "${EXTRA_ARGS[@]}" </dev/null >/dev/null 2>&1 ||
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


# ---- high availability: primary + replica + three Sentinels -----------------

EXTRA_ARGS=()
HA_MASTER=${REDIS_HA_MASTER:-incidentd}

# Starts a redis-sentinel in $DIR watching 127.0.0.1:$1; prints its port.
sentinel_start() {
    local primary=$1 port deadline
    command -v redis-sentinel >/dev/null 2>&1 || die "redis-sentinel not found (run deploy/dev.sh deps)"
    mkdir -p "$DIR/data"
    rm -f "$DIR/redis.pid"
    port=${REDIS_PORT:-$(free_port)}
    echo "$port" >"$DIR/port"
    # Sentinel rewrites its configuration file: one per Sentinel, in DIR.
    cat >"$DIR/sentinel.conf" <<CONF
port $port
bind 127.0.0.1
daemonize yes
pidfile $DIR/redis.pid
logfile $DIR/redis.log
dir $DIR/data
sentinel monitor $HA_MASTER 127.0.0.1 $primary 2
sentinel down-after-milliseconds $HA_MASTER ${REDIS_HA_DOWN_AFTER_MS:-1000}
sentinel failover-timeout $HA_MASTER ${REDIS_HA_FAILOVER_TIMEOUT_MS:-3000}
sentinel parallel-syncs $HA_MASTER 1
CONF
    redis-sentinel "$DIR/sentinel.conf" </dev/null >/dev/null 2>&1 ||
        die "redis-sentinel failed to start (log: $DIR/redis.log)"
    deadline=$((SECONDS + START_TIMEOUT))
    until pong "$port" && [[ -n $(running_pid) ]]; do
        ((SECONDS < deadline)) || die "redis-sentinel did not answer within ${START_TIMEOUT}s"
        sleep 0.1
    done
    echo "$port"
}

# The value of FIELD in `SENTINEL master` at Sentinel port $1 ("" if none).
sentinel_field() {
    redis-cli -p "$1" sentinel master "$HA_MASTER" 2>/dev/null |
        awk -v f="$2" 'prev == f { print; exit } { prev = $0 }'
}

ha_start() {
    local top=$DIR p_port r_port s ports=() deadline ok
    if [[ -f $top/env ]] && ha_status >/dev/null 2>&1; then
        log "already running ($top)"
        cat "$top/env"
        return 0
    fi
    ha_stop >/dev/null 2>&1 || true
    DIR=$top/primary
    mkdir -p "$DIR"
    p_port=$(do_start | tail -n 1 | sed 's|.*:\([0-9]*\)/0$|\1|')
    DIR=$top/replica
    mkdir -p "$DIR"
    EXTRA_ARGS=(--replicaof 127.0.0.1 "$p_port")
    r_port=$(do_start | tail -n 1 | sed 's|.*:\([0-9]*\)/0$|\1|')
    EXTRA_ARGS=()
    for s in 1 2 3; do
        DIR=$top/sentinel-$s
        mkdir -p "$DIR"
        ports+=("$(sentinel_start "$p_port")")
    done
    DIR=$top
    # Ready when every Sentinel names the primary, knows the replica and
    # the two other Sentinels (a failover needs their quorum).
    deadline=$((SECONDS + START_TIMEOUT))
    while :; do
        ok=1
        for s in "${ports[@]}"; do
            [[ $(sentinel_field "$s" num-slaves) == 1 && $(sentinel_field "$s" num-other-sentinels) == 2 ]] || ok=0
        done
        ((ok)) && break
        ((SECONDS < deadline)) || die "the Sentinels did not see the replica and each other within ${START_TIMEOUT}s"
        sleep 0.2
    done
    printf 'INCIDENTD_TEST_REDIS_HA_SENTINELS=%s\nINCIDENTD_TEST_REDIS_HA_MASTER=%s\nINCIDENTD_TEST_REDIS_HA_DIR=%s\n' \
        "$(printf '127.0.0.1:%s,' "${ports[@]}" | sed 's/,$//')" "$HA_MASTER" "$top" >"$top/env.tmp"
    mv "$top/env.tmp" "$top/env"
    log "HA set ready: primary port $p_port, replica port $r_port, sentinels ${ports[*]}"
    cat "$top/env"
}

ha_stop() {
    local top=$DIR m rc=0
    for m in sentinel-1 sentinel-2 sentinel-3 replica primary; do
        if [[ -d $top/$m ]]; then
            DIR=$top/$m
            do_stop || rc=1
            rm -rf "$DIR/data"
        fi
    done
    DIR=$top
    rm -f "$top/env"
    return "$rc"
}

ha_status() {
    local s
    [[ -f $DIR/env ]] || {
        log "not running ($DIR/env missing)"
        return 3
    }
    cat "$DIR/env"
    s=$(sed -n 's/^INCIDENTD_TEST_REDIS_HA_SENTINELS=127.0.0.1:\([0-9]*\).*/\1/p' "$DIR/env")
    redis-cli -p "$s" sentinel get-master-addr-by-name "$HA_MASTER" 2>/dev/null | paste -sd: >&2 || return 3
    [[ -n $(redis-cli -p "$s" ping 2>/dev/null) ]] || return 3
}

cmd=${1:-}
[[ -n $cmd ]] || usage
case $cmd in
ha-*) DIR=${2:-$REPO/testbed/redis-ha} ;;
*) DIR=${2:-$REPO/testbed/redis} ;;
esac
if [[ $cmd == *stop || $cmd == *status ]] && [[ ! -d $DIR ]]; then
    log "not running ($DIR does not exist)"
    [[ $cmd == *stop ]] && exit 0
    exit 3
fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

case $cmd in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
ha-start) ha_start ;;
ha-stop) ha_stop ;;
ha-status) ha_status ;;
*) usage ;;
esac
