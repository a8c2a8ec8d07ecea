#!/usr/bin/env bash
# deploy/testbed.sh — the integration test bed: a real Kafka broker and a real
# redis-server, with their state under DIR.
#
#   deploy/testbed.sh up   DIR [KAFKA]  start what is missing and write DIR/env
#   deploy/testbed.sh down DIR          stop what `up` started, remove DIR/env
#   deploy/testbed.sh status DIR        print DIR/env and whether the parts answer
#
# KAFKA is what Kafka the bed runs: "single" (default: one PLAINTEXT broker,
# deploy/kafka.sh), "cluster" (three KRaft nodes, deploy/kafka-cluster.sh, for
# the high-availability tests) or "sasl_ssl" (one broker on a SASL_SSL
# listener with SCRAM-SHA-256, deploy/kafka.sh KAFKA_SECURITY=sasl_ssl).
#
# DIR/env holds KEY=VALUE lines (read by tests/testutil.c; mode 600):
#   INCIDENTD_TEST_BROKERS=127.0.0.1:PORT[,...]
#   INCIDENTD_TEST_REDIS=redis://127.0.0.1:PORT/0
#   INCIDENTD_TEST_CLUSTER_DIR=DIR/kafka-cluster            (cluster: its state)
#   INCIDENTD_TEST_KAFKA_<PROP>=VALUE                         (sasl_ssl: the clients'
#     security.protocol, sasl.mechanisms, sasl.username, sasl.password, ssl.ca.location)
# A setting already given in the environment (INCIDENTD_TEST_BROKERS for a
# single broker, INCIDENTD_TEST_REDIS) is used as it is, and that part is not
# started (nor stopped by `down`). Both commands are idempotent; CTest runs
# them as the "testbed", "hatestbed" and "securetestbed" fixtures
# (tests/CMakeLists.txt).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf 'testbed.sh: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    echo "usage: $0 up DIR [single|cluster|sasl_ssl] | $0 {down|status} DIR" >&2
    exit 2
}

# Stops the parts that this DIR records as started by us.
down() {
    local rc=0
    if [[ -f $DIR/started.kafka ]] || [[ -f $DIR/kafka/kafka.pid ]]; then
        "$HERE/kafka.sh" stop "$DIR/kafka" || rc=1
    fi
    if [[ -f $DIR/started.kafka-cluster ]]; then
        "$HERE/kafka-cluster.sh" down "$DIR/kafka-cluster" || rc=1
    fi
    if [[ -f $DIR/started.redis ]] || [[ -f $DIR/redis/redis.pid ]]; then
        "$HERE/redis.sh" stop "$DIR/redis" || rc=1
    fi
    # The data is temporary; the logs stay for a post-mortem.
    rm -rf "$DIR/kafka/data" "$DIR/redis/data" "$DIR"/kafka-cluster/node*/data
    rm -f "$DIR/env" "$DIR/started.kafka" "$DIR/started.kafka-cluster" "$DIR/started.redis"
    return "$rc"
}

# The sasl_ssl broker's client settings, as INCIDENTD_TEST_KAFKA_* lines.
secure_env() {
    local k=$DIR/kafka
    printf 'INCIDENTD_TEST_KAFKA_SECURITY_PROTOCOL=sasl_ssl\n'
    printf 'INCIDENTD_TEST_KAFKA_SASL_MECHANISMS=SCRAM-SHA-256\n'
    printf 'INCIDENTD_TEST_KAFKA_SASL_USERNAME=%s\n' "$(sed -n 's/^user=//p' "$k/scram")"
    printf 'INCIDENTD_TEST_KAFKA_SASL_PASSWORD=%s\n' "$(sed -n 's/^password=//p' "$k/scram")"
    printf 'INCIDENTD_TEST_KAFKA_SSL_CA_LOCATION=%s\n' "$k/tls/ca.pem"
}

up() {
    local brokers=${INCIDENTD_TEST_BROKERS:-} redis=${INCIDENTD_TEST_REDIS:-} t0=$SECONDS extra=""
    # If anything below fails, leave nothing running.
    UP_DONE=0
    trap 'if [[ $UP_DONE != 1 ]]; then log "start-up failed: stopping what was started"; down || true; fi' EXIT
    if [[ $KIND == cluster ]]; then
        touch "$DIR/started.kafka-cluster"
        brokers=$("$HERE/kafka-cluster.sh" up "$DIR/kafka-cluster" | tail -n 1)
        [[ -n $brokers ]] || die "kafka-cluster.sh printed no address"
        extra="INCIDENTD_TEST_CLUSTER_DIR=$DIR/kafka-cluster"$'\n'
    elif [[ $KIND == sasl_ssl ]]; then
        touch "$DIR/started.kafka"
        brokers=$(KAFKA_SECURITY=sasl_ssl "$HERE/kafka.sh" start "$DIR/kafka" | tail -n 1)
        [[ -n $brokers ]] || die "kafka.sh printed no address"
        extra=$(secure_env)$'\n'
    elif [[ -n $brokers ]]; then
        log "using INCIDENTD_TEST_BROKERS=$brokers from the environment"
    else
        touch "$DIR/started.kafka"
        brokers=$("$HERE/kafka.sh" start "$DIR/kafka" | tail -n 1)
        [[ -n $brokers ]] || die "kafka.sh printed no address"
    fi
    if [[ -n $redis ]]; then
        log "using INCIDENTD_TEST_REDIS=$redis from the environment"
    else
        touch "$DIR/started.redis"
        redis=$("$HERE/redis.sh" start "$DIR/redis" | tail -n 1)
        [[ -n $redis ]] || die "redis.sh printed no URL"
    fi
    (
        umask 077
        printf 'INCIDENTD_TEST_BROKERS=%s\nINCIDENTD_TEST_REDIS=%s\n%s' "$brokers" "$redis" "$extra" >"$DIR/env.tmp"
    )
    mv "$DIR/env.tmp" "$DIR/env"
    UP_DONE=1
    log "up ($KIND) in $((SECONDS - t0))s; settings in $DIR/env"
    grep -v PASSWORD "$DIR/env"
}

status() {
    local rc=0
    if [[ -f $DIR/env ]]; then
        grep -v PASSWORD "$DIR/env"
    else
        log "no $DIR/env: the test bed is not up"
        rc=3
    fi
    if [[ -f $DIR/started.kafka ]]; then "$HERE/kafka.sh" status "$DIR/kafka" >/dev/null || rc=3; fi
    if [[ -f $DIR/started.kafka-cluster ]]; then
        "$HERE/kafka-cluster.sh" status "$DIR/kafka-cluster" >/dev/null || rc=3
    fi
    if [[ -f $DIR/started.redis ]]; then "$HERE/redis.sh" status "$DIR/redis" >/dev/null || rc=3; fi
    return "$rc"
}

cmd=${1:-}
[[ -n $cmd && -n ${2:-} ]] || usage
DIR=$2
KIND=${3:-single}

case $cmd in
up)
    [[ $KIND == single || $KIND == cluster || $KIND == sasl_ssl ]] || usage
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    up
    ;;
down)
    if [[ ! -d $DIR ]]; then
        log "nothing to stop ($DIR does not exist)"
        exit 0
    fi
    DIR=$(cd "$DIR" && pwd)
    down
    log "down"
    ;;
status)
    [[ -d $DIR ]] || {
        log "not up ($DIR does not exist)"
        exit 3
    }
    DIR=$(cd "$DIR" && pwd)
    status
    ;;
*) usage ;;
esac
