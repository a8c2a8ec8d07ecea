#!/usr/bin/env bash
# deploy/kafka-cluster.sh — a real three-node Apache Kafka cluster (3.9.1,
# KRaft, each node a combined broker+controller) on free localhost ports, for
# the high-availability tests: every topic replicated three times, writes
# acknowledged by two in-sync replicas, so one node may die at any time.
#
#   deploy/kafka-cluster.sh up     DIR        format and start the three nodes; prints the
#                                             bootstrap list (host:port,...) as the last line
#   deploy/kafka-cluster.sh down   DIR        stop every node (SIGTERM, then SIGKILL)
#   deploy/kafka-cluster.sh kill   DIR NODE   SIGKILL node NODE (1..3), no clean-up
#   deploy/kafka-cluster.sh start  DIR NODE   start node NODE again on its data and ports
#   deploy/kafka-cluster.sh leader DIR        the node id of the active controller (the
#                                             KRaft quorum leader of the highest epoch)
#   deploy/kafka-cluster.sh status DIR        the bootstrap list and each node's pid; exit 3
#                                             when a node does not answer
#
# DIR/node<N>/ holds a node's server.properties, data and logs; DIR/ports its
# ports; DIR/address the bootstrap list. The jars, ports, formatting and
# start-up are deploy/kafka-lib.sh's (shared with deploy/kafka.sh), so the
# jars are downloaded once into the same cache. Owned by the test bed
# (deploy/testbed.sh starts it for `up DIR cluster`).
#
# Environment: INCIDENTD_CACHE, KAFKA_CLUSTER_HEAP_OPTS (default -Xms128m
# -Xmx384m per node: the machine is shared), KAFKA_START_TIMEOUT (seconds per
# wait, default 90), KAFKA_STOP_TIMEOUT (default 10).
set -euo pipefail

KAFKA_TOOL=kafka-cluster.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/kafka-lib.sh
. "$HERE/kafka-lib.sh"
NODES=3
HEAP=${KAFKA_CLUSTER_HEAP_OPTS:--Xms128m -Xmx384m}
# A test cluster's data is thrown away: `down` waits 10 s, not 30, for a
# clean stop before SIGKILL (nodes stopping together may wait on each other).
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-10}

usage() {
    echo "usage: $0 {up|down|leader|status} DIR | $0 {kill|start} DIR NODE" >&2
    exit 2
}

ndir() { echo "$DIR/node$1"; }
node_port() { sed -n "s/^port$1=//p" "$DIR/ports"; }
node_cport() { sed -n "s/^cport$1=//p" "$DIR/ports"; }
npid() { node_pid "$(ndir "$1")/kafka.pid" "$(ndir "$1")/server.properties"; }
address() { cat "$DIR/address" 2>/dev/null || true; }

check_node() {
    [[ $1 =~ ^[1-3]$ ]] || die "NODE must be 1, 2 or 3, not '$1'"
    [[ -f $DIR/ports ]] || die "no cluster in $DIR (run: $0 up $DIR)"
}

# Free ports for every node (client and controller), kept in DIR/ports so a
# restarted node comes back where the others expect it.
pick_ports() {
    local ports i
    read -r -a ports < <(free_ports $((2 * NODES)))
    ((${#ports[@]} == 2 * NODES)) || die "could not pick free ports"
    : >"$DIR/ports"
    for ((i = 1; i <= NODES; i++)); do
        printf 'port%d=%s\ncport%d=%s\n' "$i" "${ports[2 * i - 2]}" "$i" "${ports[2 * i - 1]}" >>"$DIR/ports"
    done
}

write_node_config() {
    local i=$1 d voters="" j
    d=$(ndir "$i")
    for ((j = 1; j <= NODES; j++)); do
        voters+="${voters:+,}$j@127.0.0.1:$(node_cport "$j")"
    done
    mkdir -p "$d"
    cat >"$d/server.properties" <<PROPS
# Written by deploy/kafka-cluster.sh: node $i of a three-node KRaft test cluster.
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(node_port "$i"),CONTROLLER://127.0.0.1:$(node_cport "$i")
advertised.listeners=PLAINTEXT://127.0.0.1:$(node_port "$i")
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
unclean.leader.election.enable=false
num.io.threads=2
num.replica.fetchers=1
PROPS
    log_props "$d/data" 3 3 2 >>"$d/server.properties"
    write_log4j "$d"
}

do_up() {
    local i uuid t0=$SECONDS addrs="" pid
    if [[ -f $DIR/ports ]]; then
        for ((i = 1; i <= NODES; i++)); do
            [[ -z $(npid "$i") ]] || die "node $i of $DIR runs already (down first)"
        done
    fi
    command -v java >/dev/null 2>&1 || die "java not found (run deploy/dev.sh deps)"
    fetch_jars
    rm -rf "$DIR"/node* "$DIR/address"
    pick_ports
    uuid=$(cluster_uuid)
    for ((i = 1; i <= NODES; i++)); do
        write_node_config "$i"
        format_node "$(ndir "$i")" "$uuid"
        addrs+="${addrs:+,}127.0.0.1:$(node_port "$i")"
    done
    for ((i = 1; i <= NODES; i++)); do
        pid=$(launch_node "$(ndir "$i")" "$HEAP")
        log "node $i: pid $pid at 127.0.0.1:$(node_port "$i")"
    done
    echo "$addrs" >"$DIR/address"
    for ((i = 1; i <= NODES; i++)); do
        wait_ready "$(ndir "$i")" "$(cat "$(ndir "$i")/kafka.pid")" "127.0.0.1:$(node_port "$i")" \
            "$NODES" do_down
    done
    log "up after $((SECONDS - t0))s: $addrs (controller leader: node $(do_leader))"
    echo "$addrs"
}

# All nodes at once: one by one, the last would wait for a quorum that is gone.
do_down() {
    local i pid pids=()
    for ((i = 1; i <= NODES; i++)); do
        pid=$(npid "$i")
        if [[ -n $pid ]]; then
            log "stopping node $i (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    for pid in "${pids[@]}"; do
        stop_pid "$pid"
    done
    for ((i = 1; i <= NODES; i++)); do
        rm -f "$(ndir "$i")/kafka.pid"
    done
}

do_kill() {
    local i=$1 pid
    check_node "$i"
    pid=$(npid "$i")
    [[ -n $pid ]] || die "node $i does not run"
    kill -KILL "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    rm -f "$(ndir "$i")/kafka.pid"
    log "node $i (pid $pid) killed"
}

do_start() {
    local i=$1 pid t0=$SECONDS
    check_node "$i"
    [[ -z $(npid "$i") ]] || die "node $i runs already"
    pid=$(launch_node "$(ndir "$i")" "$HEAP")
    wait_ready "$(ndir "$i")" "$pid" "127.0.0.1:$(node_port "$i")" "$NODES"
    log "node $i (pid $pid) back after $((SECONDS - t0))s"
}

# The active controller: each node's quorum-state file names the leader it
# knows and the epoch; the highest epoch among running nodes is current.
do_leader() {
    local i f epoch leader best=-1 id=""
    for ((i = 1; i <= NODES; i++)); do
        [[ -n $(npid "$i") ]] || continue
        f=$(ndir "$i")/data/__cluster_metadata-0/quorum-state
        [[ -f $f ]] || continue
        epoch=$(grep -o '"leaderEpoch":[0-9]*' "$f" | cut -d: -f2)
        leader=$(grep -o '"leaderId":-\{0,1\}[0-9]*' "$f" | cut -d: -f2)
        if [[ -n $epoch && -n $leader && $leader -ge 1 && $epoch -gt $best ]]; then
            best=$epoch
            id=$leader
        fi
    done
    [[ -n $id ]] || die "no controller leader known"
    echo "$id"
}

do_status() {
    local i pid rc=0
    [[ -f $DIR/ports ]] || {
        log "no cluster in $DIR"
        return 3
    }
    for ((i = 1; i <= NODES; i++)); do
        pid=$(npid "$i")
        if [[ -n $pid ]] && broker_ready "127.0.0.1:$(node_port "$i")"; then
            log "node $i: pid $pid at 127.0.0.1:$(node_port "$i")"
        else
            log "node $i: not answering"
            rc=3
        fi
    done
    address
    return "$rc"
}

cmd=${1:-}
[[ -n $cmd && -n ${2:-} ]] || usage
mkdir -p "$2"
DIR=$(cd "$2" && pwd)

case $cmd in
up) do_up ;;
down) do_down ;;
kill) do_kill "${3:-}" ;;
start) do_start "${3:-}" ;;
leader) do_leader ;;
status) do_status ;;
*) usage ;;
esac
