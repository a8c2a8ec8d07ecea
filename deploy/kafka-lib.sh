#!/usr/bin/env bash
# deploy/kafka-lib.sh — what deploy/kafka.sh (one broker) and
# deploy/kafka-cluster.sh (three nodes) share: the Kafka 3.9.1 jars from Maven
# Central, cached once; free ports; the log4j file; formatting a log
# directory; launching a node's JVM; readiness; stopping a pid.
#
# Sourced, never run. Owned by the test bed (deploy/). The caller sets
# KAFKA_TOOL (its name, for messages) before sourcing; every function runs in
# the caller's shell (@locality: the sourcing script).
#
# Environment: INCIDENTD_CACHE (cache root), KAFKA_START_TIMEOUT (seconds, 90),
# KAFKA_STOP_TIMEOUT (30).

# shellcheck disable=SC2034  # KAFKA_VERSION, LIB, ... are the callers'
KAFKA_VERSION=3.9.1
KAFKA_LIB_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$KAFKA_LIB_HERE/.." && pwd)
CACHE=${INCIDENTD_CACHE:-${HOME:-/tmp}/.cache/incidentd}/kafka-$KAFKA_VERSION
LIB=$CACHE/lib
POM=$KAFKA_LIB_HERE/kafka/pom.xml
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
KAFKA_TOOL=${KAFKA_TOOL:-kafka-lib.sh}
# Extra kcat options of the readiness check (a secured listener's settings).
KCAT_OPTS=()

log() { printf '%s: %s\n' "$KAFKA_TOOL" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# N free TCP ports on 127.0.0.1 (held open together, so they differ).
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

# The pid in file $1 if it is a broker of server.properties $2 ("" otherwise).
node_pid() {
    local pid
    [[ -f $1 ]] || return 0
    pid=$(cat "$1" 2>/dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    [[ -r /proc/$pid/cmdline ]] || return 0
    if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "kafka.Kafka $2"; then
        echo "$pid"
    fi
}

# Ready when a metadata request succeeds (kcat), else when the port accepts.
# With $2, ready only once the cluster lists that many brokers.
broker_ready() {
    local addr=$1 want=${2:-0} md
    if command -v kcat >/dev/null 2>&1; then
        md=$(kcat -b "$addr" "${KCAT_OPTS[@]}" -L -m 5 2>/dev/null) || return 1
        ((want == 0)) || grep -q "^ $want brokers:" <<<"$md"
    else
        port_open "${addr##*:}"
    fi
}

# log4j.properties of a node in directory $1: warnings and errors, to a file.
write_log4j() {
    cat >"$1/log4j.properties" <<L4J
# Written by $KAFKA_TOOL: warnings and errors only, to a file.
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$1/kafka.log
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
L4J
}

# The storage and replication properties of a test broker (one node, or a
# node of the cluster), for its server.properties: log_props DATA_DIR
# PARTITIONS REPLICATION MIN_ISR.
log_props() {
    cat <<EOF
log.dirs=$1
num.partitions=$2
default.replication.factor=$3
min.insync.replicas=$4
offsets.topic.replication.factor=$3
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=$3
transaction.state.log.min.isr=$4
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
log.retention.hours=24
log.segment.bytes=16777216
num.network.threads=2
EOF
}

# A new cluster id.
cluster_uuid() {
    local uuid
    uuid=$(java -cp "$LIB/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    [[ -n $uuid ]] || die "kafka.tools.StorageTool random-uuid failed"
    echo "$uuid"
}

# Formats the log directory of the node in $1 (server.properties) for
# cluster $2; further arguments go to the storage tool (--add-scram ...).
format_node() {
    local dir=$1 uuid=$2
    shift 2
    if ! java -Dlog4j.configuration="file:$dir/log4j.properties" -cp "$LIB/*" \
        kafka.tools.StorageTool format -t "$uuid" -c "$dir/server.properties" "$@" \
        >"$dir/format.log" 2>&1; then
        cat "$dir/format.log" >&2
        die "formatting the log directory of $dir failed"
    fi
}

# Launches the node of directory $1 in the background (its own session) with
# heap $2; writes $1/kafka.pid and prints the pid.
launch_node() {
    local dir=$1 heap=$2 pid
    # shellcheck disable=SC2086  # the heap is a list of JVM flags
    setsid java $heap -XX:+UseG1GC \
        -Djava.awt.headless=true -Dkafka.logs.dir="$dir" \
        -Dlog4j.configuration="file:$dir/log4j.properties" \
        -cp "$LIB/*" kafka.Kafka "$dir/server.properties" \
        </dev/null >"$dir/kafka.out" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/kafka.pid"
    echo "$pid"
}

# Waits until the node $2 (pid) in directory $1 answers at $3 (with $4
# brokers in the cluster when given); on failure shows its logs, calls the
# function named $5 (a stop) and dies.
wait_ready() {
    local dir=$1 pid=$2 addr=$3 want=${4:-0} on_fail=${5:-true} deadline
    deadline=$((SECONDS + START_TIMEOUT))
    while ! broker_ready "$addr" "$want"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$dir/kafka.out" "$dir/kafka.log" >&2 2>/dev/null || true
            rm -f "$dir/kafka.pid"
            die "the broker exited during start-up (logs in $dir)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "$dir/kafka.out" "$dir/kafka.log" >&2 2>/dev/null || true
            "$on_fail"
            die "the broker did not answer within ${START_TIMEOUT}s (logs in $dir)"
        fi
        sleep 0.5
    done
}

# Stops pid $1: SIGTERM, bounded wait, then SIGKILL.
stop_pid() {
    local pid=$1 deadline
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
}
