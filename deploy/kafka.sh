#!/usr/bin/env bash
# deploy/kafka.sh — a real single-node Apache Kafka broker (3.9.1, KRaft mode,
# combined broker+controller) on free localhost ports, for the test bed.
#
#   deploy/kafka.sh start  [DIR]   start (or reuse) the broker whose state is in DIR;
#                                  prints its bootstrap address as the last stdout line
#   deploy/kafka.sh stop   [DIR]   stop it: SIGTERM, bounded wait, then SIGKILL
#   deploy/kafka.sh status [DIR]   exit 0 and print the address if it runs, else exit 3
#   deploy/kafka.sh fetch          only make sure the jars are in the cache
#
# DIR defaults to <repo>/testbed/kafka. The jars come from Maven Central through
# deploy/kafka/pom.xml and are cached outside the repo, in
# ${INCIDENTD_CACHE:-$HOME/.cache/incidentd}/kafka-3.9.1/lib, so only the first
# start downloads. Topics are created automatically on first use
# (auto.create.topics.enable=true); clients can also create them with the Admin API.
#
# Environment: INCIDENTD_CACHE, KAFKA_HEAP_OPTS (default -Xms256m -Xmx512m),
# KAFKA_START_TIMEOUT (seconds, default 90), KAFKA_STOP_TIMEOUT (default 30),
# KAFKA_PORT / KAFKA_CONTROLLER_PORT (fixed ports instead of free ones),
# KAFKA_KEEP_DATA=1 (restart on the existing log directory).
set -euo pipefail

KAFKA_VERSION=3.9.1
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
CACHE=${INCIDENTD_CACHE:-${HOME:-/tmp}/.cache/incidentd}/kafka-$KAFKA_VERSION
LIB=$CACHE/lib
POM=$HERE/kafka/pom.xml
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    echo "usage: $0 {start|stop|status} [DIR] | $0 fetch" >&2
    exit 2
}

# Two free TCP ports on 127.0.0.1 (held open together, so they differ).
free_ports() {
    local n=$1
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$n" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
        return
    fi
    # Fallback without python3: random ports that nothing answers on.
    local ports=() p tries=0
    while ((${#ports[@]} < n && tries < 200)); do
        tries=$((tries + 1))
        p=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && [[ " ${ports[*]-} " != *" $p "* ]]; then
            ports+=("$p")
        fi
    done
    ((${#ports[@]} == n)) || die "found no free port"
    echo "${ports[*]}"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Downloads the jars once (under a lock, so concurrent starts do not race).
fetch_jars() {
    local stamp want
    want=$(sha256sum "$POM" | cut -d' ' -f1)
    stamp=$LIB/.complete
    if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
        return 0
    fi
    command -v mvn >/dev/null 2>&1 || die "mvn not found (run deploy/dev.sh deps)"
    mkdir -p "$CACHE"
    (
        flock -w 900 9 || die "timed out waiting for the lock on $CACHE"
        if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
            exit 0
        fi
        log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIB (once)"
        rm -rf "$LIB.tmp"
        mkdir -p "$LIB.tmp"
        if ! mvn -q -B -f "$POM" dependency:copy-dependencies \
            -DoutputDirectory="$LIB.tmp" >"$CACHE/mvn.log" 2>&1; then
            tail -n 40 "$CACHE/mvn.log" >&2
            die "mvn dependency:copy-dependencies failed (log: $CACHE/mvn.log)"
        fi
        [[ -f $LIB.tmp/kafka_2.13-$KAFKA_VERSION.jar ]] || die "kafka_2.13-$KAFKA_VERSION.jar missing after mvn"
        rm -rf "$LIB"
        mv "$LIB.tmp" "$LIB"
        echo "$want" >"$stamp"
    ) 9>"$CACHE/.lock"
}

# The pid of the broker whose state is in $DIR, if it runs ("" otherwise).
running_pid() {
    local pid
    [[ -f $DIR/kafka.pid ]] || return 0
    pid=$(cat "$DIR/kafka.pid" 2>/dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    [[ -r /proc/$pid/cmdline ]] || return 0
    # Only our broker: kafka.Kafka with this DIR's server.properties.
    if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "kafka.Kafka $DIR/server.properties"; then
        echo "$pid"
    fi
}

address() { cat "$DIR/address" 2>/dev/null || true; }

# Ready when a metadata request succeeds (kcat), else when the port accepts.
broker_ready() {
    local addr=$1
    if command -v kcat >/dev/null 2>&1; then
        kcat -b "$addr" -L -m 5 >/dev/null 2>&1
    else
        port_open "${addr##*:}"
    fi
}

write_config() {
    local port=$1 cport=$2
    cat >"$DIR/server.properties" <<EOF
# Written by deploy/kafka.sh: single-node KRaft test broker.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$DIR/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
log.retention.hours=24
log.segment.bytes=16777216
num.network.threads=2
num.io.threads=4
EOF
    cat >"$DIR/log4j.properties" <<EOF
# Written by deploy/kafka.sh: warnings and errors only, to a file.
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$DIR/kafka.log
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

do_start() {
    local pid addr port cport uuid t0 deadline
    pid=$(running_pid)
    if [[ -n $pid ]]; then
        addr=$(address)
        if [[ -n $addr ]] && broker_ready "$addr"; then
            log "already running (pid $pid) at $addr"
            echo "$addr"
            return 0
        fi
        log "pid $pid does not answer; restarting it"
        do_stop
    fi
    command -v java >/dev/null 2>&1 || die "java not found (run deploy/dev.sh deps)"
    fetch_jars
    t0=$SECONDS
    mkdir -p "$DIR"
    local keep=0
    # KAFKA_KEEP_DATA=1: a restart of the same broker (same ports, same log
    # directory), as in the broker-restart test.
    if [[ ${KAFKA_KEEP_DATA:-0} == 1 && -f $DIR/data/meta.properties ]]; then
        keep=1
    else
        rm -rf "$DIR/data"
    fi
    rm -f "$DIR/address" "$DIR/kafka.pid"
    if [[ -n ${KAFKA_PORT:-} && -n ${KAFKA_CONTROLLER_PORT:-} ]]; then
        port=$KAFKA_PORT
        cport=$KAFKA_CONTROLLER_PORT
    else
        read -r port cport < <(free_ports 2)
    fi
    [[ $port =~ ^[0-9]+$ && $cport =~ ^[0-9]+$ ]] || die "could not pick free ports"
    write_config "$port" "$cport"
    if [[ $keep == 0 ]]; then
        uuid=$(java -cp "$LIB/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
        [[ -n $uuid ]] || die "kafka.tools.StorageTool random-uuid failed"
        if ! java -Dlog4j.configuration="file:$DIR/log4j.properties" -cp "$LIB/*" \
            kafka.tools.StorageTool format -t "$uuid" -c "$DIR/server.properties" \
            >"$DIR/format.log" 2>&1; then
            cat "$DIR/format.log" >&2
            die "formatting the log directory failed"
        fi
    fi
    addr=127.0.0.1:$port
    # shellcheck disable=SC2086  # KAFKA_HEAP_OPTS is a list of JVM flags
    setsid java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -XX:+UseG1GC \
        -Djava.awt.headless=true -Dkafka.logs.dir="$DIR" \
        -Dlog4j.configuration="file:$DIR/log4j.properties" \
        -cp "$LIB/*" kafka.Kafka "$DIR/server.properties" \
        </dev/null >"$DIR/kafka.out" 2>&1 &
    pid=$!
    echo "$pid" >"$DIR/kafka.pid"
    echo "$addr" >"$DIR/address"
    log "started pid $pid, waiting for $addr (up to ${START_TIMEOUT}s)"
    deadline=$((SECONDS + START_TIMEOUT))
    while ! broker_ready "$addr"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$DIR/kafka.out" "$DIR/kafka.log" >&2 2>/dev/null || true
            rm -f "$DIR/kafka.pid"
            die "the broker exited during start-up (logs in $DIR)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "$DIR/kafka.out" "$DIR/kafka.log" >&2 2>/dev/null || true
            do_stop
            die "the broker did not answer within ${START_TIMEOUT}s (logs in $DIR)"
        fi
        sleep 0.5
    done
    log "ready at $addr after $((SECONDS - t0))s"
    echo "$addr"
}

do_stop() {
    local pid deadline
    pid=$(running_pid)
    if [[ -z $pid ]]; then
        rm -f "$DIR/kafka.pid"
        log "not running ($DIR)"
        return 0
    fi
    log "stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid still there after ${STOP_TIMEOUT}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 10))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.2
        done
    fi
    rm -f "$DIR/kafka.pid"
    log "stopped"
}

do_status() {
    local pid addr
    pid=$(running_pid)
    addr=$(address)
    if [[ -n $pid ]] && broker_ready "$addr"; then
        log "running (pid $pid)"
        echo "$addr"
        return 0
    fi
    if [[ -n $pid ]]; then
        log "pid $pid runs but does not answer at $addr"
    else
        log "not running ($DIR)"
    fi
    return 3
}

cmd=${1:-}
[[ -n $cmd ]] || usage
DIR=${2:-$REPO/testbed/kafka}
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
fetch) fetch_jars ;;
*) usage ;;
esac
