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
# KAFKA_KEEP_DATA=1 (restart on the existing log directory),
# KAFKA_SECURITY=sasl_ssl (clients and brokers on a SASL_SSL listener with
# SCRAM-SHA-256 instead of PLAINTEXT: the test CA and the broker's certificate
# made with openssl in DIR/tls (ca.pem is the clients' ssl.ca.location), the
# SCRAM user KAFKA_SCRAM_USER (incidentd) with KAFKA_SCRAM_PASSWORD (random)
# created by the storage tool's --add-scram; both in DIR/scram, mode 600).
# The jars, ports, formatting and start-up are deploy/kafka-lib.sh's, shared
# with deploy/kafka-cluster.sh (three nodes).
set -euo pipefail

KAFKA_TOOL=kafka.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/kafka-lib.sh
. "$HERE/kafka-lib.sh"
SECURITY=${KAFKA_SECURITY:-plaintext}

usage() {
    echo "usage: $0 {start|stop|status} [DIR] | $0 fetch" >&2
    exit 2
}

# The pid of the broker whose state is in $DIR, if it runs ("" otherwise).
running_pid() { node_pid "$DIR/kafka.pid" "$DIR/server.properties"; }

address() { cat "$DIR/address" 2>/dev/null || true; }

# The CA and the broker's certificate (PEM; the key PKCS#8, no password) in
# $DIR/tls, for KAFKA_SECURITY=sasl_ssl: valid for 127.0.0.1 and localhost.
make_tls() {
    local t=$DIR/tls
    command -v openssl >/dev/null 2>&1 || die "openssl not found (run deploy/dev.sh deps)"
    rm -rf "$t"
    mkdir -p "$t"
    chmod 700 "$t"
    {
        openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=incidentd test CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=keyCertSign,cRLSign" \
            -keyout "$t/ca.key" -out "$t/ca.pem" &&
            openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
                -keyout "$t/broker.key" -out "$t/broker.csr" &&
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' \
                >"$t/broker.ext" &&
            openssl x509 -req -in "$t/broker.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" \
                -CAcreateserial -days 7 -extfile "$t/broker.ext" -out "$t/broker.pem"
    } >"$t/openssl.log" 2>&1 || {
        cat "$t/openssl.log" >&2
        die "openssl could not make the certificates"
    }
    # Kafka's PEM key store: the private key, then the certificate chain.
    cat "$t/broker.key" "$t/broker.pem" >"$t/broker-keystore.pem"
}

# A random password (letters and digits: safe in a JAAS line).
random_password() { head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9'; }

# The SCRAM users of KAFKA_SECURITY=sasl_ssl: "admin" (the broker itself,
# between brokers) and $KAFKA_SCRAM_USER (default incidentd) with
# $KAFKA_SCRAM_PASSWORD (default random); kept in $DIR/scram (mode 600).
make_scram() {
    local user=${KAFKA_SCRAM_USER:-incidentd} pass=${KAFKA_SCRAM_PASSWORD:-}
    [[ -n $pass ]] || pass=$(random_password)
    [[ $user =~ ^[A-Za-z0-9._-]+$ && $pass =~ ^[A-Za-z0-9._-]+$ ]] ||
        die "KAFKA_SCRAM_USER and KAFKA_SCRAM_PASSWORD: letters, digits, . _ - only"
    (
        umask 077
        printf 'admin=%s\nuser=%s\npassword=%s\n' "$(random_password)" "$user" "$pass" >"$DIR/scram"
    )
}

scram_get() { sed -n "s/^$1=//p" "$DIR/scram"; }

# The kcat options of the readiness check on a secured listener.
security_kcat_opts() {
    KCAT_OPTS=()
    if [[ $SECURITY == sasl_ssl ]]; then
        KCAT_OPTS=(-X security.protocol=SASL_SSL -X sasl.mechanisms=SCRAM-SHA-256
            -X "sasl.username=$(scram_get user)" -X "sasl.password=$(scram_get password)"
            -X "ssl.ca.location=$DIR/tls/ca.pem")
    fi
}

# The listeners: PLAINTEXT, or (KAFKA_SECURITY=sasl_ssl) SASL_SSL with
# SCRAM-SHA-256 for clients and between brokers; the controller's own
# listener stays on loopback in plain text.
write_listeners() {
    local port=$1 cport=$2
    if [[ $SECURITY != sasl_ssl ]]; then
        cat <<EOF
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
EOF
        return
    fi
    cat <<EOF
listeners=SASL_SSL://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=SASL_SSL://127.0.0.1:$port
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-256
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(scram_get admin)";
ssl.keystore.type=PEM
ssl.keystore.location=$DIR/tls/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$DIR/tls/ca.pem
ssl.client.auth=none
EOF
}

write_config() {
    local port=$1 cport=$2
    {
        cat <<EOF
# Written by deploy/kafka.sh: single-node KRaft test broker ($SECURITY).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
controller.listener.names=CONTROLLER
EOF
        write_listeners "$port" "$cport"
        log_props "$DIR/data" 1 1 1
        echo "num.io.threads=4"
    } >"$DIR/server.properties"
    chmod 600 "$DIR/server.properties"
    write_log4j "$DIR"
}

# Formats $DIR/data for a new cluster (with the SCRAM users when secured).
format_data() {
    local scram=()
    if [[ $SECURITY == sasl_ssl ]]; then
        scram=(--add-scram "SCRAM-SHA-256=[name=admin,password=$(scram_get admin)]"
            --add-scram "SCRAM-SHA-256=[name=$(scram_get user),password=$(scram_get password)]")
    fi
    format_node "$DIR" "$(cluster_uuid)" "${scram[@]}"
}

do_start() {
    local pid addr port cport t0
    [[ $SECURITY == plaintext || $SECURITY == sasl_ssl ]] ||
        die "KAFKA_SECURITY must be plaintext or sasl_ssl, not '$SECURITY'"
    pid=$(running_pid)
    if [[ -n $pid ]]; then
        addr=$(address)
        [[ -f $DIR/scram ]] && SECURITY=sasl_ssl
        security_kcat_opts
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
    if [[ $SECURITY == sasl_ssl && ($keep == 0 || ! -f $DIR/scram) ]]; then
        make_tls
        make_scram
    elif [[ $SECURITY == plaintext ]]; then
        rm -rf "$DIR/tls" "$DIR/scram"
    fi
    security_kcat_opts
    if [[ -n ${KAFKA_PORT:-} && -n ${KAFKA_CONTROLLER_PORT:-} ]]; then
        port=$KAFKA_PORT
        cport=$KAFKA_CONTROLLER_PORT
    else
        read -r port cport < <(free_ports 2)
    fi
    [[ $port =~ ^[0-9]+$ && $cport =~ ^[0-9]+$ ]] || die "could not pick free ports"
    write_config "$port" "$cport"
    if [[ $keep == 0 ]]; then
        format_data
    fi
    addr=127.0.0.1:$port
    pid=$(launch_node "$DIR" "${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}")
    echo "$addr" >"$DIR/address"
    log "started pid $pid ($SECURITY), waiting for $addr (up to ${START_TIMEOUT}s)"
    wait_ready "$DIR" "$pid" "$addr" 0 do_stop
    log "ready at $addr after $((SECONDS - t0))s"
    echo "$addr"
}

do_stop() {
    local pid
    pid=$(running_pid)
    if [[ -z $pid ]]; then
        rm -f "$DIR/kafka.pid"
        log "not running ($DIR)"
        return 0
    fi
    log "stopping pid $pid"
    stop_pid "$pid"
    rm -f "$DIR/kafka.pid"
    log "stopped"
}

do_status() {
    local pid addr
    pid=$(running_pid)
    addr=$(address)
    [[ -f $DIR/scram ]] && SECURITY=sasl_ssl
    security_kcat_opts
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
